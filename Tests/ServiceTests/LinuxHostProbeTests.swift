import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import CloudstorService

/// What the probe says of an image file as it changes under it: an image once found
/// ext4 is never taken for ext4 once its superblock is gone (mkfs must then be
/// decided by a whole probe again).
@Suite struct LinuxHostProbeTests {
    let dir = "/tmp/cs-probe-\(UUID().uuidString.prefix(8))"

    @Test func anImageStopsBeingExt4WhenItsSuperblockGoes() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let host = LinuxHost()
        let image = "\(dir)/v"
        try Self.blank(image)
        #expect(try await host.filesystem(device: image) == nil)
        try await host.makeFilesystem(device: image)
        #expect(try await host.filesystem(device: image) == "ext4")
        #expect(try await host.filesystem(device: image) == "ext4")

        // The superblock wiped: blank again, as a whole probe says.
        let fd = open(image, O_WRONLY)
        #expect(fd >= 0)
        let zeros = [UInt8](repeating: 0, count: 1024)
        #expect(pwrite(fd, zeros, zeros.count, 1024) == 1024)
        close(fd)
        #expect(try await host.filesystem(device: image) == nil)

        // Made again, then replaced by a new blank file of the same name.
        try await host.makeFilesystem(device: image)
        #expect(try await host.filesystem(device: image) == "ext4")
        try FileManager.default.removeItem(atPath: image)
        try Self.blank(image)
        #expect(try await host.filesystem(device: image) == nil)
    }

    /// A sparse 64 MiB file.
    static func blank(_ path: String) throws {
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, 64 << 20) == 0)
    }
}
