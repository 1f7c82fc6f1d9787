import CloudstorSupport
import Metrics

/// What the server counts of each call, through swift-metrics (the daemon
/// exports them in Prometheus's format with `--metrics-listen`; without it they
/// cost nothing): calls by method and status code, and their durations.
enum RPCMetrics {
    static func record(method: String, error: RPCError?, since start: ContinuousClock.Instant) {
        Counter(label: "cloudstor_rpc_requests_total", dimensions: [("method", method), ("code", error?.code.name ?? "OK")]).increment()
        Timer(label: "cloudstor_rpc_duration_seconds", dimensions: [("method", method)]).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}

extension RPCError.Code {
    /// The code's name in the gRPC specification (`NOT_FOUND`).
    public var name: String {
        switch self {
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internalError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}
