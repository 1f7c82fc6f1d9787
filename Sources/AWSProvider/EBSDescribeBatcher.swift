import CloudstorAWS

/// Coalesces this node's look-ups of single EBS volumes (waiting for an attach,
/// a detach, a volume to be created): callers that ask while a DescribeVolumes is
/// on its way share the next one, which asks for all of their ids at once. So 200
/// volumes mounting together cost one call per poll, not 200.
///
/// The ids go in the `volume-id` filter, at most `batchSize` a call (EC2 takes up
/// to 200 values per filter): an id that no longer exists is then simply absent
/// from the answer, where naming it in VolumeId.N would fail the whole call with
/// InvalidVolume.NotFound.
actor EBSDescribeBatcher {
    typealias Answer = Result<EC2Volume?, AWSError>

    let ec2: EC2Client
    let batchSize: Int
    private var waiting: [String: [CheckedContinuation<Answer, Never>]] = [:]
    private var order: [String] = []
    private var draining = false

    init(ec2: EC2Client, batchSize: Int = 200) {
        self.ec2 = ec2
        self.batchSize = batchSize
    }

    /// The volume as EC2 sees it now, nil if it does not exist.
    func describe(_ id: String) async throws(AWSError) -> EC2Volume? {
        let answer = await withCheckedContinuation { (continuation: CheckedContinuation<Answer, Never>) in
            if waiting[id] == nil { order.append(id) }
            waiting[id, default: []].append(continuation)
            if !draining {
                draining = true
                Task { await drain() }
            }
        }
        return try answer.get()
    }

    private func drain() async {
        // Waiters that woke on the same tick arrive within microseconds of each other.
        try? await Task.sleep(for: .milliseconds(2))
        while !order.isEmpty {
            let ids = Array(order.prefix(batchSize))
            order.removeFirst(ids.count)
            var waiters: [String: [CheckedContinuation<Answer, Never>]] = [:]
            for id in ids { waiters[id] = waiting.removeValue(forKey: id) }
            let found: Result<[EC2Volume], AWSError>
            do {
                found = .success(try await ec2.describeAllVolumes(filters: [EC2Filter("volume-id", ids)]))
            } catch {
                found = .failure(error)
            }
            for (id, continuations) in waiters {
                let answer: Answer = found.map { volumes in volumes.first { $0.volumeID == id } }
                for continuation in continuations { continuation.resume(returning: answer) }
            }
        }
        draining = false
    }
}
