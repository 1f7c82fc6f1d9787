#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging
import Synchronization

/// Relocatable volumes on a cluster root, a file system every node mounts (an NFS
/// export): each volume is a sparse image there, loop-mounted by the one node that
/// holds it. A hold is taken alone, under the record's lock, and released only
/// after the image is flushed; a node that stops renewing its lease keeps its holds
/// until it releases them, an operator declares it dead, or `takeoverAfter` (if
/// set) has passed. Ids are the images' paths as this node sees them.
public final class ClusterImageBackend: BlockBackend, HolderMarks, LeasedHolds {
    let fs: SharedFileSystem
    /// This node's loop devices of the images.
    let loops: LoopImageBackend
    public let node: String
    /// Every node of a cluster root reaches every image: one zone.
    public var zone: String { "cluster" }
    /// How long after a holder's last renewal another node may take its volumes; nil: never.
    let takeoverAfter: Duration?
    let logger: Logger
    static let renewEvery: Duration = .seconds(5)
    /// When the lease is next renewed, and whether the last renewal failed.
    private let lease = Mutex<(due: ContinuousClock.Instant, failed: Bool)>((.now, false))

    public init(root: String, node: String, takeoverAfter: Duration?, logger: Logger) throws(CloudstorError) {
        fs = try SharedFileSystem(root: root, node: node, layout: .images)
        loops = LoopImageBackend(directory: fs.top.path, node: node)
        self.node = node
        self.takeoverAfter = takeoverAfter
        self.logger = logger
        try fs.renewLease()
        try fs.removeTemporaryFiles()
        _ = try fs.emptyTrash(olderThan: .zero)
    }

    public var root: String { fs.root }

    /// The volume's name, from an id this backend made.
    func name(of id: String) throws(CloudstorError) -> String {
        let prefix = fs.top.path + "/"
        guard id.hasPrefix(prefix), case let name = String(id.dropFirst(prefix.utf8.count)), (try? VolumeName.validate(name)) != nil else {
            throw CloudstorError(.invalidArgument, "\(id) is not an image of the cluster root \(fs.root)")
        }
        return name
    }

    public func create(name: String, options: BlockOptions) async throws(CloudstorError) -> String {
        guard let sizeGiB = options.sizeGiB else {
            throw CloudstorError(.invalidArgument, "option size is required for relocatable volumes")
        }
        let fs = self.fs
        // An image left by an interrupted create, or made by another node a moment ago, is reused.
        try await FileSystemIO.run { () throws(CloudstorError) in try fs.growImage(name, to: sizeGiB, creating: true) }
        return fs.path(name)
    }

    public func describe(id: String, fresh: Bool) async throws(CloudstorError) -> BlockVolume? {
        let name = try name(of: id)
        let fs = self.fs
        let found = try await FileSystemIO.run { () throws(CloudstorError) -> (DirectoryHandle.Entry, [String])? in
            guard let entry = try fs.entry(name) else { return nil }
            return (entry, try fs.holders(name).map(\.node))
        }
        guard let (entry, holders) = found else { return nil }
        var volume = BlockVolume(id: id, zone: zone, state: "available", sizeGiB: Int(entry.size >> 30), holder: holders.first)
        if let device = try loops.attachedHere(id: id) {
            volume.attachment = BlockAttachment(node: node, device: device, state: "attached")
        } else if let other = holders.first(where: { $0 != node }) {
            volume.holder = other
            volume.attachment = BlockAttachment(node: other, device: "", state: "attached", note: try await leaseNote(other))
        }
        if volume.attachment != nil { volume.state = "in-use" }
        return volume
    }

    /// What a refused Mount says of the holder's lease, and how to clear a dead one's holds.
    private func leaseNote(_ other: String) async throws(CloudstorError) -> String {
        let fs = self.fs
        let age = try await FileSystemIO.run { () throws(CloudstorError) in try fs.leaseAge(of: other) }
        let renewed = age.map { "its lease was renewed \($0.milliseconds / 1000) s ago" } ?? "it has no lease on the cluster root"
        return "\(renewed); if \(other) is dead, clear its holds with `cloudstorctl volume unmount --node \(other) --all`"
    }

    public func attach(id: String, to node: String) async throws(CloudstorError) -> AttachOutcome {
        let name = try name(of: id)
        let (fs, me) = (self.fs, self.node)
        let since = Date().formatted(.iso8601)
        if let other = try await fs.holdAlone(name, node: me, since: since) {
            throw CloudstorError(
                .failedPrecondition, "volume \(name) is in use on \(other), which holds it mounted (\(try await leaseNote(other)))")
        }
        return .attached(try loops.attachImage(id, file: (fs.top, name)))
    }

    /// Releasing flushes the image to the server first: the next holder reads all
    /// this node wrote. Taking the hold is `attach`'s.
    public func setHeld(id: String, _ held: Bool) async throws(CloudstorError) {
        guard !held else { return }
        let name = try name(of: id)
        let (fs, me) = (self.fs, node)
        try await FileSystemIO.run { () throws(CloudstorError) in
            if try fs.entry(name) != nil { try fs.flush(name) }
            try fs.release(name, node: me)
        }
    }

    /// This node's loop device, or the hold of a node found not running (its lease
    /// older than `takeoverAfter`), which is forgotten.
    public func detach(id: String, from node: String, force: Bool) async throws(CloudstorError) {
        guard node != self.node else { return try loops.detachHere(id: id) }
        let name = try name(of: id)
        let fs = self.fs
        logger.warning("taking over from a node whose lease has expired", metadata: ["volume": "\(name)", "node": "\(node)"])
        try await FileSystemIO.run { () throws(CloudstorError) in try fs.release(name, node: node) }
    }

    public func remove(id: String) async throws(CloudstorError) {
        let name = try name(of: id)
        // Just after the last unmount the kernel may still be letting go of the device.
        for _ in 0..<50 {
            guard try loops.attachedHere(id: id) != nil else { break }
            try loops.detachHere(id: id)
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let device = try loops.attachedHere(id: id) {
            throw CloudstorError(.failedPrecondition, "image \(id) is still attached to \(device); is it mounted outside cloudstor?")
        }
        let fs = self.fs
        // Holds are checked under the record's lock; the image goes to the trash, which
        // is emptied at once (one unlink per image, however large), with whatever a
        // removal that crashed left there.
        _ = try await fs.remove(name)
        _ = try await FileSystemIO.run { () throws(CloudstorError) in try fs.emptyTrash(olderThan: .zero) }
        loops.known.forget(id)
    }

    /// A node is running while its lease is younger than `takeoverAfter`; without
    /// that setting, always (only an operator declares a node dead).
    public func isRunning(node: String) async throws(CloudstorError) -> Bool {
        guard node != self.node, let takeoverAfter else { return true }
        let fs = self.fs
        guard let age = try await FileSystemIO.run({ () throws(CloudstorError) in try fs.leaseAge(of: node) }) else { return true }
        return age < takeoverAfter
    }

    public func deviceNames(id: String, attachedAs device: String) -> [String] { [device] }

    public func attachmentUse() async -> AttachmentLimit? { nil }

    /// Grows the image at once; its filesystem grows at its next mount.
    public func modify(_ record: VolumeRecord, to options: BlockOptions) async throws(CloudstorError) -> BlockModification {
        let name = try name(of: record.cloudID)
        let fs = self.fs
        if let sizeGiB = options.sizeGiB {
            try await FileSystemIO.run { () throws(CloudstorError) in try fs.growImage(name, to: sizeGiB, creating: false) }
        }
        return BlockModification(state: .completed, progress: 100, startedAt: Date().formatted(.iso8601))
    }

    public func modification(of id: String) async throws(CloudstorError) -> BlockModification? { nil }

    public func modificationsInProgress() async throws(CloudstorError) -> [String: BlockModification] { [:] }

    public func orphans(moving: Set<String>) async throws(CloudstorError) -> [Orphan] { [] }

    public func prune(ids: [String], moving: Set<String>) async throws(CloudstorError) -> [String] {
        if let id = ids.first { throw CloudstorError(.notFound, "\(id) is not an orphan of this stack") }
        return []
    }

    // MARK: Leases

    public func renewIfDue() async {
        let due = lease.withLock { $0.due <= .now }
        guard due else { return }
        let fs = self.fs
        do {
            try await FileSystemIO.run { () throws(CloudstorError) in try fs.renewLease() }
            let wasAway = lease.withLock { state in
                defer { state = (.now + Self.renewEvery, false) }
                return state.failed
            }
            if wasAway { await recheckHolds() }
        } catch {
            let first = lease.withLock { state in
                defer { state = (.now + .seconds(1), true) }
                return !state.failed
            }
            if first { logger.error("cannot renew this node's lease on the cluster root; what is mounted stays mounted", metadata: ["error": "\(error)"]) }
        }
    }

    /// After the cluster root was away: every image this node has attached must
    /// still be held by it. A hold an operator cleared meanwhile is written again
    /// if no other node has taken the volume; if one has, two nodes write one image.
    func recheckHolds() async {
        let (fs, me) = (fs, node)
        for (id, device) in loops.known.attached().sorted(by: { $0.key < $1.key }) {
            guard let name = try? name(of: id) else { continue }
            do {
                let holders = try await FileSystemIO.run { () throws(CloudstorError) in try fs.holders(name).map(\.node) }
                guard !holders.contains(me) else { continue }
                if let other = try await fs.holdAlone(name, node: me, since: Date().formatted(.iso8601)) {
                    logger.critical(
                        "a volume mounted here is held by another node: stop the task using it here",
                        metadata: ["volume": "\(name)", "device": "\(device)", "holder": "\(other)"])
                }
            } catch {
                logger.error("cannot check this node's hold", metadata: ["volume": "\(name)", "error": "\(error)"])
            }
        }
        logger.notice("the cluster root is back; checked this node's holds")
    }

    public func clearHolds(of other: String) async throws(CloudstorError) -> [String] {
        let fs = self.fs
        let age = try await FileSystemIO.run { () throws(CloudstorError) in try fs.leaseAge(of: other) }
        let names = try await FileSystemIO.run { () throws(CloudstorError) in try fs.clearHolds(of: other) }
        logger.notice(
            "an operator declared a node dead", metadata: ["node": "\(other)", "lease_age": "\(age.map { "\($0.milliseconds / 1000)s" } ?? "none")"])
        return names
    }
}
