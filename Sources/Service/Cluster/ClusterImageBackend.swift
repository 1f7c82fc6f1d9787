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
    private let lease: Mutex<Lease>

    /// This node's lease as it last renewed it.
    struct Lease {
        var due: ContinuousClock.Instant
        var failing = false
        /// When it was last renewed (this machine's clock) and what the server's
        /// clock said then: other leases' ages are reckoned on the server's clock.
        var renewed: ContinuousClock.Instant
        var renewedOnServer: Double
        /// Since when it has been renewed without a failure or a stall: a node that
        /// was itself away takes nothing over until it has been back `takeoverAfter`.
        var steadySince: ContinuousClock.Instant
    }

    public init(root: String, node: String, takeoverAfter: Duration?, logger: Logger) throws(CloudstorError) {
        fs = try SharedFileSystem(root: root, node: node, layout: .images)
        loops = LoopImageBackend(directory: fs.top.path, node: node)
        self.node = node
        self.takeoverAfter = takeoverAfter
        self.logger = logger
        let now = ContinuousClock.now
        lease = Mutex(Lease(due: now + Self.renewEvery, renewed: now, renewedOnServer: try fs.renewLease(), steadySince: now))
        try fs.removeTemporaryFiles()
        _ = try fs.emptyTrash(olderThan: .zero)
    }

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
        let holder = holders.contains(node) ? node : holders.first
        var volume = BlockVolume(id: id, zone: zone, state: "available", sizeGiB: Int(entry.size >> 30), holder: holder)
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
        let age = try await leaseAge(of: other)
        let renewed = age.map { "its lease was renewed \($0.milliseconds / 1000) s ago" } ?? "it has no lease on the cluster root"
        return "\(renewed); if \(other) is dead, clear its holds with `cloudstorctl volume unmount --node \(other) --all`"
    }

    /// How long ago the node renewed its lease, on the server's clock (the last
    /// time this node renewed its own, and the time passed since): no two nodes'
    /// clocks are compared. nil if it has no lease.
    func leaseAge(of other: String) async throws(CloudstorError) -> Duration? {
        let fs = self.fs
        guard let renewed = try await FileSystemIO.run({ () throws(CloudstorError) in try fs.leaseRenewed(by: other) }) else { return nil }
        return age(of: renewed)
    }

    private func age(of renewed: Double) -> Duration {
        let (mine, at) = lease.withLock { ($0.renewedOnServer, $0.renewed) }
        let serverNow = mine + Double((ContinuousClock.now - at).milliseconds) / 1000
        return .milliseconds(max(0, Int64((serverNow - renewed) * 1000)))
    }

    public func attach(id: String, to node: String) async throws(CloudstorError) -> AttachOutcome {
        let name = try name(of: id)
        let (fs, me) = (self.fs, self.node)
        let since = Date().formatted(.iso8601)
        if let other = try await fs.holdAlone(name, node: me, since: since) {
            throw CloudstorError(
                .failedPrecondition, "volume \(name) is in use on \(other), which holds it mounted (\(try await leaseNote(other)))")
        }
        do {
            return .attached(try loops.attachImage(id, file: (fs.top, name)))
        } catch {
            // Not attached: the hold goes, or other nodes wait for it until this one restarts.
            try? fs.release(name, node: me)
            throw error
        }
    }

    /// Releasing waits until no loop device of this node backs the image (a mount
    /// elsewhere on the machine would keep it) and flushes the image to the server:
    /// the next holder reads all this node wrote. Taking the hold is `attach`'s.
    public func setHeld(id: String, _ held: Bool) async throws(CloudstorError) {
        guard !held else { return }
        let name = try name(of: id)
        try await letGo(id, "volume \(name) is unmounted, and its hold is kept")
        let (fs, me) = (self.fs, node)
        try await FileSystemIO.run { () throws(CloudstorError) in
            if try fs.entry(name) != nil { try fs.flush(name) }
            try fs.release(name, node: me)
        }
    }

    /// This node's loop device, or the hold of a node found not running (its lease
    /// older than `takeoverAfter`), which is forgotten: under the record's lock, the
    /// lease looked at again.
    public func detach(id: String, from node: String, force: Bool) async throws(CloudstorError) {
        guard node != self.node else { return try loops.detachHere(id: id) }
        let name = try name(of: id)
        guard let takeoverAfter else {
            throw CloudstorError(.failedPrecondition, "volume \(name) is held by \(node); only an operator can declare that node dead")
        }
        let fs = self.fs
        let taken = try await fs.withRecordLock(name) { () throws(CloudstorError) -> Bool in
            guard let renewed = try fs.leaseRenewed(by: node), self.age(of: renewed) >= takeoverAfter, self.steady(for: takeoverAfter) else { return false }
            try fs.release(name, node: node)
            return true
        }
        if taken == true {
            logger.warning("took over from a node whose lease has expired", metadata: ["volume": "\(name)", "node": "\(node)"])
        }
    }

    /// Detaches this node's loop device of the image and waits until it is gone: just
    /// after the last unmount the kernel may still be letting go of it, and a mount
    /// elsewhere on the machine keeps it (then refused, saying `outcome`).
    private func letGo(_ id: String, _ outcome: String) async throws(CloudstorError) {
        for _ in 0..<100 {
            guard try loops.knownDevice(id: id) != nil else { return }
            try loops.detachHere(id: id)
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let device = try loops.knownDevice(id: id) {
            throw CloudstorError(.failedPrecondition, "\(outcome): \(device) still backs its image (mounted elsewhere on this machine?)")
        }
    }

    /// Whether this node has renewed its own lease without a break for `duration`.
    private func steady(for duration: Duration) -> Bool {
        lease.withLock { !$0.failing && ContinuousClock.now - $0.steadySince >= duration }
    }

    public func remove(id: String) async throws(CloudstorError) {
        let name = try name(of: id)
        try await letGo(id, "volume \(name) is not removed")
        let fs = self.fs
        // Holds are checked under the record's lock; the image goes to the trash, which
        // is emptied at once (one unlink per image, however large), with whatever a
        // removal that crashed left there.
        _ = try await fs.remove(name)
        _ = try await FileSystemIO.run { () throws(CloudstorError) in try fs.emptyTrash(olderThan: .zero) }
        loops.known.forget(id)
    }

    /// A node is running while its lease is younger than `takeoverAfter` (on the
    /// server's clock), and always while this node itself has not been renewing its
    /// own that long; without that setting, always (only an operator declares a
    /// node dead).
    public func isRunning(node: String) async throws(CloudstorError) -> Bool {
        guard node != self.node, let takeoverAfter, steady(for: takeoverAfter) else { return true }
        guard let age = try await leaseAge(of: node) else { return true }
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

    public func renewIfDue() async -> Bool {
        guard lease.withLock({ $0.due <= .now }) else { return false }
        let fs = self.fs
        do {
            let onServer = try await FileSystemIO.run { () throws(CloudstorError) in try fs.renewLease() }
            return lease.withLock { state in
                let now = ContinuousClock.now
                // Failed, or so late that a hard NFS mount must have stalled it.
                let away = state.failing || now - state.renewed > Self.renewEvery * 3
                state = Lease(due: now + Self.renewEvery, renewed: now, renewedOnServer: onServer, steadySince: away ? now : state.steadySince)
                return away
            }
        } catch {
            let first = lease.withLock { state in
                defer { (state.failing, state.due) = (true, .now + .seconds(1)) }
                return !state.failing
            }
            if first { logger.error("cannot renew this node's lease on the cluster root; what is mounted stays mounted", metadata: ["error": "\(error)"]) }
            return false
        }
    }

    public func reassert(id: String) async throws(CloudstorError) -> String? {
        let name = try name(of: id)
        let (fs, me) = (self.fs, node)
        let holders = try await FileSystemIO.run { () throws(CloudstorError) in try fs.holders(name).map(\.node) }
        guard !holders.contains(me) else { return nil }
        logger.notice("writing again a hold lost while the cluster root was away", metadata: ["volume": "\(name)"])
        return try await fs.holdAlone(name, node: me, since: Date().formatted(.iso8601))
    }

    public func clearHolds(of other: String) async throws(CloudstorError) -> [String] {
        let fs = self.fs
        let age = try await leaseAge(of: other)
        let names = try await FileSystemIO.run { () throws(CloudstorError) in try fs.clearHolds(of: other) }
        logger.notice(
            "an operator declared a node dead", metadata: ["node": "\(other)", "lease_age": "\(age.map { "\($0.milliseconds / 1000)s" } ?? "none")"])
        return names
    }
}
