import CLinux
import CloudstorAWS
import CloudstorService

/// What this node knows of its stack's EBS volumes, grouped by volume name. Filled
/// by one paged, tag-filtered DescribeVolumes (500 a page), shared by concurrent
/// callers, refreshed when older than `lifetime`; a name it does not know costs
/// one targeted look-up, and a name found missing is remembered briefly
/// (`negativeLifetime`: another node may make it any time). One name never waits
/// for a fill of more than one page (a stack of 10,000 volumes takes 20 pages,
/// seconds): it is looked up alone, and that answer is as good as a fill for
/// `lifetime`, or `negativeLifetime` when it found nothing. The daemon's own
/// changes update it as they happen.
actor EBSVolumeCache {
    let ec2: EC2Client
    let stackHash: String
    let lifetime: Duration
    let negativeLifetime: Duration
    let pageSize: Int
    private var byName: [String: [EC2Volume]] = [:]
    /// The name of every volume in `byName`, by id (a Get looks its volume up by id).
    private var nameByID: [String: String] = [:]
    private var filledAt: ContinuousClock.Instant?
    /// Pages the last fill took; nil before the first.
    private var filledPages: Int?
    private var filling: Task<[EC2Volume], any Error>?
    private var missing: [String: ContinuousClock.Instant] = [:]
    /// Names looked up alone since the last fill, and when.
    private var lookedUp: [String: ContinuousClock.Instant] = [:]

    init(
        ec2: EC2Client, stackHash: String, lifetime: Duration = .seconds(30), negativeLifetime: Duration = .seconds(2), pageSize: Int = 500
    ) {
        self.ec2 = ec2
        self.stackHash = stackHash
        self.lifetime = lifetime
        self.negativeLifetime = negativeLifetime
        self.pageSize = pageSize
    }

    private var isFresh: Bool { filledAt.map { ContinuousClock.now - $0 < lifetime } ?? false }

    /// Every volume of the stack, by name; `fresh` asks EC2 now (joining a look
    /// already under way) rather than answer from a fill up to `lifetime` old.
    func all(fresh: Bool = false) async throws(CloudstorError) -> [String: [EC2Volume]] {
        if fresh || !isFresh { try await fill() }
        return byName
    }

    /// The EBS volumes carrying this name (any state), as of a fill at most
    /// `lifetime` old: another node may have removed or made them since.
    func volumes(named name: String) async throws(CloudstorError) -> [EC2Volume] {
        if !isFresh {
            if let known = lookedUpAlone(name) { return known }
            guard let pages = filledPages, pages <= 1 else { return try await refresh(name: name) }
            try await fill()
        }
        if let known = byName[name] { return known }
        if let at = missing[name], ContinuousClock.now - at < negativeLifetime { return [] }
        return try await refresh(name: name)
    }

    /// The volumes of this name as of a fill still fresh, with no call to EC2.
    func known(named name: String) -> [EC2Volume]? {
        if isFresh { return byName[name] }
        return lookedUpAlone(name).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// What a look-up of this name alone found, while that answer is still good.
    private func lookedUpAlone(_ name: String) -> [EC2Volume]? {
        guard let at = lookedUp[name], ContinuousClock.now - at < lifetime else { return nil }
        if let found = byName[name] { return found }
        guard let at = missing[name], ContinuousClock.now - at < negativeLifetime else { return nil }
        return []
    }

    /// Every volume the cache holds, by name, however old: no call to EC2.
    func cached() -> [String: [EC2Volume]] {
        byName
    }

    /// Asks EC2 for the volumes of one name now.
    @discardableResult
    func refresh(name: String) async throws(CloudstorError) -> [EC2Volume] {
        let found: [EC2Volume]
        do {
            found = try await ec2.describeAllVolumes(filters: [.tag(EBSTags.stack, stackHash), .tag(EBSTags.volume, name)])
        } catch {
            throw CloudstorError(error, "look up volume \(name) in EC2")
        }
        let now = ContinuousClock.now
        if lookedUp.count >= 10_000 {   // names looked up once, such as Gets of names that never existed
            lookedUp = lookedUp.filter { now - $0.value < lifetime }
            missing = missing.filter { now - $0.value < negativeLifetime }
        }
        set(name, found)
        missing[name] = found.isEmpty ? now : nil
        lookedUp[name] = now
        return found
    }

    /// The last seen state of one EBS volume, if this node has seen it.
    func volume(id: String) -> EC2Volume? {
        nameByID[id].flatMap { byName[$0] }?.first { $0.volumeID == id }
    }

    /// Records a volume as just seen (or made).
    func put(_ volume: EC2Volume) {
        guard let name = volume.tags[EBSTags.volume] else { return }
        var list = byName[name] ?? []
        list.removeAll { $0.volumeID == volume.volumeID }
        list.append(volume)
        set(name, list)
        missing[name] = nil
    }

    func forget(id: String) {
        guard let name = nameByID[id] else { return }
        set(name, byName[name, default: []].filter { $0.volumeID != id })
    }

    func forget(name: String) {
        set(name, [])
        missing[name] = .now
    }

    /// The volumes of one name (none: the name is dropped), and the index with them.
    private func set(_ name: String, _ volumes: [EC2Volume]) {
        for old in byName[name] ?? [] where nameByID[old.volumeID] == name { nameByID[old.volumeID] = nil }
        byName[name] = volumes.isEmpty ? nil : volumes
        for volume in volumes { nameByID[volume.volumeID] = name }
    }

    private func fill() async throws(CloudstorError) {
        let task: Task<[EC2Volume], any Error>
        if let filling {
            task = filling
        } else {
            let ec2 = self.ec2
            let filters = [EC2Filter.tag(EBSTags.stack, stackHash)]
            let pageSize = self.pageSize
            task = Task { try await ec2.describeAllVolumes(filters: filters, pageSize: pageSize) }
            filling = task
        }
        let result = await task.result
        filling = nil
        switch result {
        case .success(let volumes):
            var grouped: [String: [EC2Volume]] = [:]
            var names: [String: String] = [:]
            for volume in volumes {
                guard let name = volume.tags[EBSTags.volume] else { continue }
                grouped[name, default: []].append(volume)
                names[volume.volumeID] = name
            }
            byName = grouped
            nameByID = names
            filledAt = .now
            filledPages = max(1, (volumes.count + pageSize - 1) / pageSize)
            missing = [:]
            lookedUp = [:]
            // The pages' XML is gone; without this the heap keeps its peak
            // (10,000 volumes: 8 MiB more, idle).
            clinux_trim_heap()
        case .failure(let error):
            if let error = error as? AWSError { throw CloudstorError(error, "list this stack's volumes in EC2") }
            throw CloudstorError(.unavailable, "list this stack's volumes in EC2", cause: error)
        }
    }
}
