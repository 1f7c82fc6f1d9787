import FoundationEssentials
import Logging
import Synchronization

/// All volume logic of the node: names → volumes, options, idempotency, per-volume
/// serialisation and holds. It asks the store (and so, on AWS, the cloud) what
/// exists and keeps only this node's holds in the ledger. The RPC handlers call
/// only this.
public final class VolumeManager: Sendable {
    public struct Configuration: Sendable {
        public var defaultBacking: Backing
        /// Where relocatable volumes are mounted: `<mountRoot>/<name>`.
        public var mountRoot: String
        /// How long a Mount waits for another running node to let go of a volume.
        public var takeoverWait: Duration = .seconds(60)
        /// How long a Mount waits for a volume to be ready or moved before it answers
        /// a retryable error (the work goes on).
        public var mountWait: Duration = .seconds(100)
        /// How long an unheld volume stays attached after its last Unmount (0: detach at once).
        public var detachDelay: Duration = .zero
        /// How long a removed shared volume's files stay in the trash before they are deleted.
        public var trashDelay: Duration = .zero
        /// What Docker is told of the volumes (Capabilities).
        public var scope: VolumeScope = .global

        public init(defaultBacking: Backing, mountRoot: String) {
            self.defaultBacking = defaultBacking
            self.mountRoot = mountRoot
        }
    }

    let configuration: Configuration
    let store: any VolumeStore
    let ledger: NodeLedger
    let block: any BlockBackend
    /// The options relocatable volumes take, as the provider declares them.
    let rules: any BlockOptionRules
    /// Where other nodes see that this one holds a volume; nil where none can.
    let marks: (any HolderMarks)?
    /// nil when no shared file system is configured.
    let shared: SharedBackend?
    let host: any NodeHost
    let relocator: Relocator?
    let detaches = DetachQueue()
    let logger: Logger
    let locks = KeyedLock()
    /// When the trash is next emptied (now at start: what a crash left goes first).
    let trashDue = Mutex(ContinuousClock.now)
    /// The modifications this node follows, by volume name (`followModifications`).
    let modifications = Mutex<[String: TrackedModification]>([:])
    /// When to look up again the modifications a restart left, after the
    /// restore's look-up failed; nil: not due.
    let modificationsRecovery = Mutex<ContinuousClock.Instant?>(nil)
    /// How long after a failed look-up of them the next is (doubling to 10 minutes).
    let modificationsRecoveryWait = Mutex(Duration.seconds(30))

    public init(
        configuration: Configuration, store: any VolumeStore, ledger: NodeLedger, block: any BlockBackend, rules: any BlockOptionRules,
        shared: SharedBackend?,
        host: any NodeHost, relocator: Relocator? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.ledger = ledger
        self.block = block
        self.rules = rules
        self.marks = block as? any HolderMarks
        self.shared = shared
        self.host = host
        self.relocator = relocator
        self.logger = logger
    }

    /// This node's name in status and messages.
    public var node: String { block.node }

    public var zone: String { block.zone }

    /// This node's attachments against its limit (nil: none), from what it knows.
    public func attachmentUse() async -> AttachmentLimit? { await block.attachmentUse() }

    /// Creates a volume, or returns it if it exists with the same options.
    public func create(name: String, options raw: [String: String]) async throws(CloudstorError) -> VolumeInfo {
        try VolumeName.validate(name)
        let options = try VolumeOptions(parsing: raw, defaultBacking: configuration.defaultBacking, rules: rules)
        return try await locks.withLock(name) { () async throws(CloudstorError) -> VolumeInfo in
            // Asked afresh: another node may have removed it since this one last looked,
            // and an answer from a stale view would make nothing.
            if let existing = try await lookup(name, fresh: true) {
                try Self.check(existing, matches: options)
                return try await info(existing)
            }
            // Another node may win the race to make it: the answer is what is there.
            let saved: VolumeRecord
            switch options.backing {
            case .relocatable:
                let id = try await block.create(name: name, options: options.block ?? BlockOptions(values: [:], sizeGiB: nil))
                let record = VolumeRecord(
                    name: name, backing: .relocatable, options: options.dictionary, cloudID: id, createdAt: Date().formatted(.iso8601))
                try await store.save(record)
                saved = try await store.volume(named: name, fresh: false) ?? record
            case .shared:
                saved = try await sharedBackend().create(name: name, options: options)
            }
            try Self.check(saved, matches: options)
            logger.info("created volume", metadata: ["volume": "\(name)", "id": "\(saved.cloudID)", "options": "\(Self.describe(saved.options))"])
            return try await info(saved)
        }
    }

    static func check(_ existing: VolumeRecord, matches options: VolumeOptions) throws(CloudstorError) {
        guard existing.options == options.dictionary else {
            throw CloudstorError(
                .alreadyExists,
                "volume \(existing.name) exists with options \(describe(existing.options)), not \(describe(options.dictionary))")
        }
    }

    /// Removes a volume and its data. Refused while any node holds it.
    public func remove(name: String) async throws(CloudstorError) {
        try VolumeName.validate(name)
        try await locks.withLock(name) { () async throws(CloudstorError) in
            let record = try await existing(name, fresh: true)
            if relocator?.isMoving(name) == true {
                throw CloudstorError(.failedPrecondition, "volume \(name) is being moved to another zone; remove it once the move is done")
            }
            switch record.backing {
            case .relocatable:
                let holds = ledger.holdCount(name)
                guard holds == 0 else {
                    throw CloudstorError(.failedPrecondition, "volume \(name) is in use: mounted \(holds) time(s) on \(node); unmount it first")
                }
                if var volume = try await block.describe(id: record.cloudID, fresh: true) {
                    try await refuseRemoval(name, volume)
                    // Claimed first, as a move claims it, then read again: a Mount or a move
                    // begun elsewhere meanwhile has left its mark by now, or sees this claim.
                    let claim = try await claimForRemoval(record)
                    do throws(CloudstorError) {
                        if let claim {
                            volume = try await current(record)
                            guard volume.removal == claim else {
                                throw CloudstorError(.failedPrecondition, "volume \(name) is being removed by another node")
                            }
                            try await refuseRemoval(name, volume)
                        }
                        if let attachment = volume.attachment {
                            let running = attachment.node == node ? true : try await block.isRunning(node: attachment.node)
                            try await block.detach(id: record.cloudID, from: attachment.node, force: !running)
                        }
                        try await block.remove(id: record.cloudID)
                    } catch {
                        if let claim { try? await relocator?.backend.releaseClaim(claim, on: record.cloudID) }
                        throw error
                    }
                }
                await detaches.cancel(name)
                modifications.withLock { $0[name] = nil }
                try await store.delete(named: name)
            case .shared:
                // Every node's holds, this one's included, are on the shared file system.
                try await sharedBackend().remove(record)
                trashDue.withLock { $0 = .now + configuration.trashDelay }
            }
            logger.info("removed volume", metadata: ["volume": "\(name)"])
        }
    }

    /// Refuses the Remove of a volume a running node moves or holds mounted. A mark
    /// left by a node that is not running holds nothing.
    private func refuseRemoval(_ name: String, _ volume: BlockVolume) async throws(CloudstorError) {
        for claim in volume.marks where claim.node != node {
            guard try await block.isRunning(node: claim.node) else { continue }
            throw CloudstorError(
                .failedPrecondition,
                claim.isRemoval
                    ? "volume \(name) is being removed by \(claim.node)"
                    : "volume \(name) is being moved to \(claim.zone) by \(claim.node); remove it once the move is done")
        }
        if let holder = volume.holder, holder != node, try await block.isRunning(node: holder) {
            throw CloudstorError(.failedPrecondition, "volume \(name) is in use: mounted on \(holder); unmount it there first")
        }
    }

    /// Writes a removal's claim on the volume, where volumes can move (nil: they cannot).
    private func claimForRemoval(_ record: VolumeRecord) async throws(CloudstorError) -> MoveClaim? {
        guard let relocator else { return nil }
        let claim = MoveClaim(node: node, zone: block.zone, id: MoveClaim.removalPrefix + MoveClaim.newID())
        try await relocator.backend.claim(claim, on: record.cloudID)
        return claim
    }

    /// Marks the volume held by this node, or not, where other nodes can see it.
    func markHeld(_ record: VolumeRecord, _ held: Bool) async throws(CloudstorError) {
        try await marks?.setHeld(id: record.cloudID, held)
    }

    /// The volume with every node's holds (the holders of a shared volume are read afresh).
    public func get(name: String) async throws(CloudstorError) -> VolumeInfo {
        try VolumeName.validate(name)
        let record = try await existing(name)
        var info = try await info(record)
        if record.backing == .shared {
            info.holders = try await sharedBackend().holders(record)
            if info.state != .mounted, let first = info.holders.first {
                info.state = .mounted
                info.node = first
            }
        }
        return info
    }

    public func list() async throws(CloudstorError) -> [VolumeInfo] {
        var result: [VolumeInfo] = []
        for record in try await allRecords() {
            result.append(try await info(record))
        }
        return result
    }

    /// The mount point if the volume is mounted on this node, else nil.
    public func path(name: String) async throws(CloudstorError) -> String? {
        let info = try await get(name: name)
        return info.mountCount > 0 ? info.mountpoint : nil
    }

    /// Storage of this stack that no live volume uses.
    public func orphans() async throws(CloudstorError) -> [Orphan] {
        try await block.orphans(moving: relocator?.moving() ?? [])
    }

    /// Deletes orphans (every one found now if `ids` is empty); returns what went.
    public func pruneOrphans(ids: [String]) async throws(CloudstorError) -> [String] {
        let removed = try await block.prune(ids: ids, moving: relocator?.moving() ?? [])
        if !removed.isEmpty { logger.info("pruned orphans", metadata: ["ids": "\(removed.joined(separator: ","))"]) }
        return removed
    }

    func existing(_ name: String, fresh: Bool = false) async throws(CloudstorError) -> VolumeRecord {
        guard let record = try await lookup(name, fresh: fresh) else { throw Self.notFound(name) }
        return record
    }

    /// The volume of this name, shared or relocatable. A relocatable volume the
    /// store knows without I/O first (unless asked afresh): its Get never waits for
    /// the shared file system. Then shared: reading a small file of the shared
    /// file system is cheaper than asking a cloud.
    func lookup(_ name: String, fresh: Bool) async throws(CloudstorError) -> VolumeRecord? {
        if !fresh, let record = await store.knownVolume(named: name) { return record }
        if let record = try await shared?.volume(named: name) { return record }
        return try await store.volume(named: name, fresh: fresh)
    }

    /// Every volume, shared and relocatable, in name order.
    func allRecords() async throws(CloudstorError) -> [VolumeRecord] {
        let sharedRecords = try await shared?.volumes() ?? []
        let names = Set(sharedRecords.map(\.name))
        return (sharedRecords + (try await store.volumes()).filter { !names.contains($0.name) }).sorted { $0.name < $1.name }
    }

    func sharedBackend() throws(CloudstorError) -> SharedBackend {
        guard let shared else {
            throw CloudstorError(
                .failedPrecondition,
                "shared volumes need a shared file system, and none is configured: on AWS give --efs-filesystem-id (or tag an EFS file system with this stack's StackID), or --shared-root where one is mounted")
        }
        return shared
    }

    static func notFound(_ name: String) -> CloudstorError {
        CloudstorError(.notFound, "no such volume: \(name)")
    }

    func mountpoint(of record: VolumeRecord) -> String {
        switch record.backing {
        case .relocatable: "\(configuration.mountRoot)/\(record.name)"
        case .shared: shared?.path(of: record) ?? record.cloudID
        }
    }

    /// Where the volume stands: from what this node last saw of it (no cloud call
    /// on a provider with a cache) and this node's holds.
    func info(_ record: VolumeRecord) async throws(CloudstorError) -> VolumeInfo {
        var info = VolumeInfo(record: record, state: .created)
        info.mountCount = ledger.holdCount(record.name)
        info.move = relocator?.progress(of: record.name) ?? ""
        info.modification = modificationStatus(record.name)
        if record.backing == .relocatable, let volume = try await block.describe(id: record.cloudID, fresh: false) {
            info.zone = volume.zone
            if info.move.isEmpty, let claim = volume.claimOrRemoval {
                info.move = claim.isRemoval ? "being removed by \(claim.node)" : "being moved to \(claim.zone) by \(claim.node)"
            }
            if let attachment = volume.attachment {
                info.state = .attached
                info.node = attachment.node
                info.device = attachment.device
                info.attachmentState = attachment.state
            }
            // This node's ledger, not a mark its Unmount could not clear yet, says whether it holds the volume.
            if let holder = volume.holder, holder != node {
                info.state = .mounted
                info.node = holder
                info.holders = [holder]
            }
        }
        if info.mountCount > 0 {
            info.state = .mounted
            info.node = node
            info.mountpoint = mountpoint(of: record)
        }
        // A volume that cannot leave its node says which node that is, mounted or not.
        if configuration.scope == .local, record.backing == .relocatable, info.node.isEmpty { info.node = node }
        return info
    }

    static func describe(_ options: [String: String]) -> String {
        options.keys.sorted().map { "\($0)=\(options[$0]!)" }.joined(separator: ",")
    }
}
