import CloudstorSupport
import Logging
import ServiceLifecycle

extension VolumeManager {
    private enum MountStep: Sendable {
        case mounted(String)
        case move(VolumeRecord)
        /// Another node moved the volume while this one read it: read it again.
        case changed
        /// This node has as many volumes attached as it may.
        case full(VolumeRecord, AttachmentLimit)
    }

    /// What mounting a relocatable volume here came to.
    private enum BlockMount {
        case mounted(String)
        /// In another zone, or a move not cleaned up: the relocator's.
        case elsewhere
        case full(AttachmentLimit)
    }

    /// Mounts the volume on this node for one holder (a Docker mount id) and returns
    /// the mount point. The first holder attaches and mounts; later ones count. A
    /// volume in another zone is moved here first; the move runs outside the
    /// volume's lock, and a Mount that outwaits `mountWait` answers a retryable
    /// error while the move goes on.
    public func mount(name: String, id: String) async throws(CloudstorError) -> String {
        try VolumeName.validate(name)
        try Self.validateMountID(id)
        let started = ContinuousClock.now
        var detachedEarly: Set<String> = [name]   // each tried once: one whose detach fails is not tried again
        var changes = 0
        while true {
            switch try await mountStep(name: name, id: id, started: started) {
            case .mounted(let path):
                return path
            case .full(let record, let limit):
                // Room is made by a volume that only waits out its detach delay, or whose
                // detach is under way (taken or waited for, under its lock).
                guard let early = await detaches.takeFirst(excluding: detachedEarly) else {
                    throw CloudstorError(.failedPrecondition, "instance \(node) cannot attach \(record.cloudID): \(limit)")
                }
                logger.info("at the attachment limit: detaching an unheld volume early", metadata: ["volume": "\(name)", "detaching": "\(early)"])
                detachedEarly.insert(early)
                await detachUnheld(early)
            case .changed:
                changes += 1
                guard changes < 5 else {
                    throw CloudstorError(.unavailable, "volume \(name) keeps moving between nodes; try again")
                }
            case .move(let record):
                guard let relocator else {
                    throw CloudstorError(.failedPrecondition, "volume \(name) is in another zone and this provider cannot move volumes")
                }
                try await relocator.move(record, wait: configuration.mountWait)
            }
        }
    }

    /// One try at a Mount, under the volume's lock.
    private func mountStep(name: String, id: String, started: ContinuousClock.Instant) async throws(CloudstorError) -> MountStep {
        try await locks.withLock(name) { () async throws(CloudstorError) -> MountStep in
            // Asked afresh: another node may have moved or removed it since this one last looked.
            let record = try await existing(name, fresh: true)
            let path: String
            switch record.backing {
            case .shared:
                path = try await sharedBackend().hold(record, mounts: ledger.holdCount(name) + 1)
            case .relocatable:
                let mounted: BlockMount
                do throws(CloudstorError) {
                    mounted = try await mountBlock(record)
                } catch {
                    // Its storage went: another node's move committed since the record was read.
                    guard error.code == .notFound, try await lookup(name, fresh: true)?.cloudID != record.cloudID else { throw error }
                    return .changed
                }
                switch mounted {
                case .mounted(let mountpoint): path = mountpoint
                case .elsewhere: return .move(record)
                case .full(let limit): return .full(record, limit)
                }
            }
            await detaches.cancel(name)
            let total = try ledger.addHold(on: name, id: id)
            logger.info(
                "mounted volume", metadata: ["volume": "\(name)", "id": "\(id)", "holds": "\(total)", "ms": "\((ContinuousClock.now - started).milliseconds)"])
            return .mounted(path)
        }
    }

    /// Releases one hold by mount id; the last one unmounts at once and detaches
    /// after the detach delay. Releasing an id that holds nothing succeeds and
    /// changes nothing (Docker may repeat itself).
    public func unmount(name: String, id: String) async throws(CloudstorError) {
        try VolumeName.validate(name)
        try Self.validateMountID(id)
        try await locks.withLock(name) { () async throws(CloudstorError) in
            let record = try await existing(name)
            guard let held = ledger.holds(on: name)[id] else {
                logger.notice("unmount by an id that holds nothing", metadata: ["volume": "\(name)", "id": "\(id)"])
                return
            }
            // The last hold goes only once the volume is unmounted, so the ledger
            // never says unmounted while the kernel still has it mounted.
            let remaining = ledger.holdCount(name) - 1
            if held == 1, remaining == 0 {
                try await release(record)
            }
            try ledger.releaseHold(on: name, id: id)
            if record.backing == .shared, remaining > 0 {
                _ = try await sharedBackend().hold(record, mounts: remaining)
            }
            logger.info("unmounted volume", metadata: ["volume": "\(name)", "id": "\(id)"])
        }
    }

    /// Before the daemon serves, after a restart or a crash: this node's holds on
    /// the shared file systems made to match its ledger (no cloud call). Returns
    /// the shared volumes whose hold is recorded there.
    public func reconcileHolds() async -> Set<String> {
        await shared?.reconcile(held: Set(ledger.holdCounts().filter { $0.value > 0 }.keys)) ?? []
    }

    /// While the daemon serves, after `reconcileHolds`: held volumes are mounted
    /// again, unheld relocatable ones attached here are unmounted and detached (so
    /// a stop may leave detaches undone), and moves this node had in flight go on.
    /// Calls are answered meanwhile (listing a stack of 10,000 volumes takes
    /// seconds): each volume is restored under its lock, from its hold count and
    /// moves as they are then, so a Mount or Unmount that came first is respected.
    public func reconcile(recorded: Set<String>) async {
        let records: [VolumeRecord]
        let mounted: Set<String>
        do {
            records = try await allRecords()
            mounted = try host.mountPoints()
        } catch {
            logger.error("cannot list volumes to restore them", metadata: ["error": "\(error)"])
            modificationsRecovery.withLock { $0 = .now + .seconds(30) }
            return
        }
        await recoverModifications(among: records)
        for record in records {
            // Stopping: what is left is the next start's, like the detaches that are due.
            if Task.isShuttingDownGracefully {
                logger.notice("stopping: the rest of the reconcile is left to the next start", metadata: ["volume": "\(record.name)"])
                return
            }
            do {
                try await locks.withLock(record.name) { () async throws(CloudstorError) in
                    // A claim of this node's whose move is not in its ledger (given up, and
                    // its release failed) keeps every other node from mounting the volume.
                    let holds = ledger.holdCount(record.name)
                    if record.backing == .relocatable, let relocator, let volume = try await block.describe(id: record.cloudID, fresh: false) {
                        if ledger.moves()[record.name] == nil, let claim = volume.claim, claim.node == node {
                            logger.notice("clearing a move claim this node left", metadata: ["volume": "\(record.name)"])
                            try await relocator.backend.releaseClaim(claim, on: record.cloudID)
                        }
                        // No Remove runs here yet (this one holds the volume's lock): a mark
                        // of this node's is what an interrupted one left.
                        if let removal = volume.removal, removal.node == node {
                            logger.notice("clearing a removal mark this node left", metadata: ["volume": "\(record.name)"])
                            try await relocator.backend.releaseClaim(removal, on: record.cloudID)
                        }
                    }
                    switch (record.backing, holds > 0) {
                    case (.shared, true) where !recorded.contains(record.name):
                        _ = try await sharedBackend().hold(record, mounts: holds)
                    case (.shared, _):
                        break
                    case (.relocatable, true):
                        // A crash while a background snapshot started left it frozen: every writer waits.
                        if mounted.contains(mountpoint(of: record)), await host.thaw(mountpoint(of: record)) {
                            logger.notice("thawed a filesystem a crash left frozen", metadata: ["volume": "\(record.name)"])
                        }
                        // Still mounted from before: a hold on a cluster root may have been
                        // cleared meanwhile (an operator who took this node for dead).
                        if mounted.contains(mountpoint(of: record)) { try await reassertHold(record) }
                        switch try await mountBlock(record) {
                        case .mounted: break
                        case .elsewhere: logger.error("a held volume is in another zone", metadata: ["volume": "\(record.name)"])
                        case .full(let limit):
                            logger.error("a held volume cannot be attached again", metadata: ["volume": "\(record.name)", "why": "\(limit)"])
                        }
                    case (.relocatable, false):
                        let path = mountpoint(of: record)
                        if mounted.contains(path) { try await host.unmount(path) }
                        let volume = try await block.describe(id: record.cloudID, fresh: false)
                        // A mark of this node's with no hold behind it (a crash between the
                        // mark and the mount, or before the Unmount cleared it) holds nothing.
                        if volume?.holder == node { try await markHeld(record, false) }
                        if volume?.attachment?.node == node { try await block.detach(id: record.cloudID, from: node, force: false) }
                    }
                }
            } catch {
                logger.error("cannot restore volume", metadata: ["volume": "\(record.name)", "error": "\(error)"])
            }
        }
        // The ledger as it is now: a Mount served meanwhile may have finished a move.
        for name in ledger.moves().keys.sorted() {
            guard let relocator, let record = records.first(where: { $0.name == name }) else { continue }
            logger.info("resuming a move", metadata: ["volume": "\(name)"])
            relocator.start(record)
        }
    }

    /// Runs body with the record and mount point of a relocatable volume mounted
    /// here, under its lock (so it is not unmounted meanwhile), and returns true;
    /// does nothing and returns false otherwise.
    func snapshot(_ name: String, _ body: (VolumeRecord, String) async throws(CloudstorError) -> Void) async throws(CloudstorError) -> Bool {
        try await locks.withLock(name) { () async throws(CloudstorError) -> Bool in
            guard ledger.holdCount(name) > 0, let record = try await store.volume(named: name, fresh: false), record.backing == .relocatable else {
                return false
            }
            let path = mountpoint(of: record)
            guard try host.isMounted(path) else { return false }
            try await body(record, path)
            return true
        }
    }

    /// Detaches the volumes whose detach delay has passed, unless mounted again.
    /// Once the daemon is stopping it starts no more (each takes seconds on EBS, and
    /// a stop has a deadline): they stay queued, and the next start's reconcile
    /// detaches them.
    func detachDue() async {
        for name in await detaches.takeDue() {
            if Task.isShuttingDownGracefully {
                await detaches.schedule(name, after: .zero)
            } else {
                await detachUnheld(name)
            }
            await detaches.finished(name)
        }
    }

    /// The volumes still waiting to be detached (said when the daemon stops).
    func pendingDetaches() async -> [String] {
        await detaches.names()
    }

    /// Detaches a volume taken off the detach queue, unless it was mounted again
    /// meanwhile, clearing first a holder mark its Unmount could not; one that fails
    /// goes back on the queue.
    private func detachUnheld(_ name: String) async {
        do {
            try await locks.withLock(name) { () async throws(CloudstorError) in
                guard ledger.holdCount(name) == 0, let record = try await store.volume(named: name, fresh: false) else { return }
                logger.debug("detaching after the delay", metadata: ["volume": "\(name)"])
                if try await block.describe(id: record.cloudID, fresh: false)?.holder == node {
                    try await markHeld(record, false)
                }
                try await block.detach(id: record.cloudID, from: node, force: false)
            }
        } catch {
            logger.error("cannot detach; trying again soon", metadata: ["volume": "\(name)", "error": "\(error)"])
            await detaches.schedule(name, after: Self.detachRetry)
        }
    }

    /// Mounts a relocatable volume here; or says its storage is in another zone
    /// (it must be moved first), or that this node has no room to attach it.
    private func mountBlock(_ record: VolumeRecord) async throws(CloudstorError) -> BlockMount {
        let path = mountpoint(of: record)
        if try host.isMounted(path) { return .mounted(path) }
        // The record was just read afresh, and the volume with it.
        var volume = try await current(record, fresh: false)
        // Another zone, or a move that is done but not cleaned up: the relocator's work.
        guard volume.zone == block.zone, volume.movedFrom == nil else { return .elsewhere }
        try await refuseIfClaimed(record, volume)
        let clock = ContinuousClock()
        let ready = clock.now + configuration.mountWait
        while volume.state == "creating" {
            guard clock.now < ready else {
                throw CloudstorError(.unavailable, "volume \(record.name) is still being created (\(record.cloudID)); try again")
            }
            try await pause(.milliseconds(500))
            volume = try await current(record)
        }
        try await takeOver(record, volume)
        let attachment: DeviceAttachment
        switch try await block.attach(id: record.cloudID, to: node) {
        case .attached(let device): attachment = device
        case .full(let limit): return .full(limit)
        }
        // Attached here, so no other node's mark or attach can come between. Marked
        // held before the claim is read afresh: a node that moves the volume writes its
        // claim before it reads the mark, so one of the two always sees the other. A
        // node that sees the mark never detaches the volume from under a filesystem.
        do throws(CloudstorError) {
            try await markHeld(record, true)
            try await respectClaim(record)
            let device: String
            if let known = attachment.device {
                device = known
            } else {
                device = try await host.findDevice(attachment.names)
            }
            let restored = record.options["snapshot"]
            switch try await host.filesystem(device: attachment.backingFile ?? device) {
            case nil:
                if let restored {
                    throw CloudstorError(
                        .failedPrecondition,
                        "volume \(record.name) (\(device)), made from snapshot \(restored), holds no filesystem: cloudstor does not format a restored volume; remove it, or restore from a snapshot of an ext4 volume")
                }
                logger.info("making a filesystem", metadata: ["volume": "\(record.name)", "device": "\(device)"])
                try await host.makeFilesystem(device: device)
            case "ext4":
                // Made larger than its snapshot, or modified to a larger size: the
                // filesystem grows to the volume.
                if try await host.growFilesystem(device: device) {
                    logger.info("grew the filesystem to the volume", metadata: ["volume": "\(record.name)", "device": "\(device)"])
                    modifications.withLock { tracked in
                        if let entry = tracked[record.name], entry.id == record.cloudID, entry.modification.sizeInEffect { tracked[record.name]?.filesystem = "grown" }
                    }
                }
            case let other?:
                throw CloudstorError(
                    .failedPrecondition,
                    "volume \(record.name) (\(device)) holds \(other), not ext4: cloudstor neither formats nor mounts it; copy its data off and remove it")
            }
            try await host.mount(device: device, at: path)
            withExtendedLifetime(attachment) {}
        } catch {
            // Attached and not mounted: detached like a volume after its last Unmount,
            // its mark cleared first (by the detach queue, if not now).
            do { try await markHeld(record, false) } catch {
                logger.warning("cannot clear the holder mark yet", metadata: ["volume": "\(record.name)", "error": "\(error)"])
            }
            await detaches.schedule(record.name, after: configuration.detachDelay)
            throw error
        }
        return .mounted(path)
    }

    private func release(_ record: VolumeRecord) async throws(CloudstorError) {
        guard record.backing == .relocatable else {
            return try await sharedBackend().release(record)
        }
        try await host.unmount(mountpoint(of: record))
        // Unmounted: the Unmount has done its part, and Docker does not send one
        // again. A holder mark or a detach that fails from here on (EC2 throttling)
        // is the detach queue's to retry, not a failed Unmount that keeps the hold.
        do {
            try await markHeld(record, false)
            if configuration.detachDelay == .zero {
                try await block.detach(id: record.cloudID, from: node, force: false)
            } else {
                await detaches.schedule(record.name, after: configuration.detachDelay)
            }
        } catch {
            logger.warning("unmounted; the rest is retried", metadata: ["volume": "\(record.name)", "error": "\(error)"])
            await detaches.schedule(record.name, after: Self.detachRetry)
        }
    }

    /// How long a failed holder mark or detach waits before it is tried again.
    static let detachRetry: Duration = .seconds(5)

    static func validateMountID(_ id: String) throws(CloudstorError) {
        guard !id.isEmpty, id.utf8.count <= 1024 else {
            throw CloudstorError(.invalidArgument, "mount id must be 1 to 1024 characters long")
        }
    }
}
