#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Synchronization

/// A listening unix socket owned by exactly one process. An exclusive `flock` on
/// `<path>.lock` comes first, so a second daemon fails instead of silently
/// stealing the path; only then is a stale socket file removed and a fresh one
/// bound with the requested mode.
///
/// The descriptor has one owner at a time: this listener until `handOff()` gives it
/// to a server (which then closes it), else this listener, whose `close()` closes
/// it. `close()` always removes the socket file and releases the lock.
public final class UnixListener: Sendable {
    public let path: String
    private let lock: FileLock
    private let descriptor: Mutex<Int32?>

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
        descriptor = Mutex(fd)
    }

    /// Gives the listening descriptor to the caller, who must close it from now on.
    /// Called at most once.
    public func handOff() -> Int32 {
        descriptor.withLock { fd in
            guard let taken = fd else { preconditionFailure("the descriptor of \(path) was handed off twice") }
            fd = nil
            return taken
        }
    }

    /// Closes the descriptor unless it was handed off, removes the socket file and
    /// releases the lock.
    public func close() {
        if let fd = descriptor.withLock({ fd in defer { fd = nil }; return fd }) {
            Glibc.close(fd)
        }
        unlink(path)
        lock.unlock()
    }
}
