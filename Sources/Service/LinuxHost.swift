#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The real host: blkid and mkfs.ext4 as tools, mount(2) and umount2(2) directly.
public struct LinuxHost: NodeHost {
    private let blkid = Command.locate("blkid")
    private let mkfs = Command.locate("mkfs.ext4")

    public init() {}

    public func hasFilesystem(device: String) async throws -> Bool {
        // -p probes the device itself rather than a cache; exit 2 means nothing found.
        let result = try await Command.run(blkid, ["-p", "-o", "value", "-s", "TYPE", device])
        switch result.status {
        case 0: return true
        case 2: return false
        default:
            throw CloudstorError(.internalError, "blkid \(device) failed (exit \(result.status)): \(result.output)")
        }
    }

    public func makeFilesystem(device: String) async throws {
        // Lazy initialisation keeps mkfs of a large, sparse device quick.
        let result = try await Command.run(mkfs, ["-q", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", device])
        guard result.status == 0 else {
            throw CloudstorError(.internalError, "mkfs.ext4 \(device) failed (exit \(result.status)): \(result.output)")
        }
    }

    public func mount(device: String, at path: String) async throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CloudstorError(.internalError, "cannot create mount point \(path)", cause: error)
        }
        guard Glibc.mount(device, path, "ext4", 0, nil) == 0 else {
            let err = errno
            throw CloudstorError(.internalError, "mount \(device) at \(path): \(String(cString: strerror(err)))")
        }
    }

    public func unmount(_ path: String) async throws {
        guard try isMounted(path) else { return }
        // umount flushes the filesystem; a sync first makes the flush not depend on it.
        sync()
        guard umount2(path, 0) == 0 else {
            let err = errno
            if err == EINVAL { return }  // raced with another unmount: nothing is mounted
            let code: CloudstorError.Code = err == EBUSY ? .failedPrecondition : .internalError
            throw CloudstorError(code, "unmount \(path): \(String(cString: strerror(err)))")
        }
    }

    public func isMounted(_ path: String) throws -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else {
            throw CloudstorError(.internalError, "cannot read /proc/self/mountinfo")
        }
        return MountTable(mountinfo: table).mountPoints.contains(path)
    }
}

/// The mount points of /proc/self/mountinfo (field 5, octal escapes decoded).
struct MountTable {
    var mountPoints: Set<String>

    init(mountinfo: String) {
        var points = Set<String>()
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            if fields.count > 4 { points.insert(Self.unescape(fields[4])) }
        }
        mountPoints = points
    }

    /// The kernel writes space, tab, newline and backslash as \040, \011, \012, \134.
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var i = 0
        while i < raw.count {
            if raw[i] == 0x5C, i + 3 < raw.count,
                let value = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
