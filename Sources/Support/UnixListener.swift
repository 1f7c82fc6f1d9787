#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A listening unix socket owned by exactly one process. An exclusive `flock` on
/// `<path>.lock` comes first, so a second daemon fails instead of silently
/// stealing the path; only then is a stale socket file removed and a fresh one
/// bound with the requested mode. `close()` removes the socket file again.
public final class UnixListener: @unchecked Sendable {
    public let path: String
    /// The listening descriptor; whoever serves on it takes ownership.
    public let descriptor: Int32
    private let lock: FileLock

    public init(path: String, mode: mode_t = 0o660) throws(FileLock.Failure) {
        self.path = path
        lock = try FileLock(path: path + ".lock", holder: "serving \(path)")
        if unlink(path) != 0, errno != ENOENT {
            let err = errno
            lock.unlock()
            throw .system("cannot remove the stale socket \(path): \(String(cString: strerror(err)))")
        }
        let fd = clinux_listen_unix(path, UInt32(mode), 128)
        guard fd >= 0 else {
            lock.unlock()
            throw .system("cannot listen on \(path): \(String(cString: strerror(-fd)))")
        }
        descriptor = fd
    }

    /// Removes the socket file and releases the lock. The descriptor itself belongs
    /// to the server that took it.
    public func close() {
        unlink(path)
        lock.unlock()
    }
}
