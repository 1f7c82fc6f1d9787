import Foundation

/// Latencies of one benchmarked path.
struct Measurement {
    let name: String
    var samples: [Duration] = []
    var wall: Duration = .zero

    init(name: String) {
        self.name = name
    }

    /// Runs body `count` times after `warmup` unmeasured runs, timing each call.
    static func run(_ name: String, count: Int, warmup: Int, _ body: () async throws -> Void) async throws -> Measurement {
        for _ in 0..<warmup { try await body() }
        var m = Measurement(name: name)
        m.samples.reserveCapacity(count)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count {
            let t0 = clock.now
            try await body()
            m.samples.append(clock.now - t0)
        }
        m.wall = clock.now - start
        return m
    }

    /// Times one run of body.
    static func time(_ body: () async throws -> Void) async throws -> Duration {
        let clock = ContinuousClock()
        let t0 = clock.now
        try await body()
        return clock.now - t0
    }

    /// Adds one sample measured on its own.
    mutating func add(_ sample: Duration) {
        samples.append(sample)
        wall += sample
    }

    func percentile(_ p: Double) -> Duration {
        let sorted = samples.sorted()
        let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    var callsPerSecond: Double {
        Double(samples.count) / wall.seconds
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    var milliseconds: String {
        String(format: "%.3f", seconds * 1000)
    }
}
