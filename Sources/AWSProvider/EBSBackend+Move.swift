import CloudstorAWS
import CloudstorService

/// Moves between zones, each step written in tags: the move snapshot names its
/// source volume, the new volume the volume it came from, and the source carries
/// the commit mark (`CloudstorSuperseded`) once the new one is ready.
extension EBSBackend {
    func observeMove(of record: VolumeRecord) async throws(CloudstorError) -> MoveState {
        let all = try await cache.refresh(name: record.name).filter { !EBSTags.isGone($0) }
        // The source: the volume the record names, or whichever is live now.
        guard let source = all.first(where: { $0.volumeID == record.cloudID }) ?? EBSTags.live(all) else {
            return MoveState(source: nil, snapshot: nil, target: nil, committed: false)
        }
        let target = all.first { $0.tags[EBSTags.movedFrom] == source.volumeID }
        let snapshots: [EC2Snapshot]
        do {
            snapshots = try await ec2.describeSnapshots(filters: [
                .tag(EBSTags.stack, stackHash), .tag(EBSTags.sourceVolume, source.volumeID), .tag(EBSTags.kind, "move"),
            ]).items
        } catch {
            throw CloudstorError(error, "look up the move snapshot of \(record.name)")
        }
        let snapshot = snapshots.filter { $0.state != "error" }.max { $0.startTime < $1.startTime } ?? snapshots.first
        return MoveState(
            source: EBSTags.block(of: source),
            snapshot: snapshot.map { .init(id: $0.snapshotID, state: $0.state, percent: Int($0.progress.dropLast()) ?? 0) },
            target: target.map(EBSTags.block),
            committed: target.map { source.tags[EBSTags.superseded] == $0.volumeID } ?? false)
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
                volumeID: source.volumeID, description: "Cloudstor: moving \(record.name) to \(zone)",
                tags: tags(name: record.name, generation: EBSTags.generation(of: source)) + [
                    AWSTag(EBSTags.kind, "move"), AWSTag(EBSTags.sourceVolume, source.volumeID),
                ])
        } catch {
            throw CloudstorError(error, "snapshot \(source.volumeID) to move \(record.name)")
        }
    }

    func createMoveTarget(of record: VolumeRecord, from snapshot: String) async throws(CloudstorError) {
        let source = try await moveSource(of: record)
        var carried = source.tags.filter { [EBSTags.backing, EBSTags.options, EBSTags.created].contains($0.key) }.map { AWSTag($0.key, $0.value) }
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

    func cleanUpMove(source: String?, snapshot: String?) async throws(CloudstorError) {
        if let source { try await remove(id: source) }
        if let snapshot {
            do {
                try await ec2.deleteSnapshot(snapshotID: snapshot)
            } catch {
                guard error.code == "InvalidSnapshot.NotFound" else { throw CloudstorError(error, "delete the move snapshot \(snapshot)") }
            }
        }
    }
}
