/// Volumes whose last Unmount was here, waiting out the detach delay: Docker often
/// mounts a volume again within a second (a container start copies image content
/// with a first Mount/Unmount pair), and a detach + attach would cost tens of
/// seconds on EBS. A Mount takes its volume off the queue.
actor DetachQueue {
    private var due: [String: ContinuousClock.Instant] = [:]

    func schedule(_ name: String, after delay: Duration) {
        due[name] = .now + delay
    }

    func cancel(_ name: String) {
        due[name] = nil
    }

    /// Takes the name due soonest, leaving out `names`, to detach early.
    func takeFirst(excluding names: Set<String>) -> String? {
        guard let first = due.filter({ !names.contains($0.key) }).min(by: { $0.value < $1.value })?.key else { return nil }
        due[first] = nil
        return first
    }

    func names() -> [String] {
        due.keys.sorted()
    }

    /// Takes the names whose delay has passed.
    func takeDue() -> [String] {
        let now = ContinuousClock.now
        let ready = due.filter { $0.value <= now }.map(\.key)
        for name in ready { due[name] = nil }
        return ready.sorted()
    }
}
