/// Exponential backoff with full jitter (AWS's recommendation): attempt n waits a
/// random time in [0, min(cap, base · 2ⁿ)]. Throttling starts from a larger base.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var base: Duration
    public var throttlingBase: Duration
    public var cap: Duration

    public init(maxAttempts: Int = 8, base: Duration = .milliseconds(50), throttlingBase: Duration = .milliseconds(500), cap: Duration = .seconds(20)) {
        self.maxAttempts = maxAttempts
        self.base = base
        self.throttlingBase = throttlingBase
        self.cap = cap
    }

    /// How long to wait before attempt `attempt + 1` (attempt counts from 1).
    public func delay(after attempt: Int, throttled: Bool, random: (Double) -> Double = { Double.random(in: 0...$0) }) -> Duration {
        let start = (throttled ? throttlingBase : base).seconds
        let ceiling = min(cap.seconds, start * Double(1 << min(attempt - 1, 30)))
        return .nanoseconds(Int64(random(ceiling) * 1e9))
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
