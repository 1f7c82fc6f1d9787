#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A listening unix socket owned by exactly one process. An exclusive `flock` on
/// `<path>.lock` comes first, so a second daemon fails instead of silently
/// stealing the path; only then is a stale socket file removed and a fresh one
/// bound with the requested mode. `close()` removes the socket file again.
public final class UnixListener: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case inUse(String)
        case system(String)

        public var description: String {
            switch self {
            case .inUse(let message), .system(let message): message
            }
        }
    }

    public let path: String
    /// The listening descriptor; whoever serves on it takes ownership.
    public let descriptor: Int32
    private let lockDescriptor: Int32

    public init(path: String, mode: mode_t = 0o660) throws(Failure) {
        self.path = path
        let lockPath = path + ".lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw .system("cannot open \(lockPath): \(Self.errorText(errno))") }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            Glibc.close(lock)
            if err == EWOULDBLOCK { throw .inUse("another process is already serving \(path) (it holds \(lockPath))") }
            throw .system("cannot lock \(lockPath): \(Self.errorText(err))")
        }
        if unlink(path) != 0, errno != ENOENT {
            let err = errno
            Glibc.close(lock)
            throw .system("cannot remove the stale socket \(path): \(Self.errorText(err))")
        }
        let fd = clinux_listen_unix(path, UInt32(mode), 128)
        guard fd >= 0 else {
            Glibc.close(lock)
            throw .system("cannot listen on \(path): \(Self.errorText(-fd))")
        }
        descriptor = fd
        lockDescriptor = lock
    }

    /// Removes the socket file and releases the lock. The descriptor itself belongs
    /// to the server that took it. The lock file stays: removing it would let two
    /// processes lock two different files of the same name.
    public func close() {
        unlink(path)
        Glibc.close(lockDescriptor)
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
