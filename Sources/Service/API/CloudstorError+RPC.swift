import CloudstorRPC

/// The daemon's one mapping from its errors to gRPC statuses: handlers just throw.
extension CloudstorError: RPCErrorConvertible {
    public var rpcError: RPCError {
        RPCError(code.rpcCode, description)
    }
}

extension CloudstorError.Code {
    /// The gRPC code of the same meaning: each of ours is one of gRPC's.
    fileprivate var rpcCode: RPCError.Code {
        switch self {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .unavailable: .unavailable
        case .internalError: .internalError
        }
    }
}
