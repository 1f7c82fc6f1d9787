/// Serialises work per key (a volume name): operations on one volume run one at a
/// time, in arrival order, while different volumes proceed in parallel.
actor KeyedLock {
    /// A key is locked while it has an entry; the entry queues the waiters.
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    nonisolated func withLock<T: Sendable, E: Error>(_ key: String, _ body: () async throws(E) -> T) async throws(E) -> T {
        await acquire(key)
        let result: Result<T, E>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await release(key)
        return try result.get()
    }

    private func acquire(_ key: String) async {
        if waiters[key] == nil {
            waiters[key] = []
            return
        }
        await withCheckedContinuation { waiters[key]!.append($0) }
    }

    private func release(_ key: String) {
        guard var queue = waiters[key], !queue.isEmpty else {
            waiters[key] = nil
            return
        }
        let next = queue.removeFirst()
        waiters[key] = queue
        next.resume()
    }
}
