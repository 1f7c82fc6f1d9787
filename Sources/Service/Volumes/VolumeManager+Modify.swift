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
            if let current = modifications.withLock({ $0[name] }), !current.modification.isDone {
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
            guard updated.options != record.options else { return try await info(record) }
            let modification = try await block.modify(record, to: target)
            try await store.save(updated)
            track(name, modification, id: record.cloudID)
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
        var id: String
        /// Where the filesystem stands: "", "grown", "grows at its next mount".
        var filesystem = ""
        var nextLook: ContinuousClock.Instant
        var looks = 0
    }

    func track(_ name: String, _ modification: BlockModification, id: String) {
        modifications.withLock {
            $0[name] = TrackedModification(modification: modification, id: id, nextLook: .now)
        }
    }

    /// What Get shows: "modifying 40%", "completed; filesystem grown".
    func modificationStatus(_ name: String) -> String {
        guard let tracked = modifications.withLock({ $0[name] }) else { return "" }
        return tracked.filesystem.isEmpty ? tracked.modification.summary : "\(tracked.modification.summary); filesystem \(tracked.filesystem)"
    }

    /// One round of following: at the first, the modifications in progress that a
    /// restart left (one call); then each followed one whose look is due. The looks
    /// thin out (2 s, 4 s, … one a minute) while EC2 optimizes, which may take hours.
    func followModifications() async {
        if let due = modificationsRecovery.withLock({ $0 }), due <= .now {
            do {
                let found = try await block.modificationsInProgress()
                // What this node knows first; the whole list (one more call) only when
                // a modification in progress is of a volume it does not know.
                var records = await store.knownVolumes()
                if !Set(found.keys).isSubset(of: Set(records.map(\.cloudID))) { records = try await store.volumes() }
                modificationsRecovery.withLock { $0 = nil }
                for record in records where record.backing == .relocatable {
                    guard let modification = found[record.cloudID] else { continue }
                    modifications.withLock {
                        $0[record.name] = TrackedModification(modification: modification, id: record.cloudID, nextLook: .now)
                    }
                    logger.info("following a modification begun before this start", metadata: ["volume": "\(record.name)", "state": "\(modification.summary)"])
                }
            } catch {
                logger.warning("cannot list the modifications in progress yet; trying again in 30 s", metadata: ["error": "\(error)"])
                modificationsRecovery.withLock { $0 = .now + .seconds(30) }
            }
        }
        let now = ContinuousClock.now
        // Done but its filesystem not yet seen to: only that is left to do.
        let due = modifications.withLock { all in
            all.filter { (!$0.value.modification.isDone || $0.value.filesystem.isEmpty) && $0.value.nextLook <= now }
        }
        for (name, tracked) in due.sorted(by: { $0.key < $1.key }) {
            var next = tracked
            next.looks += 1
            next.nextLook = .now + .seconds(min(60, 1 << min(next.looks, 6)))
            do {
                if !tracked.modification.isDone, let found = try await block.modification(of: tracked.id) { next.modification = found }
            } catch {
                logger.warning("cannot look at a modification", metadata: ["volume": "\(name)", "error": "\(error)"])
            }
            if next.modification.state == .failed {
                next.filesystem = "unchanged"
            } else if next.modification.sizeInEffect, next.filesystem.isEmpty {
                next.filesystem = await growMounted(name)
            }
            if next.modification.isDone, !tracked.modification.isDone {
                logger.info("modification done", metadata: ["volume": "\(name)", "state": "\(next.modification.summary)"])
            }
            modifications.withLock { $0[name] = next }
        }
    }

    /// Grows the filesystem of the volume where it is mounted here, once the new
    /// size is on the device: "grown", or "grows at its next mount" (not mounted
    /// here, or no online resize allowed).
    private func growMounted(_ name: String) async -> String {
        await locks.withLock(name) { () async -> String in
            guard ledger.holdCount(name) > 0, let record = await store.knownVolume(named: name),
                let volume = try? await block.describe(id: record.cloudID, fresh: false), let attachment = volume.attachment,
                attachment.node == node
            else { return "grows at its next mount" }
            do throws(CloudstorError) {
                let device = try await host.findDevice(block.deviceNames(id: record.cloudID, attachedAs: attachment.device))
                // A device that does not show the new size yet (a loop device keeps its
                // size until it is attached again) grows its filesystem at the next mount.
                guard try await host.growMountedFilesystem(device: device) else { return "grows at its next mount" }
                logger.info("grew the mounted filesystem", metadata: ["volume": "\(name)", "device": "\(device)"])
                return "grown"
            } catch {
                logger.notice(
                    "the filesystem grows at its next mount: it cannot grow while mounted here", metadata: ["volume": "\(name)", "error": "\(error)"])
                return "grows at its next mount"
            }
        }
    }
}
