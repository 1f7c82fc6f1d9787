/// Volumes whose last Unmount was here, waiting out the detach delay: Docker often
/// mounts a volume again within a second (a container start copies image content
/// with a first Mount/Unmount pair), and a detach + attach would cost tens of
/// seconds on EBS. A Mount takes its volume off the queue.
actor DetachQueue {
    private var due: [String: ContinuousClock.Instant] = [:]
    /// Taken by `takeDue` and not yet `finished`: their detach is under way or next.
    private var running: Set<String> = []

    func schedule(_ name: String, after delay: Duration) {
        due[name] = .now + delay
    }

    func cancel(_ name: String) {
        due[name] = nil
    }

    /// Takes the name due soonest, leaving out `names`, to detach early; with none
    /// waiting, names one whose detach is under way, for the caller to wait out.
    func takeFirst(excluding names: Set<String>) -> String? {
        if let first = due.filter({ !names.contains($0.key) }).min(by: { $0.value < $1.value })?.key {
            due[first] = nil
            return first
        }
        return running.subtracting(names).min()
    }

    func names() -> [String] {
        due.keys.sorted()
    }

    /// Takes the names whose delay has passed; each is `finished` once detached.
    func takeDue() -> [String] {
        let now = ContinuousClock.now
        let ready = due.filter { $0.value <= now }.map(\.key)
        for name in ready { due[name] = nil }
        running.formUnion(ready)
        return ready.sorted()
    }

    func finished(_ name: String) {
        running.remove(name)
    }
}
