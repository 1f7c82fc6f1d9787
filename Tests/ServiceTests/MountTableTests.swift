import Testing

@testable import CloudstorService

@Suite struct MountTableTests {
    @Test func readsMountPointsWithEscapes() {
        let info = """
            22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
            90 22 7:0 / /var/lib/cloudstor/mnt/v1 rw,relatime shared:50 - ext4 /dev/loop0 rw
            91 22 7:1 / /tmp/with\\040space\\134back rw - ext4 /dev/loop1 rw
            """
        let table = MountTable(mountinfo: Array(info.utf8))
        #expect(table.mountPoints == ["/", "/var/lib/cloudstor/mnt/v1", "/tmp/with space\\back"])
    }

    @Test func findsOnePathAsTheKernelWritesIt() {
        let info = Array(
            """
            22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
            91 22 7:1 / /tmp/with\\040space\\134back rw - ext4 /dev/loop1 rw
            92 22 7:2 / /tmp/tab\\011and\\012newline
            """.utf8)
        #expect(MountTable.contains("/", mountinfo: info))
        #expect(MountTable.contains("/tmp/with space\\back", mountinfo: info))
        #expect(MountTable.contains("/tmp/tab\tand\nnewline", mountinfo: info))
        #expect(!MountTable.contains("/tmp/with\\040space\\134back", mountinfo: info))
        #expect(!MountTable.contains("/tmp/with space", mountinfo: info))
        #expect(!MountTable.contains("/tmp", mountinfo: info))
        #expect(!MountTable.contains("/", mountinfo: Array("short line\n".utf8)))
        #expect(!MountTable.contains("", mountinfo: []))
    }

    @Test func leavesAStrayBackslashAlone() {
        #expect(MountTable.unescape(Array("/a\\9".utf8)[...]) == "/a\\9")
        #expect(MountTable.unescape(Array("/a\\".utf8)[...]) == "/a\\")
        #expect(MountTable.unescape(Array("/a\\777".utf8)[...]) == "/a\\777")
    }
}
