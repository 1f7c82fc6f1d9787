/// The one error type of the daemon's layers. Each boundary maps it once: to a gRPC
/// status in the RPC handlers.
public struct CloudstorError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The caller asked for something malformed: a bad name or option.
        case invalidArgument
        case notFound
        /// The name is taken by a volume with other options.
        case alreadyExists
        /// The request is valid but the volume's state forbids it (e.g. in use).
        case failedPrecondition
        /// Transient: the same request may succeed later.
        case unavailable
        case internalError
    }

    public var code: Code
    /// A sentence for a person: what failed and, where it helps, what to do.
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }
}
