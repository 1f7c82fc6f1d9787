import CloudstorAWS
import CloudstorService

/// What moves leave behind, found by tags: every stack volume that is not the
/// live one of its name, and every move snapshot whose source is no longer live.
extension EBSBackend {
    func orphans(moving: Set<String>) async throws(CloudstorError) -> [Orphan] {
        let volumes: [EC2Volume]
        let snapshots: [EC2Snapshot]
        do {
            volumes = try await ec2.describeAllVolumes(filters: [.tag(EBSTags.stack, stackHash)])
            snapshots = try await EC2Client.allPages { (token) async throws(AWSError) in
                try await ec2.describeSnapshots(filters: [.tag(EBSTags.stack, stackHash)], maxResults: 500, nextToken: token)
            }
        } catch {
            throw CloudstorError(error, "list this stack's volumes and snapshots")
        }
        var byName: [String: [EC2Volume]] = [:]
        for volume in volumes where !EBSTags.isGone(volume) {
            if let name = volume.tags[EBSTags.volume] { byName[name, default: []].append(volume) }
        }
        var found: [Orphan] = []
        for (name, list) in byName where !moving.contains(name) {
            let live = EBSTags.live(list)
            // What the attempt a live volume's claim names made is a move in flight,
            // whichever node runs it.
            let attempt = live.flatMap(EBSTags.claim)?.id
            for volume in list where volume.volumeID != live?.volumeID {
                if attempt != nil, volume.tags[EBSTags.movedFrom] == live?.volumeID, volume.tags[EBSTags.moveID] == attempt { continue }
                let reason =
                    if let target = volume.tags[EBSTags.superseded] {
                        "superseded by \(target) when it moved"
                    } else if let source = volume.tags[EBSTags.movedFrom] {
                        "the copy of an interrupted move from \(source)"
                    } else {
                        "a duplicate made by a create race"
                    }
                found.append(Orphan(id: volume.volumeID, kind: "volume", name: name, zone: volume.availabilityZone, reason: reason, createdAt: volume.createTime))
            }
        }
        // Only snapshots Cloudstor made: a move's, once its move is over (or its attempt
        // given up), and the background ones of a volume that is gone.
        for snapshot in snapshots where EBSTags.isOurs(snapshot, stackHash: stackHash) {
            guard let name = snapshot.tags[EBSTags.volume], !moving.contains(name) else { continue }
            let live = byName[name].flatMap(EBSTags.live)
            let reason: String
            if snapshot.tags[EBSTags.kind] == "move" {
                if let live, live.volumeID == snapshot.tags[EBSTags.sourceVolume], EBSTags.claim(of: live)?.id == snapshot.tags[EBSTags.moveID] {
                    continue  // carries the move in flight
                }
                reason = "the snapshot of a move that is over"
            } else {
                guard live == nil else { continue }
                reason = "a background snapshot of a volume that is gone"
            }
            found.append(Orphan(id: snapshot.snapshotID, kind: "snapshot", name: name, zone: "", reason: reason, createdAt: snapshot.startTime))
        }
        return found.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
    }

    func prune(ids: [String], moving: Set<String>) async throws(CloudstorError) -> [String] {
        let current = try await orphans(moving: moving)
        let chosen: [Orphan]
        if ids.isEmpty {
            chosen = current
        } else {
            chosen = try ids.map { (id) throws(CloudstorError) -> Orphan in
                guard let orphan = current.first(where: { $0.id == id }) else {
                    throw CloudstorError(.failedPrecondition, "\(id) is not an orphan of this stack (now); nothing was deleted")
                }
                return orphan
            }
        }
        var removed: [String] = []
        for orphan in chosen {
            do {
                if orphan.kind == "snapshot" {
                    try await ec2.deleteSnapshot(snapshotID: orphan.id)
                } else {
                    if let attachment = await cache.volume(id: orphan.id)?.attachments.first {
                        try await detach(id: orphan.id, from: attachment.instanceID, force: false)
                    }
                    try await ec2.deleteVolume(volumeID: orphan.id)
                    await cache.forget(id: orphan.id)
                }
                removed.append(orphan.id)
            } catch {
                throw CloudstorError(.unavailable, "delete orphan \(orphan.id) (deleted so far: \(removed.joined(separator: ", ")))", cause: error)
            }
        }
        return removed
    }
}
