import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

import CLinux

@testable import CloudstorService

/// The real local provider: image files, loop devices, mkfs.ext4 and mount(2). Needs
/// root (the test machines and CI have it).
@Suite(.enabled(if: getuid() == 0, "loop devices and mount(2) need root; run the tests as root"), .serialized)
struct LoopImageBackendTests {
    let dir = "/tmp/cs-loop-\(UUID().uuidString.prefix(8))"

    @Test func imageAttachFormatMountAndAutoclear() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = LoopImageBackend(directory: dir, node: "node-1")
        let host = LinuxHost()
        let image = try await backend.create(name: "v", options: BlockOptions(values: ["size": "1"], sizeGiB: 1))
        #expect(image == "\(dir)/v")
        let attributes = try FileManager.default.attributesOfItem(atPath: image)
        #expect((attributes[.size] as? Int) == 1 << 30)
        #expect(try backend.attachedDevice(id: image) == nil)

        let mountpoint = "\(dir)/mnt"
        do {
            let attachment = try backend.attachImage(image)
            let device = try #require(attachment.device)
            #expect(device.hasPrefix("/dev/loop"))
            #expect(try backend.attachedDevice(id: image) == device)
            #expect(attachment.backingFile == image)
            #expect(try await host.filesystem(device: device) == nil)
            #expect(try await host.filesystem(device: image) == nil)
            try await host.makeFilesystem(device: device)
            // The image shows what was written through the device: either may be probed.
            #expect(try await host.filesystem(device: device) == "ext4")
            #expect(try await host.filesystem(device: image) == "ext4")
            try await host.mount(device: device, at: mountpoint)
        }
        #expect(try host.isMounted(mountpoint))
        try Data("kept".utf8).write(to: URL(fileURLWithPath: "\(mountpoint)/file"))
        // The filesystem is exactly the volume's size: the size is a real quota.
        var fs = statvfs()
        #expect(statvfs(mountpoint, &fs) == 0)
        let total = Int(fs.f_blocks) * Int(fs.f_frsize)
        #expect(total > 900 << 20 && total <= 1 << 30)

        try await host.unmount(mountpoint)
        try await backend.detach(id: image, from: "node-1", force: false)
        #expect(try !host.isMounted(mountpoint))
        #expect(try backend.attachedDevice(id: image) == nil)

        // Attached again, the filesystem and its data are found, not remade.
        do {
            let attachment = try backend.attachImage(image)
            let device = try #require(attachment.device)
            #expect(try await host.filesystem(device: device) == "ext4")
            try await host.mount(device: device, at: mountpoint)
        }
        #expect(try String(contentsOfFile: "\(mountpoint)/file", encoding: .utf8) == "kept")
        await #expect(throws: CloudstorError.self) { try await backend.remove(id: image) }
        try await host.unmount(mountpoint)
        try await backend.detach(id: image, from: "node-1", force: false)
        try await backend.remove(id: image)
        #expect(!FileManager.default.fileExists(atPath: image))
        try await backend.remove(id: image)  // idempotent
    }

    @Test func modifyGrowsTheImageAndNeverShrinksIt() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = LoopImageBackend(directory: dir, node: "node-1")
        let image = try await backend.create(name: "m", options: BlockOptions(values: ["size": "1"], sizeGiB: 1))
        let record = VolumeRecord(name: "m", backing: .relocatable, options: ["size": "1"], cloudID: image, createdAt: "")
        let done = try await backend.modify(record, to: BlockOptions(values: ["size": "3"], sizeGiB: 3))
        #expect(done.state == .completed && done.sizeInEffect)
        #expect(try await backend.describe(id: image, fresh: true)?.sizeGiB == 3)
        _ = try await backend.modify(record, to: BlockOptions(values: ["size": "2"], sizeGiB: 2))
        #expect(try await backend.describe(id: image, fresh: true)?.sizeGiB == 3)
    }

    @Test func aFilesystemShortOfItsDeviceGrowsToIt() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = "\(dir)/grow.img"
        let host = LinuxHost()
        #expect(FileManager.default.createFile(atPath: image, contents: nil))
        #expect(truncate(image, 1 << 30) == 0)
        try await host.makeFilesystem(device: image)
        #expect(try await host.growFilesystem(device: image) == false)
        #expect(truncate(image, 3 << 30) == 0)
        #expect(try await host.growFilesystem(device: image) == true)
        var fsBytes: UInt64 = 0
        var deviceBytes: UInt64 = 0
        #expect(clinux_ext4_sizes(image, &fsBytes, &deviceBytes) == 0)
        #expect(fsBytes == 3 << 30 && deviceBytes == 3 << 30)
        #expect(try await host.growFilesystem(device: image) == false)
        #expect(try await host.filesystem(device: image) == "ext4")
    }

    @Test func anAttachmentReleasedUnmountedLeavesNoLoopDevice() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = LoopImageBackend(directory: dir, node: "node-1")
        let image = try await backend.create(name: "w", options: BlockOptions(values: ["size": "1"], sizeGiB: 1))
        do {
            let attachment = try backend.attachImage(image)
            #expect(try backend.attachedDevice(id: image) == attachment.device)
        }
        // Autoclear: with its last descriptor closed and nothing mounted, the kernel
        // releases the device (asynchronously on some kernels: poll briefly).
        var attached = try backend.attachedDevice(id: image)
        for _ in 0..<100 where attached != nil {
            try await Task.sleep(for: .milliseconds(20))
            attached = try backend.attachedDevice(id: image)
        }
        #expect(attached == nil)
        try await backend.remove(id: image)
    }

    /// An image attached outside cloudstor (losetup) is found among the host's loop
    /// devices, and attaching it again gives that device, never a second one.
    @Test func anImageAttachedOutsideIsFoundNotAttachedTwice() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = LoopImageBackend(directory: dir, node: "node-1")
        let image = try await backend.create(name: "x", options: BlockOptions(values: ["size": "1"], sizeGiB: 1))
        let losetup = try await Command.run(Command.locate("losetup"), ["--find", "--show", image])
        #expect(losetup.status == 0)
        let outside = losetup.output.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = clinux_loop_detach(outside) }
        #expect(outside.hasPrefix("/dev/loop"))
        #expect(try backend.attachedDevice(id: image) == outside)
        #expect(try backend.attachImage(image).device == outside)
        try await backend.detach(id: image, from: "node-1", force: false)
        #expect(try backend.attachedDevice(id: image) == nil)
        try await backend.remove(id: image)
    }
}
