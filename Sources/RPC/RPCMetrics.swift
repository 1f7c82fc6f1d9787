import CloudstorSupport
import Metrics

/// What the server counts of one method's calls, through swift-metrics (the
/// daemon exports them in Prometheus's format with `--metrics-listen`): calls by
/// status code, and their durations. The handles of the common case are made
/// once, when the method is registered, so a call pays no lookup: registration
/// must follow `MetricsSystem.bootstrap`, or these record into its no-op default.
struct RPCMetrics: Sendable {
    let method: String
    private let ok: Counter
    private let duration: Timer

    init(method: String) {
        self.method = method
        ok = Counter(label: "cloudstor_rpc_requests_total", dimensions: [("method", method), ("code", "OK")])
        duration = Timer(label: "cloudstor_rpc_duration_seconds", dimensions: [("method", method)])
    }

    func record(error: RPCError?, since start: ContinuousClock.Instant) {
        if let error {
            Counter(label: "cloudstor_rpc_requests_total", dimensions: [("method", method), ("code", error.code.name)]).increment()
        } else {
            ok.increment()
        }
        duration.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}
