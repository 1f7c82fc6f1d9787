import Testing

@testable import CloudstorService

@Suite struct MountTableTests {
    @Test func readsMountPointsWithEscapes() {
        let info = """
            22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
            90 22 7:0 / /var/lib/cloudstor/mnt/v1 rw,relatime shared:50 - ext4 /dev/loop0 rw
            91 22 7:1 / /tmp/with\\040space\\134back rw - ext4 /dev/loop1 rw
            """
        let table = MountTable(mountinfo: info)
        #expect(table.mountPoints == ["/", "/var/lib/cloudstor/mnt/v1", "/tmp/with space\\back"])
    }

    @Test func leavesAStrayBackslashAlone() {
        #expect(MountTable.unescape("/a\\9") == "/a\\9")
        #expect(MountTable.unescape("/a\\") == "/a\\")
    }
}
