import CloudstorAWS
import CloudstorService

/// Moves between zones, each step written in tags: the move snapshot names its
/// source volume, the new volume the volume it came from, and the source carries
/// the commit mark (`CloudstorSuperseded`) once the new one is ready.
extension EBSBackend {
    func observeMove(of record: VolumeRecord) async throws(CloudstorError) -> MoveState {
        let all = try await cache.refresh(name: record.name).filter { !EBSTags.isGone($0) }
        let live = EBSTags.live(all)
        if let live, let parent = live.tags[EBSTags.movedFrom] {
            // The live volume came from a move not cleaned up yet; its source may be gone already.
            let source = all.first { $0.volumeID == parent }
            return MoveState(source: source.map(EBSTags.block), snapshot: nil, target: EBSTags.block(of: live), committed: true)
        }
        // The source: the live volume (or, while nothing is live, the one the record names).
        guard let source = live ?? all.first(where: { $0.volumeID == record.cloudID }) else {
            return MoveState(source: nil, snapshot: nil, target: nil, committed: false)
        }
        // Only the claimed attempt's snapshot and target: what others left is orphaned.
        guard let attempt = EBSTags.claim(of: source)?.id else {
            return MoveState(source: EBSTags.block(of: source), snapshot: nil, target: nil, committed: false)
        }
        let target = all.first { $0.tags[EBSTags.movedFrom] == source.volumeID && $0.tags[EBSTags.moveID] == attempt }
        return MoveState(
            source: EBSTags.block(of: source), snapshot: try await moveSnapshot(source: source.volumeID, attempt: attempt),
            target: target.map(EBSTags.block),
            committed: target.map { source.tags[EBSTags.superseded] == $0.volumeID } ?? false)
    }

    /// Every move snapshot Cloudstor made of `source`.
    private func moveSnapshots(source: String) async throws(CloudstorError) -> [EC2Snapshot] {
        do {
            return try await ec2.describeSnapshots(filters: [
                .tag(EBSTags.stack, stackHash), .tag(EBSTags.sourceVolume, source), .tag(EBSTags.kind, "move"),
            ]).items.filter { EBSTags.isOurs($0, stackHash: stackHash) }
        } catch {
            throw CloudstorError(error, "look up the move snapshots of \(source)")
        }
    }

    /// The snapshot of the attempt taken to move `source`.
    private func moveSnapshot(source: String, attempt: String) async throws(CloudstorError) -> MoveState.Snapshot? {
        let snapshots = try await moveSnapshots(source: source).filter { $0.tags[EBSTags.moveID] == attempt }
        let snapshot = snapshots.filter { $0.state != "error" }.max { $0.startTime < $1.startTime } ?? snapshots.first
        return snapshot.map { .init(id: $0.snapshotID, state: $0.state, percent: Int($0.progress.dropLast()) ?? 0) }
    }

    func moveSource(of record: VolumeRecord) async throws(CloudstorError) -> EC2Volume {
        if let known = await cache.volume(id: record.cloudID) { return known }
        guard let live = EBSTags.live(try await cache.volumes(named: record.name)) else {
            throw CloudstorError(.notFound, "volume \(record.name) is gone")
        }
        return live
    }

    /// Writes a mover's claim, or a remover's mark (`claim.isRemoval`), each in its own tag.
    func claim(_ claim: MoveClaim, on source: String) async throws(CloudstorError) {
        let key = claim.isRemoval ? EBSTags.removal : EBSTags.moveClaim
        do {
            try await ec2.createTags(resourceIDs: [source], tags: [AWSTag(key, claim.tag)])
        } catch {
            throw CloudstorError(error, claim.isRemoval ? "mark \(source) as being removed" : "claim \(source) to move it to \(claim.zone)")
        }
        if var known = await cache.volume(id: source) {
            known.tags[key] = claim.tag
            await cache.put(known)
        }
    }

    func releaseClaim(_ claim: MoveClaim, on source: String) async throws(CloudstorError) {
        // A removal written by an earlier release is in the claim's tag: both are cleared.
        if claim.isRemoval {
            try await deleteMark(AWSTag(EBSTags.removal, claim.tag), on: source, "clear the removal mark \(claim.tag) on \(source)")
        }
        try await deleteMark(AWSTag(EBSTags.moveClaim, claim.tag), on: source, "clear the move claim \(claim.tag) on \(source)")
    }

    func clearHolder(_ holder: String, on source: String) async throws(CloudstorError) {
        try await deleteMark(AWSTag(EBSTags.holder, holder), on: source, "clear the holder mark of \(holder) on \(source)")
    }

    /// Deletes the tag where it still has this value, and forgets it here.
    private func deleteMark(_ mark: AWSTag, on id: String, _ doing: String) async throws(CloudstorError) {
        do {
            try await ec2.deleteTags(resourceIDs: [id], matching: [mark])
        } catch {
            throw CloudstorError(error, doing)
        }
        if var known = await cache.volume(id: id), known.tags[mark.key] == mark.value {
            known.tags[mark.key] = nil
            await cache.put(known)
        }
    }

    func startMoveSnapshot(of record: VolumeRecord, claim: MoveClaim) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        do {
            _ = try await ec2.createSnapshot(
                volumeID: source.volumeID, description: EBSTags.snapshotDescription(kind: "move", volume: source.volumeID, stackHash: stackHash),
                tags: tags(name: record.name, generation: EBSTags.generation(of: source)) + [
                    AWSTag(EBSTags.kind, "move"), AWSTag(EBSTags.sourceVolume, source.volumeID), AWSTag(EBSTags.moveID, claim.id),
                ])
        } catch {
            throw CloudstorError(error, "snapshot \(source.volumeID) to move \(record.name)")
        }
    }

    func createMoveTarget(of record: VolumeRecord, from snapshot: String, claim: MoveClaim) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        // In a fixed order: a resumed create must send the very same request, or EC2
        // refuses the reused token (IdempotentParameterMismatch).
        var carried = [EBSTags.backing, EBSTags.options, EBSTags.created].compactMap { key in source.tags[key].map { AWSTag(key, $0) } }
        carried += [AWSTag(EBSTags.movedFrom, source.volumeID), AWSTag(EBSTags.moveID, claim.id)]
        let input = EC2Client.CreateVolumeInput(
            availabilityZone: zone, sizeGiB: source.sizeGiB, volumeType: source.volumeType,
            iops: ["io1", "io2", "gp3"].contains(source.volumeType) ? source.iops : nil,
            throughput: source.volumeType == "gp3" ? source.throughput : nil,
            // The snapshot of an encrypted volume makes an encrypted one; named, the key stays the same.
            encrypted: source.encrypted ? true : nil, kmsKeyID: source.encrypted ? source.kmsKeyID : nil, snapshotID: snapshot,
            tags: tags(name: record.name, generation: EBSTags.generation(of: source) + 1) + carried,
            clientToken: EBSTags.md5("move/\(source.volumeID)/\(zone)/\(snapshot)"))
        do {
            await cache.put(try await ec2.createVolume(input))
        } catch {
            throw CloudstorError(error, "create the moved copy of \(record.name) in \(zone)")
        }
    }

    func supersede(_ source: String, by target: String) async throws(CloudstorError) {
        do {
            try await ec2.createTags(resourceIDs: [source], tags: [AWSTag(EBSTags.superseded, target)])
        } catch {
            throw CloudstorError(error, "mark \(source) superseded by \(target)")
        }
    }

    func cleanUpMove(source: String?, target: String) async throws(CloudstorError) {
        if let source { try await deleteVolume(source, "delete \(source), the volume moved from") }
        // What every attempt made of the source: a resumed attempt may have made two
        // snapshots, and a node that took a dead one's move over made its own copy.
        if let from = await cache.volume(id: target)?.tags[EBSTags.movedFrom], let name = await cache.volume(id: target)?.tags[EBSTags.volume] {
            for copy in try await cache.volumes(named: name) where copy.tags[EBSTags.movedFrom] == from && copy.volumeID != target {
                try await deleteVolume(copy.volumeID, "delete \(copy.volumeID), the copy of an abandoned attempt")
            }
            for snapshot in try await moveSnapshots(source: from) {
                try await deleteSnapshot(snapshot.snapshotID, "delete the move snapshot \(snapshot.snapshotID)")
            }
        }
        do {
            try await ec2.deleteTags(resourceIDs: [target], keys: [EBSTags.movedFrom, EBSTags.moveID])
        } catch {
            throw CloudstorError(error, "clear the move mark of \(target)")
        }
        if var known = await cache.volume(id: target) {
            known.tags[EBSTags.movedFrom] = nil
            known.tags[EBSTags.moveID] = nil
            await cache.put(known)
        }
    }

    func periodicSnapshot(of record: VolumeRecord) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        do {
            _ = try await ec2.createSnapshot(
                volumeID: source.volumeID, description: EBSTags.snapshotDescription(kind: "periodic", volume: source.volumeID, stackHash: stackHash),
                tags: tags(name: record.name, generation: EBSTags.generation(of: source)) + [
                    AWSTag(EBSTags.kind, "periodic"), AWSTag(EBSTags.sourceVolume, source.volumeID),
                ])
        } catch {
            throw CloudstorError(error, "background snapshot of \(record.name)")
        }
    }

    func prunePeriodicSnapshots(of record: VolumeRecord, keep: Int) async throws(CloudstorError) {
        do {
            let all = try await ec2.describeSnapshots(filters: [
                .tag(EBSTags.stack, stackHash), .tag(EBSTags.volume, record.name), .tag(EBSTags.kind, "periodic"),
            ]).items
            for old in all.filter({ EBSTags.isOurs($0, stackHash: stackHash) }).sorted(by: { $0.startTime > $1.startTime }).dropFirst(keep) {
                try await ec2.deleteSnapshot(snapshotID: old.snapshotID)
            }
        } catch {
            throw CloudstorError(error, "prune the background snapshots of \(record.name)")
        }
    }
}
