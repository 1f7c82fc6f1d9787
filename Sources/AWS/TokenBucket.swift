/// A client-side token bucket, like the ones EC2 keeps per account and API class:
/// `capacity` calls at once, refilled at `rate` per second. Calls wait for a token
/// instead of being throttled by AWS, so a fleet of volumes cannot exhaust the
/// account's budget.
public actor TokenBucket {
    public let capacity: Double
    public let rate: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant
    private let clock = ContinuousClock()

    public init(capacity: Double, rate: Double) {
        self.capacity = capacity
        self.rate = rate
        tokens = capacity
        updated = clock.now
    }

    /// Takes one token, waiting until one is available.
    public func acquire() async throws {
        while true {
            refill()
            if tokens >= 1 {
                tokens -= 1
                return
            }
            let wait = (1 - tokens) / rate
            try await Task.sleep(for: .nanoseconds(Int64(wait * 1e9)))
        }
    }

    private func refill() {
        let now = clock.now
        tokens = min(capacity, tokens + (now - updated).seconds * rate)
        updated = now
    }
}
