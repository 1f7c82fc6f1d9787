/// At most `limit` requests on their way at once; the others wait their turn
/// here, first come first served, and are signed only once they go. (Left to the
/// connection pool, a wait longer than the connect timeout fails the request:
/// 67 Creates at once on one node did.)
actor RequestSlots {
    let limit: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) {
        self.limit = limit
    }

    func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the slot to the first waiter, if any.
    func release() {
        if waiting.isEmpty {
            inUse -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
