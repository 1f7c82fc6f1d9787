import CLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The least a local Mount+Unmount can cost: the kernel's part of it alone, done
/// on the daemon's own image, as the daemon does it (a loop device that goes with
/// its last opener, an ext4 mount, a syncfs and an unmount), without a probe, a
/// ledger or an RPC.
struct KernelMount {
    let image: String
    let mountpoint: String

    init(image: String, at mountpoint: String) {
        self.image = image
        self.mountpoint = mountpoint
    }

    func cycle() throws {
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        var name = [CChar](repeating: 0, count: 64)
        let fd = clinux_loop_attach(image, &name, name.count)
        guard fd >= 0 else { throw BenchError("attach \(image): \(String(cString: strerror(-fd)))") }
        let device = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let mounted = mount(device, mountpoint, "ext4", 0, nil)
        let err = errno
        close(fd)
        guard mounted == 0 else { throw BenchError("mount \(device) at \(mountpoint): \(String(cString: strerror(err)))") }
        _ = clinux_syncfs(mountpoint)
        guard umount2(mountpoint, 0) == 0 else { throw BenchError("umount \(mountpoint): \(String(cString: strerror(errno)))") }
    }
}
