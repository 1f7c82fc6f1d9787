import Foundation
import Logging

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

        public init(defaultBacking: Backing, mountRoot: String) {
            self.defaultBacking = defaultBacking
            self.mountRoot = mountRoot
        }
    }

    let configuration: Configuration
    let store: any VolumeStore
    let ledger: NodeLedger
    let block: any BlockBackend
    let shared: any SharedBackend
    let host: any NodeHost
    let relocator: Relocator?
    let detaches = DetachQueue()
    let logger: Logger
    let locks = KeyedLock()

    public init(
        configuration: Configuration, store: any VolumeStore, ledger: NodeLedger, block: any BlockBackend, shared: any SharedBackend,
        host: any NodeHost, relocator: Relocator? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.ledger = ledger
        self.block = block
        self.shared = shared
        self.host = host
        self.relocator = relocator
        self.logger = logger
    }

    /// This node's name in status and messages.
    public var node: String { block.node }

    /// Creates a volume, or returns it if it exists with the same options.
    public func create(name: String, options raw: [String: String]) async throws(CloudstorError) -> VolumeInfo {
        try VolumeName.validate(name)
        let options = try VolumeOptions(parsing: raw, defaultBacking: configuration.defaultBacking)
        return try await locks.withLock(name) { () async throws(CloudstorError) -> VolumeInfo in
            if let existing = try await store.volume(named: name, fresh: false) {
                try Self.check(existing, matches: options)
                return try await info(existing)
            }
            let id: String
            switch options.backing {
            case .relocatable: id = try await block.create(name: name, options: options)
            case .shared: id = try await shared.create(name: name, options: options)
            }
            let record = VolumeRecord(
                name: name, backing: options.backing, options: options.dictionary, cloudID: id, createdAt: Date().formatted(.iso8601))
            try await store.save(record)
            // On a shared store another node may have won the race: answer with what is there.
            let saved = try await store.volume(named: name, fresh: false) ?? record
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
            let holds = ledger.holdCount(name)
            guard holds == 0 else {
                throw CloudstorError(.failedPrecondition, "volume \(name) is in use: mounted \(holds) time(s) on \(node); unmount it first")
            }
            if relocator?.isMoving(name) == true {
                throw CloudstorError(.failedPrecondition, "volume \(name) is being moved to another zone; remove it once the move is done")
            }
            switch record.backing {
            case .relocatable:
                if let volume = try await block.describe(id: record.cloudID, fresh: true) {
                    if let holder = volume.holder, holder != node {
                        throw CloudstorError(.failedPrecondition, "volume \(name) is in use: mounted on \(holder); unmount it there first")
                    }
                    if let attachment = volume.attachment {
                        try await block.detach(id: record.cloudID, from: attachment.node, force: false)
                    }
                    try await block.remove(id: record.cloudID)
                }
            case .shared:
                try await shared.remove(id: record.cloudID)
            }
            await detaches.cancel(name)
            try await store.delete(named: name)
            logger.info("removed volume", metadata: ["volume": "\(name)"])
        }
    }

    public func get(name: String) async throws(CloudstorError) -> VolumeInfo {
        try VolumeName.validate(name)
        return try await info(try await existing(name))
    }

    public func list() async throws(CloudstorError) -> [VolumeInfo] {
        var result: [VolumeInfo] = []
        for record in try await store.volumes() {
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
        guard let record = try await store.volume(named: name, fresh: fresh) else { throw Self.notFound(name) }
        return record
    }

    static func notFound(_ name: String) -> CloudstorError {
        CloudstorError(.notFound, "no such volume: \(name)")
    }

    func mountpoint(of record: VolumeRecord) -> String {
        switch record.backing {
        case .relocatable: "\(configuration.mountRoot)/\(record.name)"
        case .shared: record.cloudID
        }
    }

    /// Where the volume stands: from what this node last saw of it (no cloud call
    /// on a provider with a cache) and this node's holds.
    func info(_ record: VolumeRecord) async throws(CloudstorError) -> VolumeInfo {
        var info = VolumeInfo(record: record, state: .created)
        info.mountCount = ledger.holdCount(record.name)
        if record.backing == .relocatable, let volume = try await block.describe(id: record.cloudID, fresh: false) {
            info.zone = volume.zone
            if let attachment = volume.attachment {
                info.state = .attached
                info.node = attachment.node
                info.device = attachment.device
                info.attachmentState = attachment.state
            }
            if let holder = volume.holder {
                info.state = .mounted
                info.node = holder
            }
        }
        if info.mountCount > 0 {
            info.state = .mounted
            info.node = node
            info.mountpoint = mountpoint(of: record)
        }
        info.move = relocator?.progress(of: record.name) ?? ""
        return info
    }

    static func describe(_ options: [String: String]) -> String {
        options.keys.sorted().map { "\($0)=\(options[$0]!)" }.joined(separator: ",")
    }
}
