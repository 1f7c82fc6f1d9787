#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on a file, held until `unlock()` or the process ends (so a
/// crashed holder never leaves it taken). The file itself stays: removing it would
/// let two processes lock two different files of the same name.
public final class FileLock: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case held(String)
        case system(String)

        public var description: String {
            switch self {
            case .held(let message), .system(let message): message
            }
        }
    }

    public let path: String
    private let descriptor: Int32

    /// Takes the lock or fails at once; `holder` says what the lock protects ("serving /run/x.sock"), for the message.
    public init(path: String, holder: String) throws(Failure) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            close(fd)
            if err == EWOULDBLOCK { throw .held("another process is already \(holder) (it holds \(path))") }
            throw .system("cannot lock \(path): \(String(cString: strerror(err)))")
        }
        descriptor = fd
    }

    public func unlock() {
        close(descriptor)
    }
}
