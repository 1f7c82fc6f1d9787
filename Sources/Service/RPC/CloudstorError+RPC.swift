import CloudstorRPC

/// The daemon's one mapping from its errors to gRPC statuses: handlers just throw.
extension CloudstorError: RPCStatusConvertible {
    public var rpcStatus: RPCStatus {
        switch code {
        case .invalidArgument: RPCStatus(.invalidArgument, description)
        case .notFound: RPCStatus(.notFound, description)
        case .alreadyExists: RPCStatus(.alreadyExists, description)
        case .failedPrecondition: RPCStatus(.failedPrecondition, description)
        case .unavailable: RPCStatus(.unavailable, description)
        case .internalError: RPCStatus(.internalError, description)
        }
    }
}
