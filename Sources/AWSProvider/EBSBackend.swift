import CloudstorAWS
import CloudstorService
import FoundationEssentials
import Logging
import Synchronization

/// Relocatable volumes on EBS, seen from one instance: create in its zone, attach
/// to it under a free device name, detach, delete; the moves of `MovableBlockBackend`
/// by snapshot. Every fact another node needs is a tag.
final class EBSBackend: MovableBlockBackend, HolderMarks {
    let ec2: EC2Client
    let cache: EBSVolumeCache
    let describer: EBSDescribeBatcher
    let stackHash: String
    let node: String
    let zone: String
    let maxAttachments: Int
    /// Where `maxAttachments` comes from, for messages.
    let limitSource: String
    /// The account encrypts new volumes by default (read at start): `encrypted=false`
    /// cannot be honoured for a new volume. Volumes made before it was turned on
    /// keep their options.
    let encryptedByDefault: Bool
    let kms: KMSClient
    let logger: Logger
    /// Device names of detaches not yet confirmed: never handed out again meanwhile.
    private let detaching = Mutex<[String: String]>([:])  // volume id → device
    /// Device names of attaches on their way, so that Mounts at once pick different ones.
    private let attaching = Mutex<[String: String]>([:])
    /// The modifications in progress that the start found (nil: none looked up, or
    /// given out already): the first `modificationsInProgress` answers from it.
    let modificationsAtStart: Mutex<[String: BlockModification]?>  // volume id → device

    init(
        ec2: EC2Client, kms: KMSClient, cache: EBSVolumeCache, stackHash: String, node: String, zone: String, maxAttachments: Int,
        limitSource: String, encryptedByDefault: Bool, modificationsAtStart: [String: BlockModification]? = nil, logger: Logger
    ) {
        self.kms = kms
        self.ec2 = ec2
        self.cache = cache
        self.describer = EBSDescribeBatcher(ec2: ec2)
        self.stackHash = stackHash
        self.node = node
        self.zone = zone
        self.maxAttachments = maxAttachments
        self.limitSource = limitSource
        self.encryptedByDefault = encryptedByDefault
        self.modificationsAtStart = Mutex(modificationsAtStart)
        self.logger = logger
    }

    func create(name: String, options stored: BlockOptions) async throws(CloudstorError) -> String {
        let options = EBSOptions(stored)
        let encoded = EBSTags.encode(stored.values)
        guard encoded.utf8.count <= 256 else {
            throw CloudstorError(
                .invalidArgument,
                "the options take \(encoded.utf8.count) characters as the EBS tag that keeps them, which holds 256: name the KMS key by its id or a shorter alias")
        }
        if let snapshot = options.snapshot { try await checkRestorable(snapshot, options) }
        if options.encrypted == false, encryptedByDefault {
            throw CloudstorError(
                .failedPrecondition, "this account encrypts every new EBS volume in this region (EBS encryption by default): encrypted=false cannot be honoured")
        }
        if let key = options.kmsKeyID { try await checkUsable(key) }
        // A token of its own for each Create: EC2 answers a repeated token with the
        // volume it made for it, even once that one is deleted, so a token made from
        // the name would hand a volume removed a moment ago back to its next create.
        // The transport's retries of this one request send it again unchanged. Two
        // nodes that create the same name at once make two volumes; the look-up below
        // keeps the first made.
        let input = EC2Client.CreateVolumeInput(
            availabilityZone: zone, sizeGiB: options.sizeGiB, volumeType: options.type.rawValue, iops: options.iops,
            throughput: options.throughput, encrypted: options.encrypted, kmsKeyID: options.kmsKeyID, snapshotID: options.snapshot,
            tags: tags(name: name, generation: 1) + [
                AWSTag(EBSTags.backing, Backing.relocatable.rawValue), AWSTag(EBSTags.options, encoded),
                AWSTag(EBSTags.created, Date().formatted(.iso8601)),
            ],
            clientToken: UUID().uuidString.lowercased())
        do {
            let made = try await ec2.createVolume(input)
            await cache.put(made)
        } catch {
            throw CloudstorError(error, "create EBS volume for \(name)")
        }
        // Two creates of one name that got two volumes: every node keeps the first
        // made and the others delete their own.
        let all = try await cache.refresh(name: name)
        guard let winner = EBSTags.live(all) else {
            throw CloudstorError(.unavailable, "volume \(name) was created but EC2 does not list it yet; try again")
        }
        for loser in all where loser.volumeID != winner.volumeID && loser.tags[EBSTags.movedFrom] == nil && !EBSTags.isGone(loser)
            && EBSTags.generation(of: loser) == 1 && loser.attachments.isEmpty
        {
            try? await ec2.deleteVolume(volumeID: loser.volumeID)
            await cache.forget(id: loser.volumeID)
        }
        return winner.volumeID
    }

    /// A volume is made only from a completed snapshot of this account, in this
    /// region, no larger than the volume: refused before CreateVolume otherwise.
    private func checkRestorable(_ snapshot: String, _ options: EBSOptions) async throws(CloudstorError) {
        guard let found = try await self.snapshot(id: snapshot) else {
            throw CloudstorError(.invalidArgument, "snapshot \(snapshot) is not one of this account's snapshots in this region")
        }
        switch found.state {
        case "completed": break
        case "pending":
            throw CloudstorError(
                .unavailable, "snapshot \(snapshot) is pending (\(found.progress)): a volume can be made from it once it is completed; try again")
        default:
            throw CloudstorError(.failedPrecondition, "snapshot \(snapshot) is in state \(found.state): no volume can be made from it")
        }
        try options.check(snapshotSizeGiB: found.volumeSizeGiB)
    }

    /// The snapshot of this id in this account and region, nil if there is none.
    func snapshot(id: String) async throws(CloudstorError) -> EC2Snapshot? {
        do {
            return try await ec2.describeSnapshots(ids: [id]).items.first { $0.snapshotID == id }
        } catch {
            guard error.code == "InvalidSnapshot.NotFound" else { throw CloudstorError(error, "look up snapshot \(id)") }
            return nil
        }
    }

    /// A key EBS can encrypt with: it exists (for this account, in this region) and
    /// is enabled. Refused before CreateVolume otherwise: EC2 would make a volume
    /// that goes to `error` when it cannot use the key.
    private func checkUsable(_ key: String) async throws(CloudstorError) {
        let found: KMSKey
        do {
            found = try await kms.describeKey(key)
        } catch {
            guard error.code == "NotFoundException" else { throw CloudstorError(error, "look up KMS key \(key)") }
            throw CloudstorError(.invalidArgument, "KMS key \(key) does not exist in this region (or this account cannot see it)")
        }
        guard found.KeyState == "Enabled" else {
            throw CloudstorError(
                .failedPrecondition, "KMS key \(key) is \(found.KeyState ?? "not usable"): EBS cannot encrypt with it; enable it or name another")
        }
    }

    func describe(id: String, fresh: Bool) async throws(CloudstorError) -> BlockVolume? {
        if !fresh, let known = await cache.volume(id: id) { return EBSTags.block(of: known) }
        return try await describeNow(id).map(EBSTags.block)
    }

    /// The volume as EC2 sees it now; concurrent look-ups share one call.
    func describeNow(_ id: String) async throws(CloudstorError) -> EC2Volume? {
        let found: EC2Volume?
        do { found = try await describer.describe(id) } catch { throw CloudstorError(error, "describe EBS volume \(id)") }
        guard let volume = found else {
            await cache.forget(id: id)
            return nil
        }
        await cache.put(volume)
        return EBSTags.isGone(volume) ? nil : volume
    }

    func attach(id: String, to node: String) async throws(CloudstorError) -> AttachOutcome {
        // The caller has just looked at the volume: what the cache holds is current.
        if let volume = await cache.volume(id: id), let attachment = volume.attachments.first(where: { $0.instanceID == node && $0.state != "detached" }) {
            try await waitAttached(id, node: node)
            return .attached(DeviceAttachment(names: deviceNames(id: id, attachedAs: attachment.device)))
        }
        var taken = try await devicesInUse(on: node, known: false)
        defer { attaching.withLock { _ = $0.removeValue(forKey: id) } }
        for _ in 0..<4 {
            // Picked and reserved under one lock: Mounts at once take different names,
            // and count against the limit together.
            let pick = attaching.withLock { (reserved: inout [String: String]) -> DevicePick in
                reserved[id] = nil
                let inUse = taken.union(reserved.values)
                // The root device is in `inUse` but does not count against the limit.
                guard inUse.count - 1 < maxAttachments else { return .full(inUse.count - 1) }
                guard let device = Self.deviceNames.first(where: { !inUse.contains($0) }) else { return .none }
                reserved[id] = device
                return .device(device)
            }
            let device: String
            switch pick {
            case .full(let attached):
                return .full(AttachmentLimit(attached: attached, limit: maxAttachments, source: limitSource))
            case .none: throw CloudstorError(.failedPrecondition, "no free device name on instance \(node) to attach \(id)")
            case .device(let picked): device = picked
            }
            do {
                _ = try await ec2.attachVolume(volumeID: id, instanceID: node, device: device)
            } catch {
                // EC2 counts what this node does not (interfaces added since the start,
                // volumes attached by hand): its limit is the one that holds.
                if error.code == "AttachmentLimitExceeded" {
                    return .full(AttachmentLimit(attached: taken.count - 1, limit: taken.count - 1, source: "EC2 (AttachmentLimitExceeded)"))
                }
                guard error.code == "InvalidParameterValue" else { throw CloudstorError(error, "attach EBS volume \(id) to \(node)") }
                // The slot is used by something this node does not track (another stack, a root device).
                taken = try await devicesInUse(on: node, known: true).union(taken).union([device])
                continue
            }
            try await waitAttached(id, node: node)
            return .attached(DeviceAttachment(names: deviceNames(id: id, attachedAs: device)))
        }
        throw CloudstorError(.failedPrecondition, "no free device name on instance \(node) to attach \(id)")
    }

    /// On Nitro, an NVMe device whose serial is the volume id without its dash
    /// (udev's by-id link); on Xen, the name it was attached as, sdX as xvdX.
    func deviceNames(id: String, attachedAs device: String) -> [String] {
        ["nvme-Amazon_Elastic_Block_Store_\(id.replacing("-", with: ""))", device.replacing("/dev/sd", with: "/dev/xvd")]
    }

    /// From what this node last saw (no call): its stack's volumes attached here,
    /// attaches and detaches under way.
    func attachmentUse() async -> AttachmentLimit? {
        var inUse = Set(detaching.withLock { Array($0.values) }).union(attaching.withLock { Array($0.values) })
        inUse.formUnion(Self.devices(on: node, of: await cache.cached(), including: { $0 != "detached" }))
        return AttachmentLimit(attached: inUse.count, limit: maxAttachments, source: limitSource)
    }

    private enum DevicePick { case device(String), full(Int), none }

    /// /dev/xvdf…/dev/xvdz, then /dev/xvdba…: the names EC2 accepts for data volumes.
    static let deviceNames: [String] =
        (UInt8(ascii: "f")...UInt8(ascii: "z")).map { "/dev/xvd\(Character(UnicodeScalar($0)))" }
        + (UInt8(ascii: "a")...UInt8(ascii: "z")).map { "/dev/xvdb\(Character(UnicodeScalar($0)))" }

    /// Device names in use on the instance: its stack volumes as this node knows
    /// them (or, when `known`, as EC2 lists them) plus detaches still pending.
    private func devicesInUse(on node: String, known asked: Bool) async throws(CloudstorError) -> Set<String> {
        var used = Set(detaching.withLock { Array($0.values) })
        used.insert("/dev/xvda")
        if asked {
            do {
                for instance in try await ec2.describeInstances(ids: [node]) {
                    used.formUnion(instance.blockDevices.keys.map { $0.replacing("/dev/sd", with: "/dev/xvd") })
                }
            } catch {
                throw CloudstorError(error, "describe instance \(node)")
            }
        }
        return used.union(Self.devices(on: node, of: try await cache.all(), including: { _ in true }))
    }

    /// The device names (sd… as xvd…) of the volumes attached to the node, of those
    /// whose attachment state `including` takes.
    private static func devices(on node: String, of volumes: [String: [EC2Volume]], including: (String) -> Bool) -> Set<String> {
        var names: Set<String> = []
        for volume in volumes.values.joined() {
            for attachment in volume.attachments where attachment.instanceID == node && including(attachment.state) {
                names.insert(attachment.device.replacing("/dev/sd", with: "/dev/xvd"))
            }
        }
        return names
    }

    private func waitAttached(_ id: String, node: String) async throws(CloudstorError) {
        for wait in Self.polls {
            // An attach takes seconds on EBS: each look costs a call, so they thin out.
            try await pauseOnTick(wait)
            guard let volume = try await describeNow(id) else { throw CloudstorError(.notFound, "EBS volume \(id) is gone") }
            guard let attachment = volume.attachments.first(where: { $0.instanceID == node }) else {
                throw CloudstorError(.unavailable, "EBS volume \(id) did not stay attached to \(node); try again")
            }
            if attachment.state == "attached" { return }
        }
        throw CloudstorError(.unavailable, "EBS volume \(id) is still attaching to \(node) after 2 minutes; try again")
    }

    func detach(id: String, from node: String, force: Bool) async throws(CloudstorError) {
        guard let volume = try await describeNow(id), let attachment = volume.attachments.first(where: { $0.instanceID == node }) else { return }
        detaching.withLock { $0[id] = attachment.device }
        defer { detaching.withLock { _ = $0.removeValue(forKey: id) } }
        if attachment.state != "detaching" || force {
            do {
                _ = try await ec2.detachVolume(volumeID: id, instanceID: node, force: force)
            } catch {
                // IncorrectState, InvalidAttachment.NotFound: detached meanwhile.
                guard error.code == "IncorrectState" || error.code == "InvalidAttachment.NotFound" else {
                    throw CloudstorError(error, "detach EBS volume \(id) from \(node)")
                }
            }
        }
        for wait in Self.polls {
            try await pauseOnTick(wait)
            guard let now = try await describeNow(id), now.attachments.contains(where: { $0.instanceID == node && $0.state != "detached" }) else {
                return
            }
        }
        throw CloudstorError(.unavailable, "EBS volume \(id) is still detaching from \(node) after 2 minutes (is it mounted there?); try again")
    }

    func remove(id: String) async throws(CloudstorError) {
        // The caller has just looked at the volume: what the cache holds is current.
        guard let name = await cache.volume(id: id)?.tags[EBSTags.volume] else {
            return try await deleteVolume(id, "delete EBS volume \(id)")
        }
        // The volume goes last, so that a Remove interrupted anywhere is finished by
        // the next one: once it is gone, nothing is left to ask for its name. Before
        // it, the copies of moves from it that never committed (one would become the
        // volume of its name again), and the snapshots Cloudstor made of it; those of
        // AWS Backup, Data Lifecycle Manager or a user stay, whatever tags they copied.
        let all = try await cache.refresh(name: name).filter { !EBSTags.isGone($0) }
        for copy in all where copy.tags[EBSTags.movedFrom] == id {
            try await deleteVolume(copy.volumeID, "delete \(copy.volumeID), an unfinished move's copy of \(name)")
        }
        // The volume it replaced, if the move that made it is not cleaned up yet: with
        // this one gone, that one would be the volume of its name again.
        if let from = all.first(where: { $0.volumeID == id })?.tags[EBSTags.movedFrom], all.contains(where: { $0.volumeID == from }) {
            try await deleteVolume(from, "delete \(from), the volume \(name) was moved from")
        }
        let snapshots: [EC2Snapshot]
        do {
            snapshots = try await ec2.describeSnapshots(filters: [.tag(EBSTags.stack, stackHash), .tag(EBSTags.volume, name)]).items
        } catch {
            throw CloudstorError(error, "list the snapshots of \(name)")
        }
        for snapshot in snapshots where EBSTags.isOurs(snapshot, stackHash: stackHash) {
            try await deleteSnapshot(snapshot.snapshotID, "delete the snapshot \(snapshot.snapshotID) of \(name)")
        }
        try await deleteVolume(id, "delete EBS volume \(id)")
    }

    func isRunning(node: String) async throws(CloudstorError) -> Bool {
        do {
            return try await ec2.describeInstances(ids: [node]).first?.state == "running"
        } catch {
            guard error.code == "InvalidInstanceID.NotFound" else { throw CloudstorError(error, "describe instance \(node)") }
            return false
        }
    }

    func setHeld(id: String, _ held: Bool) async throws(CloudstorError) {
        do {
            if held {
                try await ec2.createTags(resourceIDs: [id], tags: [AWSTag(EBSTags.holder, node)])
            } else {
                try await ec2.deleteTags(resourceIDs: [id], matching: [AWSTag(EBSTags.holder, node)])
            }
        } catch {
            throw CloudstorError(error, "tag EBS volume \(id)")
        }
        if var known = await cache.volume(id: id), held || known.tags[EBSTags.holder] == node {
            known.tags[EBSTags.holder] = held ? node : nil
            await cache.put(known)
        }
    }

    /// Deletes an EBS volume (one already gone is fine) and forgets it.
    func deleteVolume(_ id: String, _ doing: String) async throws(CloudstorError) {
        do {
            try await ec2.deleteVolume(volumeID: id)
        } catch {
            guard error.code == "InvalidVolume.NotFound" else { throw CloudstorError(error, doing) }
        }
        await cache.forget(id: id)
    }

    /// Deletes a snapshot; one already gone is fine.
    func deleteSnapshot(_ id: String, _ doing: String) async throws(CloudstorError) {
        do {
            try await ec2.deleteSnapshot(snapshotID: id)
        } catch {
            guard error.code == "InvalidSnapshot.NotFound" else { throw CloudstorError(error, doing) }
        }
    }

    /// When to look again at an attachment in progress: soon, then every 2 s, for 2 minutes.
    static let polls: [Duration] = [.milliseconds(250), .milliseconds(500), .seconds(1)] + Array(repeating: .seconds(2), count: 60)

    func tags(name: String, generation: Int) -> [AWSTag] {
        [AWSTag(EBSTags.volume, name), AWSTag(EBSTags.stack, stackHash), AWSTag(EBSTags.generation, String(generation))]
    }

    /// Pauses about `interval` (half of it to one and a half), ending on a multiple
    /// of it since the daemon started: waiters polling at the same interval look at the same instants,
    /// so their DescribeVolumes calls are one (EBSDescribeBatcher).
    func pauseOnTick(_ interval: Duration) async throws(CloudstorError) {
        let clock = ContinuousClock()
        let elapsed = clock.now - Self.ticksFrom
        let ticks = ((elapsed + interval / 2) / interval).rounded(.down) + 1
        let deadline = Self.ticksFrom + interval * ticks
        do { try await Task.sleep(until: deadline, clock: clock) } catch {
            throw CloudstorError(.unavailable, "cancelled: the daemon is stopping; try again")
        }
    }

    private static let ticksFrom = ContinuousClock.now
}
