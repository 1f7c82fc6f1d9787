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
            return MoveState(
                source: source.map(EBSTags.block), snapshot: try await moveSnapshot(name: record.name, source: parent),
                target: EBSTags.block(of: live), committed: true)
        }
        // The source: the live volume (or, while nothing is live, the one the record names).
        guard let source = live ?? all.first(where: { $0.volumeID == record.cloudID }) else {
            return MoveState(source: nil, snapshot: nil, target: nil, committed: false)
        }
        let target = all.first { $0.tags[EBSTags.movedFrom] == source.volumeID }
        return MoveState(
            source: EBSTags.block(of: source), snapshot: try await moveSnapshot(name: record.name, source: source.volumeID),
            target: target.map(EBSTags.block),
            committed: target.map { source.tags[EBSTags.superseded] == $0.volumeID } ?? false)
    }

    private func moveSnapshot(name: String, source: String) async throws(CloudstorError) -> MoveState.Snapshot? {
        let snapshots: [EC2Snapshot]
        do {
            snapshots = try await ec2.describeSnapshots(filters: [
                .tag(EBSTags.stack, stackHash), .tag(EBSTags.sourceVolume, source), .tag(EBSTags.kind, "move"),
            ]).items
        } catch {
            throw CloudstorError(error, "look up the move snapshot of \(name)")
        }
        let snapshot = snapshots.filter { $0.state != "error" }.max { $0.startTime < $1.startTime } ?? snapshots.first
        return snapshot.map { .init(id: $0.snapshotID, state: $0.state, percent: Int($0.progress.dropLast()) ?? 0) }
    }

    private func moveSource(of record: VolumeRecord) async throws(CloudstorError) -> EC2Volume {
        if let known = await cache.volume(id: record.cloudID) { return known }
        guard let live = EBSTags.live(try await cache.volumes(named: record.name)) else {
            throw CloudstorError(.notFound, "volume \(record.name) is gone")
        }
        return live
    }

    func startMoveSnapshot(of record: VolumeRecord) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        do {
            _ = try await ec2.createSnapshot(
                // No description: moto 5.2 fails the signature of a body with a space in it
                // (AuthFailure), and the tags say everything a description would.
                volumeID: source.volumeID,
                tags: tags(name: record.name, generation: EBSTags.generation(of: source)) + [
                    AWSTag(EBSTags.kind, "move"), AWSTag(EBSTags.sourceVolume, source.volumeID),
                ])
        } catch {
            throw CloudstorError(error, "snapshot \(source.volumeID) to move \(record.name)")
        }
    }

    func createMoveTarget(of record: VolumeRecord, from snapshot: String) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        // In a fixed order: a resumed create must send the very same request, or EC2
        // refuses the reused token (IdempotentParameterMismatch).
        var carried = [EBSTags.backing, EBSTags.options, EBSTags.created].compactMap { key in source.tags[key].map { AWSTag(key, $0) } }
        carried.append(AWSTag(EBSTags.movedFrom, source.volumeID))
        let input = EC2Client.CreateVolumeInput(
            availabilityZone: zone, sizeGiB: source.sizeGiB, volumeType: source.volumeType,
            iops: ["io1", "io2", "gp3"].contains(source.volumeType) ? source.iops : nil, snapshotID: snapshot,
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

    func cleanUpMove(source: String?, snapshot: String?, target: String) async throws(CloudstorError) {
        if let source { try await deleteVolume(source, "delete \(source), the volume moved from") }
        if let snapshot { try await deleteSnapshot(snapshot, "delete the move snapshot \(snapshot)") }
        do {
            try await ec2.deleteTags(resourceIDs: [target], keys: [EBSTags.movedFrom])
        } catch {
            throw CloudstorError(error, "clear the move mark of \(target)")
        }
        if var known = await cache.volume(id: target) {
            known.tags[EBSTags.movedFrom] = nil
            await cache.put(known)
        }
    }

    func periodicSnapshot(of record: VolumeRecord, keep: Int) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        do {
            _ = try await ec2.createSnapshot(
                volumeID: source.volumeID,
                tags: tags(name: record.name, generation: EBSTags.generation(of: source)) + [
                    AWSTag(EBSTags.kind, "periodic"), AWSTag(EBSTags.sourceVolume, source.volumeID),
                ])
            let all = try await ec2.describeSnapshots(filters: [
                .tag(EBSTags.stack, stackHash), .tag(EBSTags.volume, record.name), .tag(EBSTags.kind, "periodic"),
            ]).items
            for old in all.sorted(by: { $0.startTime > $1.startTime }).dropFirst(keep) {
                try await ec2.deleteSnapshot(snapshotID: old.snapshotID)
            }
        } catch {
            throw CloudstorError(error, "background snapshot of \(record.name)")
        }
    }
}
