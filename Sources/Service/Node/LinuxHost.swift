#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CloudstorSupport
import FoundationEssentials

/// The real host: libblkid in process, mkfs.ext4 as a tool, mount(2), umount2(2) and the
/// FIFREEZE/FITHAW ioctls directly; attached volumes found under `deviceDirectory`.
public struct LinuxHost: NodeHost {
    private let mkfs = Command.locate("mkfs.ext4")
    private let resize2fs = Command.locate("resize2fs")
    private let e2fsck = Command.locate("e2fsck")
    private let fsfreeze = Command.locate("fsfreeze")
    private let mountTool = Command.locate("mount")
    /// Where device links named by serial live (`/dev/disk/by-id`).
    public let deviceDirectory: String
    /// Image files (device and inode) a whole probe found ext4.
    private let probedExt4 = FileSet()

    public init(deviceDirectory: String = "/dev/disk/by-id") {
        self.deviceDirectory = deviceDirectory
    }

    /// The kernel's id of the running boot; nil where there is none.
    public static func bootID() -> String? {
        procFile("/proc/sys/kernel/random/boot_id")?.trimmingWhitespace()
    }

    /// A /proc file read to its end. Its size says 0, and Foundation's
    /// `String(contentsOfFile:)` stops after the first page: on a host with more
    /// than ~4 KiB of mounts (any Docker host) mountinfo lost its last lines.
    static func procFile(_ path: String) -> String? {
        procBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of a /proc file, read to its end straight into the array.
    static func procBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var capacity = 16384
        while true {
            var failed = false
            bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while count < buffer.count {
                    let n = read(fd, buffer.baseAddress! + count, buffer.count - count)
                    if n > 0 {
                        count += n
                    } else if n == 0 {
                        return
                    } else if errno != EINTR {
                        failed = true
                        return
                    }
                }
            }
            if failed { return nil }
            // Filled: the file may go on, and a /proc file is read again from its start.
            guard bytes.count == capacity else { return bytes }
            capacity *= 4
            guard lseek(fd, 0, SEEK_SET) == 0 else { return nil }
        }
    }

    public func findDevice(_ names: [String]) async throws(CloudstorError) -> String {
        let paths = names.map { $0.hasPrefix("/") ? $0 : "\(deviceDirectory)/\($0)" }
        for _ in 0..<300 {
            for candidate in paths {
                if let resolved = Self.blockDevice(candidate) { return resolved }
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { break }
        }
        throw CloudstorError(
            .unavailable, "the volume is attached but no device for it appeared (looked for \(paths.joined(separator: " and "))); try again")
    }

    /// The resolved path if path leads to a block device.
    private static func blockDevice(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK else { return nil }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map {
            $0.hasPrefix("/") ? $0 : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent($0).standardized.path
        } ?? path
    }

    public func filesystem(device: String) async throws(CloudstorError) -> String? {
        // An image file found ext4 by a whole probe since this daemon started is
        // taken for ext4 again while its superblock magic is still there: one pread
        // instead of the ~90 syscalls of a probe (0.5 ms). Only "ext4" is kept, mkfs
        // is never decided from it, and mount(2) checks the filesystem all the same.
        // Not for block devices: after the next attach one name can be another volume.
        let image = Self.imageKey(device)
        if let image, probedExt4.contains(image) {
            if clinux_has_ext4_magic(device) == 1 { return "ext4" }
            probedExt4.remove(image)
        }
        // libblkid in process, as `blkid -p`: the device itself, not a cache; any
        // filesystem, RAID member or partition table counts (mkfs must not touch it).
        var type = [CChar](repeating: 0, count: 64)
        let found = clinux_probe_signature(device, &type, type.count)
        switch found {
        case 1:
            let name = String(decoding: type.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let image, name == "ext4" { probedExt4.insert(image) }
            return name
        case 0: return nil
        case -EUCLEAN:
            throw CloudstorError(.failedPrecondition, "\(device) holds signatures of more than one filesystem; refusing to guess which")
        default:
            throw CloudstorError(.internalError, "cannot probe \(device) for a filesystem: \(String(cString: strerror(-found)))")
        }
    }

    /// A regular file's device and inode; nil for anything else.
    private static func imageKey(_ path: String) -> FileSet.Key? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileSet.Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    public func makeFilesystem(device: String) async throws(CloudstorError) {
        // Lazy initialisation keeps mkfs of a large, sparse device quick.
        let result = try await Command.run(mkfs, ["-q", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", device])
        guard result.status == 0 else {
            throw CloudstorError(.internalError, "mkfs.ext4 \(device) failed (exit \(result.status)): \(result.output)")
        }
    }

    /// A filesystem may end short of its device by part of a block group; more than
    /// 64 MiB short is a larger volume.
    private func deviceExceedsFilesystem(_ device: String) throws(CloudstorError) -> Bool {
        var fsBytes: UInt64 = 0
        var deviceBytes: UInt64 = 0
        let found = clinux_ext4_sizes(device, &fsBytes, &deviceBytes)
        guard found == 0 else {
            throw CloudstorError(.internalError, "cannot read the sizes of \(device): \(String(cString: strerror(-found)))")
        }
        return deviceBytes > fsBytes + 64 << 20
    }

    public func growFilesystem(device: String) async throws(CloudstorError) -> Bool {
        // Offline, before the mount: growing a mounted filesystem needs CAP_SYS_RESOURCE,
        // which a managed plugin is not given.
        guard try deviceExceedsFilesystem(device) else { return false }
        // resize2fs refuses a filesystem not checked since its last mount. Exit 1:
        // errors corrected; anything more needs a person.
        let check = try await Command.run(e2fsck, ["-f", "-p", device])
        guard check.status <= 1 else {
            throw CloudstorError(
                .failedPrecondition, "e2fsck \(device) found errors it cannot correct alone (exit \(check.status)): \(check.output)")
        }
        let result = try await Command.run(resize2fs, [device])
        guard result.status == 0 else {
            throw CloudstorError(.internalError, "resize2fs \(device) failed (exit \(result.status)): \(result.output)")
        }
        return true
    }

    public func growMountedFilesystem(device: String) async throws(CloudstorError) -> Bool {
        guard try deviceExceedsFilesystem(device) else { return false }
        let result = try await Command.run(resize2fs, [device])
        guard result.status == 0 else {
            throw CloudstorError(.failedPrecondition, "resize2fs \(device) failed (exit \(result.status)): \(result.output)")
        }
        return true
    }

    public func mount(device: String, at path: String) async throws(CloudstorError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CloudstorError(.internalError, "cannot create mount point \(path)", cause: error)
        }
        guard Glibc.mount(device, path, "ext4", 0, nil) == 0 else {
            let err = errno
            rmdir(path)
            throw CloudstorError(.internalError, "mount \(device) at \(path): \(String(cString: strerror(err)))")
        }
    }

    public func mountNFS(_ source: String, at path: String, options: String) async throws(CloudstorError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CloudstorError(.internalError, "cannot create mount point \(path)", cause: error)
        }
        // mount(8) and its mount.nfs4 helper resolve the server and negotiate the version.
        let result = try await Command.run(mountTool, ["-t", "nfs4", "-o", options, source, path])
        guard result.status == 0 else {
            throw CloudstorError(
                .failedPrecondition, "mount -t nfs4 -o \(options) \(source) \(path) failed (exit \(result.status)): \(result.output)")
        }
    }

    public func unmount(_ path: String) async throws(CloudstorError) {
        if try isMounted(path) {
            // umount flushes the filesystem; a syncfs of it first makes the flush
            // not depend on that (and, unlike sync(2), waits for no other filesystem).
            _ = clinux_syncfs(path)
            if umount2(path, 0) != 0 {
                let err = errno
                // EINVAL: raced with another unmount, nothing is mounted.
                if err != EINVAL {
                    let code: CloudstorError.Code = err == EBUSY ? .failedPrecondition : .internalError
                    throw CloudstorError(code, "unmount \(path): \(String(cString: strerror(err)))")
                }
            }
        }
        // The empty mount point goes too; one that is not empty is left as found.
        rmdir(path)
    }

    public func mountPoints() throws(CloudstorError) -> Set<String> {
        MountTable(mountinfo: try Self.mountinfo()).mountPoints
    }

    public func isMounted(_ path: String) throws(CloudstorError) -> Bool {
        MountTable.contains(path, mountinfo: try Self.mountinfo())
    }

    private static func mountinfo() throws(CloudstorError) -> [UInt8] {
        guard let table = procBytes("/proc/self/mountinfo") else {
            throw CloudstorError(.internalError, "cannot read /proc/self/mountinfo")
        }
        return table
    }

    public func frozen<T: Sendable>(_ path: String, _ body: () async throws(CloudstorError) -> T) async throws(CloudstorError) -> T {
        let freeze = try await Command.run(fsfreeze, ["--freeze", path])
        guard freeze.status == 0 else {
            throw CloudstorError(.internalError, "fsfreeze --freeze \(path) failed (exit \(freeze.status)): \(freeze.output)")
        }
        let result: Result<T, CloudstorError>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        // Thawing must happen whatever the body did: a frozen filesystem blocks every writer.
        let thaw = try await Command.run(fsfreeze, ["--unfreeze", path])
        guard thaw.status == 0 else {
            throw CloudstorError(.internalError, "fsfreeze --unfreeze \(path) failed (exit \(thaw.status)): \(thaw.output)")
        }
        return try result.get()
    }

    public func thaw(_ path: String) async -> Bool {
        // fsfreeze --unfreeze of a filesystem that is not frozen fails (EINVAL): nothing to do.
        (try? await Command.run(fsfreeze, ["--unfreeze", path]))?.status == 0
    }
}

/// The mount points of /proc/self/mountinfo (field 5, octal escapes decoded).
struct MountTable {
    var mountPoints: Set<String>

    init(mountinfo: [UInt8]) {
        var points = Set<String>()
        Self.forEachMountPoint(mountinfo) { field in
            points.insert(Self.unescape(field))
            return true
        }
        mountPoints = points
    }

    /// Whether path is a mount point in mountinfo: compared as the kernel writes it
    /// (escaped), so that no line is decoded.
    static func contains(_ path: String, mountinfo: [UInt8]) -> Bool {
        let escaped = escape(path)
        var found = false
        forEachMountPoint(mountinfo) { field in
            found = field.elementsEqual(escaped)
            return !found
        }
        return found
    }

    /// Calls body with field 5 of each line, as written, while it returns true.
    private static func forEachMountPoint(_ table: [UInt8], _ body: (ArraySlice<UInt8>) -> Bool) {
        var line = table.startIndex
        while line < table.endIndex {
            let end = table[line...].firstIndex(of: UInt8(ascii: "\n")) ?? table.endIndex
            var field = 0
            var start = line
            var i = line
            while i < end {
                if table[i] == UInt8(ascii: " ") {
                    if field == 4 { break }
                    field += 1
                    start = i + 1
                }
                i += 1
            }
            if field == 4, !body(table[start..<i]) { return }
            line = end + 1
        }
    }

    /// A path as the kernel writes it in mountinfo.
    static func escape(_ path: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\\"):
                bytes += [UInt8(ascii: "\\"), 0x30 + (byte >> 6), 0x30 + ((byte >> 3) & 7), 0x30 + (byte & 7)]
            default:
                bytes.append(byte)
            }
        }
        return bytes
    }

    /// The kernel writes space, tab, newline and backslash as \040, \011, \012, \134.
    static func unescape(_ raw: ArraySlice<UInt8>) -> String {
        guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
        var bytes: [UInt8] = []
        var i = raw.startIndex
        while i < raw.endIndex {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.endIndex, let value = octal(raw[(i + 1)...(i + 3)]) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Three octal digits as a byte.
    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(digit) else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return UInt8(exactly: value)
    }
}
