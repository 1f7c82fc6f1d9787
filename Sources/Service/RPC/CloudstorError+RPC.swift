import GRPCCore

/// The daemon's one mapping from its errors to gRPC statuses: handlers just throw.
extension CloudstorError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .unavailable: .unavailable
        case .internalError: .internalError
        }
    }

    public var rpcErrorMessage: String { description }
}
