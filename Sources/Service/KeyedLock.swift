/// Serialises work per key (a volume name): operations on one volume run one at a
/// time, in arrival order, while different volumes proceed in parallel.
actor KeyedLock {
    /// A key is locked while it has an entry; the entry queues the waiters.
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    nonisolated func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let result = try await body()
            await release(key)
            return result
        } catch {
            await release(key)
            throw error
        }
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
