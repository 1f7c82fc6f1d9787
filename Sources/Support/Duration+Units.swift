extension Duration {
    /// Whole milliseconds, for logs and figures.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension Duration {
    /// Whole nanoseconds, for metrics' timers.
    public var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
