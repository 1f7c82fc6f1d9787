#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which one, on what, and errno.
struct SystemError: Error, CustomStringConvertible {
    var errno: Int32
    var operation: String

    var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// An open directory, and every operation on its entries by name relative to it
/// (`openat`, `mkdirat`, `renameat`, …). A name is one path component; symbolic
/// links are never followed, so nothing planted inside a directory can lead out of it.
final class DirectoryHandle: Sendable {
    enum Kind: Sendable { case directory, file, symlink, other }

    struct Entry: Sendable {
        var kind: Kind
        var device: UInt64
        var inode: UInt64
        var size: Int64 = 0
        /// Seconds since the epoch, as the file system's server set it.
        var modified: Double = 0
    }

    let descriptor: Int32
    /// For messages only.
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Opens a directory the operator named (it may itself be a symbolic link).
    static func open(_ path: String) throws(SystemError) -> DirectoryHandle {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(errno: errno, operation: "open \(path)") }
        return DirectoryHandle(descriptor: fd, path: path)
    }

    /// Opens a directory inside this one, making it first if asked.
    func directory(_ name: String, create: Bool = false, mode: mode_t = 0o755) throws(SystemError) -> DirectoryHandle {
        if create { _ = try makeDirectory(name, mode: mode) }
        let fd = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(errno: errno, operation: "open \(path)/\(name)") }
        return DirectoryHandle(descriptor: fd, path: "\(path)/\(name)")
    }

    /// Makes a directory; false if the name is taken (by anything).
    func makeDirectory(_ name: String, mode: mode_t = 0o755) throws(SystemError) -> Bool {
        guard mkdirat(descriptor, name, mode) == 0 else {
            if errno == EEXIST { return false }
            throw SystemError(errno: errno, operation: "mkdir \(path)/\(name)")
        }
        return true
    }

    /// What the name is, without following it; nil if there is nothing.
    func entry(_ name: String) throws(SystemError) -> Entry? {
        var info = stat()
        guard fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemError(errno: errno, operation: "stat \(path)/\(name)")
        }
        return Entry(
            kind: Self.kind(info.st_mode), device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Opens a file inside this one, never through a symbolic link; the caller
    /// closes the descriptor.
    func openFile(_ name: String, flags: Int32, mode: mode_t = 0o600) throws(SystemError) -> Int32 {
        let fd = openat(descriptor, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError(errno: errno, operation: "open \(path)/\(name)") }
        return fd
    }

    /// Sets a file's modification time to now (the server's clock on NFS), making
    /// it first if it is missing.
    func touch(_ name: String) throws(SystemError) {
        if utimensat(descriptor, name, nil, AT_SYMLINK_NOFOLLOW) == 0 { return }
        guard errno == ENOENT else { throw SystemError(errno: errno, operation: "touch \(path)/\(name)") }
        close(try openFile(name, flags: O_WRONLY | O_CREAT, mode: 0o644))
    }

    /// The names in the directory, without `.` and `..`.
    func names() throws(SystemError) -> [String] {
        let copy = dup(descriptor)
        guard copy >= 0, let stream = fdopendir(copy) else {
            let err = errno
            if copy >= 0 { close(copy) }
            throw SystemError(errno: err, operation: "read directory \(path)")
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var out: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// The contents of a regular file, refused if it is a symbolic link, not a
    /// regular file, or longer than `limit`; nil if there is nothing.
    func read(_ name: String, limit: Int = 65536) throws(SystemError) -> [UInt8]? {
        let fd = openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw SystemError(errno: errno, operation: "open \(path)/\(name)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError(errno: errno, operation: "stat \(path)/\(name)") }
        guard Self.kind(info.st_mode) == .file else { throw SystemError(errno: EINVAL, operation: "\(path)/\(name) is not a regular file") }
        guard Int(info.st_size) <= limit else { throw SystemError(errno: EFBIG, operation: "\(path)/\(name) is over \(limit) bytes") }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total <= limit {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, limit + 1 - total) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, operation: "read \(path)/\(name)")
            }
            if count == 0 { break }
            total += count
        }
        guard total <= limit else { throw SystemError(errno: EFBIG, operation: "\(path)/\(name) is over \(limit) bytes") }
        return Array(bytes[..<total])
    }

    /// Writes a new file `name` in this directory (never one that exists), flushed
    /// to stable storage before it returns if `durable`.
    func writeNew(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true) throws(SystemError) {
        let fd = openat(descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError(errno: errno, operation: "create \(path)/\(name)") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, operation: "write \(path)/\(name)")
            }
            written += count
        }
        guard !durable || fsync(fd) == 0 else { throw SystemError(errno: errno, operation: "fsync \(path)/\(name)") }
    }

    /// Gives the entry `name` a second name in `target` (a hard link); false if
    /// that name is taken. The one exclusive way to publish a file on NFS too.
    func link(_ name: String, to target: DirectoryHandle, as newName: String) throws(SystemError) -> Bool {
        guard linkat(descriptor, name, target.descriptor, newName, 0) == 0 else {
            if errno == EEXIST { return false }
            throw SystemError(errno: errno, operation: "link \(path)/\(name) to \(target.path)/\(newName)")
        }
        return true
    }

    /// Moves the entry `name` to `target`, replacing a file of the new name.
    func rename(_ name: String, to target: DirectoryHandle, as newName: String) throws(SystemError) {
        guard renameat(descriptor, name, target.descriptor, newName) == 0 else {
            throw SystemError(errno: errno, operation: "rename \(path)/\(name) to \(target.path)/\(newName)")
        }
    }

    /// Removes a file or symbolic link (never what it points to); succeeds if nothing is there.
    func unlink(_ name: String) throws(SystemError) {
        guard unlinkat(descriptor, name, 0) == 0 || errno == ENOENT else {
            throw SystemError(errno: errno, operation: "remove \(path)/\(name)")
        }
    }

    /// Removes an empty directory; fails on one that is not empty.
    func removeEmptyDirectory(_ name: String) throws(SystemError) {
        guard unlinkat(descriptor, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
            throw SystemError(errno: errno, operation: "remove \(path)/\(name)")
        }
    }

    /// Removes an entry and, if it is a directory, everything under it, without
    /// ever following a symbolic link; succeeds if nothing is there.
    func removeTree(_ name: String) throws(SystemError) {
        guard let entry = try entry(name) else { return }
        guard entry.kind == .directory else { return try unlink(name) }
        let child: DirectoryHandle
        do {
            child = try directory(name)
        } catch {
            if error.errno == ENOENT { return }  // another node removed it first
            throw error
        }
        for inner in try child.names() {
            try child.removeTree(inner)
        }
        try removeEmptyDirectory(name)
    }

    /// Sets owner and permission bits of a directory inside this one.
    func setOwner(of name: String, uid: UInt32?, gid: UInt32?, mode: mode_t) throws(SystemError) {
        let child = try directory(name)
        if uid != nil || gid != nil {
            guard fchown(child.descriptor, uid ?? UInt32.max, gid ?? UInt32.max) == 0 else {
                throw SystemError(errno: errno, operation: "chown \(child.path)")
            }
        }
        guard fchmod(child.descriptor, mode) == 0 else { throw SystemError(errno: errno, operation: "chmod \(child.path)") }
    }

    /// What one try at a file's lock found.
    enum LockAttempt: Sendable {
        /// No such file, or not the file of that name any more (another node removed it).
        case missing
        /// Another holder has it.
        case busy
        case locked(LockedFile)
    }

    /// Opens a regular file inside this one (never through a symbolic link) and
    /// tries once to lock it, without waiting: shared or exclusive, across every
    /// node of an NFS file system too.
    func tryLock(_ name: String, exclusive: Bool) throws(SystemError) -> LockAttempt {
        let fd = openat(descriptor, name, (exclusive ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return .missing }
            throw SystemError(errno: errno, operation: "open \(path)/\(name)")
        }
        let file = LockedFile(descriptor: fd)
        while flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK { return .busy }
            throw SystemError(errno: errno, operation: "lock \(path)/\(name)")
        }
        // Still the file of that name? Another node may have removed it meanwhile.
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError(errno: errno, operation: "stat \(path)/\(name)") }
        guard let current = try entry(name), current.device == UInt64(info.st_dev), current.inode == UInt64(info.st_ino) else {
            return .missing
        }
        return .locked(file)
    }

    private static func kind(_ mode: mode_t) -> Kind {
        switch mode & S_IFMT {
        case S_IFDIR: .directory
        case S_IFREG: .file
        case S_IFLNK: .symlink
        default: .other
        }
    }
}

/// A file held locked; the lock goes when it is released or dropped.
final class LockedFile: Sendable {
    private let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
