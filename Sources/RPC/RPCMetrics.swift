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
