import FoundationEssentials
import Logging

/// Modify: a relocatable volume's size, type, IOPS or throughput changed in place
/// (Docker has no verb for it: cloudstorctl and the API). The provider applies the
/// change in the background; this node follows it (`followModifications`), grows
/// the filesystem where it is mounted once the new size is on the device, and
/// shows the progress in Get. A filesystem that cannot grow online grows at its
/// next mount.
extension VolumeManager {
    public func modify(name: String, options raw: [String: String]) async throws(CloudstorError) -> VolumeInfo {
        try VolumeName.validate(name)
        let modifiable = rules.modifiableKeys
        guard !raw.isEmpty else {
            throw CloudstorError(.invalidArgument, "nothing to modify: give \(modifiable.joined(separator: ", ")) or several")
        }
        for key in raw.keys.sorted() where !modifiable.contains(key) {
            let fixed = key == "backing" || rules.keys.contains(key) || VolumeOptions.sharedKeys.contains(key)
            throw CloudstorError(
                .invalidArgument,
                fixed
                    ? "option \(key) is fixed when a volume is created; modify changes \(modifiable.joined(separator: ", "))"
                    : "unknown option \(VolumeName.quoted(key)); modify changes \(modifiable.joined(separator: ", "))")
        }
        return try await locks.withLock(name) { () async throws(CloudstorError) -> VolumeInfo in
            let record = try await existing(name, fresh: true)
            guard record.backing == .relocatable else {
                throw CloudstorError(
                    .failedPrecondition, "volume \(name) is shared: a directory of the shared file system has no size, type or IOPS of its own to modify")
            }
            if relocator?.isMoving(name) == true {
                throw CloudstorError(.unavailable, "volume \(name) is being moved to another zone; modify it once the move is done")
            }
            let last = modifications.withLock { $0[name] }.flatMap { $0.id == record.cloudID ? $0 : nil }
            if let current = last, !current.modification.isDone {
                throw CloudstorError(
                    .failedPrecondition,
                    "volume \(name) is being modified (\(current.modification.summary), since \(current.modification.startedAt)): modify it again once that is completed")
            }
            // The size now: the record's, else (a volume made from a snapshot) the provider's.
            var size = record.options["size"].flatMap { Int($0) }
            if size == nil {
                guard let volume = try await block.describe(id: record.cloudID, fresh: true) else {
                    throw CloudstorError(.notFound, "volume \(name): its storage \(record.cloudID) is gone")
                }
                size = volume.sizeGiB
            }
            let current = size ?? 0
            // The shrink first: the most basic refusal.
            try Self.refuseShrinking(name, to: raw["size"].flatMap { Int($0) }, from: current)
            var stored = record.options
            stored["backing"] = nil
            let target = try rules.modify(stored, with: raw, sizeGiB: current)
            try Self.refuseShrinking(name, to: target.sizeGiB, from: current)
            var updated = record
            updated.options = VolumeOptions(backing: .relocatable, block: target).dictionary
            // The same options again: nothing to do, unless EC2 failed to apply them.
            guard updated.options != record.options || last?.modification.state == .failed else { return try await info(record) }
            let modification = try await block.modify(record, to: target)
            try await store.save(updated)
            track(name, modification, id: record.cloudID, grows: (target.sizeGiB ?? current) > current)
            logger.info(
                "modifying volume",
                metadata: ["volume": "\(name)", "from": "\(Self.describe(record.options))", "to": "\(Self.describe(updated.options))"])
            return try await info(updated)
        }
    }

    static func refuseShrinking(_ name: String, to wanted: Int?, from size: Int) throws(CloudstorError) {
        guard let wanted, wanted < size else { return }
        throw CloudstorError(
            .invalidArgument,
            "option size=\(wanted) is smaller than volume \(name)'s \(size) GiB: a volume grows, never shrinks; copy its data to a new, smaller volume instead")
    }

    /// A modification this node follows until it is done.
    struct TrackedModification: Sendable {
        var modification: BlockModification
        /// The volume's storage; a move makes another, and ends the following.
        var id: String
        /// The size grows: the filesystem is to grow with it.
        var grows: Bool
        /// Where the filesystem stands: "", "grown", "grows at its next mount", "unchanged".
        var filesystem = ""
        var nextLook: ContinuousClock.Instant = .now
        var looks = 0
        /// Tells this modification from a later one of the same volume.
        var serial: Int
    }

    func track(_ name: String, _ modification: BlockModification, id: String, grows: Bool) {
        modifications.withLock { all in
            let serial = (all[name]?.serial ?? 0) + 1
            all[name] = TrackedModification(modification: modification, id: id, grows: grows, serial: serial)
        }
    }

    /// What Get shows: "modifying 40%", "completed; filesystem grown".
    func modificationStatus(_ name: String) -> String {
        guard let tracked = modifications.withLock({ $0[name] }) else { return "" }
        return tracked.filesystem.isEmpty ? tracked.modification.summary : "\(tracked.modification.summary); filesystem \(tracked.filesystem)"
    }

    /// One round of following: the look-up of the modifications a restart left if
    /// the restore's failed and it is due again; then each followed one whose look
    /// is due. The looks thin out (2 s, 4 s, … one a minute) while EC2 optimizes,
    /// which may take hours.
    func followModifications() async {
        if let due = modificationsRecovery.withLock({ $0 }), due <= .now { await recoverModifications() }
        let now = ContinuousClock.now
        let due = modifications.withLock { all in
            all.filter { entry in
                let tracked = entry.value
                let filesystemLeft = tracked.filesystem.isEmpty && (tracked.grows || tracked.modification.state == .failed)
                return (!tracked.modification.isDone || filesystemLeft) && tracked.nextLook <= now
            }
        }
        for (name, tracked) in due.sorted(by: { $0.key < $1.key }) {
            var look = tracked.modification
            var gone = false
            if !look.isDone {
                do {
                    if let found = try await block.modification(of: tracked.id) { look = found }
                } catch {
                    if error.code == .notFound { gone = true } else {
                        logger.warning("cannot look at a modification", metadata: ["volume": "\(name)", "error": "\(error)"])
                    }
                }
            }
            // Moved (a new volume, made with the new options) or removed: nothing to follow here.
            let known = await store.knownVolume(named: name)
            if gone || (known.map { $0.cloudID != tracked.id } ?? false) {
                modifications.withLock { all in if all[name]?.serial == tracked.serial { all[name] = nil } }
                continue
            }
            var filesystem: String?
            if look.state == .failed {
                filesystem = "unchanged"
            } else if tracked.grows, look.sizeInEffect {
                switch await growMounted(name, id: tracked.id) {
                case .grown: filesystem = "grown"
                case .elsewhere: filesystem = "grows at its next mount"
                // The device may show the new size a little later: looked at again until done.
                case .notYet: filesystem = look.isDone ? "grows at its next mount" : nil
                }
            }
            if look.isDone, !tracked.modification.isDone {
                logger.info("modification done", metadata: ["volume": "\(name)", "state": "\(look.summary)"])
            }
            // Written back only over the same modification, leaving what a Mount wrote meanwhile.
            modifications.withLock { all in
                guard var current = all[name], current.serial == tracked.serial else { return }
                current.modification = look
                current.looks += 1
                current.nextLook = .now + .seconds(min(60, 1 << min(current.looks, 6)))
                if current.filesystem.isEmpty, let filesystem { current.filesystem = filesystem }
                all[name] = current
            }
        }
    }

    /// The modifications in progress that a restart left, among `records` (the
    /// restore's list): looked up once (again later, doubling the wait, if that fails).
    func recoverModifications(among records: [VolumeRecord]? = nil) async {
        do {
            let found = try await block.modificationsInProgress()
            modificationsRecovery.withLock { $0 = nil }
            guard !found.isEmpty else { return }
            var all = records ?? []
            if records == nil { all = try await allRecords() }
            for record in all where record.backing == .relocatable {
                guard let modification = found[record.cloudID] else { continue }
                // Whether it grows is not known now: the filesystem is looked at all the same.
                track(record.name, modification, id: record.cloudID, grows: true)
                logger.info("following a modification begun before this start", metadata: ["volume": "\(record.name)", "state": "\(modification.summary)"])
            }
        } catch {
            let wait = modificationsRecoveryWait.withLock { wait in
                defer { wait = min(wait * 2, .seconds(600)) }
                return wait
            }
            logger.warning("cannot list the modifications in progress yet", metadata: ["error": "\(error)", "retry-in": "\(wait)"])
            modificationsRecovery.withLock { $0 = .now + wait }
        }
    }

    enum GrowOutcome { case grown, elsewhere, notYet }

    /// Grows the filesystem of the volume where it is mounted here, once the new
    /// size is on the device: `elsewhere` when it is not mounted here or cannot
    /// grow while mounted (then it grows at its next mount), `notYet` when the
    /// device does not show the new size (a loop device keeps its size until it is
    /// attached again).
    private func growMounted(_ name: String, id: String) async -> GrowOutcome {
        await locks.withLock(name) { () async -> GrowOutcome in
            guard ledger.holdCount(name) > 0, let volume = try? await block.describe(id: id, fresh: false), let attachment = volume.attachment,
                attachment.node == node
            else { return .elsewhere }
            do throws(CloudstorError) {
                let device = try await host.findDevice(block.deviceNames(id: id, attachedAs: attachment.device))
                guard try await host.growMountedFilesystem(device: device) else { return .notYet }
                logger.info("grew the mounted filesystem", metadata: ["volume": "\(name)", "device": "\(device)"])
                return .grown
            } catch {
                logger.notice(
                    "the filesystem grows at its next mount: it cannot grow while mounted here", metadata: ["volume": "\(name)", "error": "\(error)"])
                return .elsewhere
            }
        }
    }
}
