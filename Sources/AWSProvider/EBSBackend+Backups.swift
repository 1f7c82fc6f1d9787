import CloudstorAWS
import CloudstorService

/// Backups: snapshots taken when asked, which no retention, Remove or prune
/// deletes; and the list of every snapshot Cloudstor made.
extension EBSBackend {
    func backup(of record: VolumeRecord, label: String) async throws(CloudstorError) -> BlockSnapshot {
        let source = try await moveSource(of: record)
        var tags = tags(name: record.name, generation: EBSTags.generation(of: source)) + [
            AWSTag(EBSTags.kind, "backup"), AWSTag(EBSTags.sourceVolume, source.volumeID),
        ]
        if !label.isEmpty { tags.append(AWSTag(EBSTags.label, label)) }
        do {
            let made = try await ec2.createSnapshot(
                volumeID: source.volumeID, description: EBSTags.snapshotDescription(kind: "backup", volume: source.volumeID, stackHash: stackHash),
                tags: tags)
            return BlockSnapshot(
                id: made.snapshotID, volume: record.name, kind: .backup, label: label, state: made.state, progress: made.progress,
                sizeGiB: made.volumeSizeGiB, createdAt: made.startTime)
        } catch {
            throw CloudstorError(error, "back up \(record.name)")
        }
    }

    func snapshots(of name: String?) async throws(CloudstorError) -> [BlockSnapshot] {
        let filters = [EC2Filter.tag(EBSTags.stack, stackHash)] + (name.map { [.tag(EBSTags.volume, $0)] } ?? [])
        let all: [EC2Snapshot]
        do {
            all = try await EC2Client.allPages { (token) async throws(AWSError) in
                try await ec2.describeSnapshots(filters: filters, maxResults: 1000, nextToken: token)
            }
        } catch {
            throw CloudstorError(error, "list the snapshots of \(name ?? "the stack")")
        }
        return all.compactMap { snapshot -> BlockSnapshot? in
            guard let volume = snapshot.tags[EBSTags.volume],
                EBSTags.isOurs(snapshot, stackHash: stackHash) || EBSTags.isBackup(snapshot, stackHash: stackHash),
                let kind = snapshot.tags[EBSTags.kind].flatMap(BlockSnapshot.Kind.init(rawValue:))
            else { return nil }
            return BlockSnapshot(
                id: snapshot.snapshotID, volume: volume, kind: kind, label: snapshot.tags[EBSTags.label] ?? "", state: snapshot.state,
                progress: snapshot.progress, sizeGiB: snapshot.volumeSizeGiB, createdAt: snapshot.startTime)
        }
        .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
    }

    func deleteBackup(id: String) async throws(CloudstorError) {
        try EBSOptionRules.validateSnapshotID(id, what: "snapshot id \(VolumeName.quoted(id))")
        guard let found = try await snapshot(id: id) else {
            throw CloudstorError(.notFound, "snapshot \(id) is not one of this account's snapshots in this region")
        }
        guard EBSTags.isBackup(found, stackHash: stackHash) else {
            let what = EBSTags.isOurs(found, stackHash: stackHash)
                ? "a \(found.tags[EBSTags.kind] ?? "") snapshot, which Cloudstor deletes itself when it is no longer needed"
                : "not a backup Cloudstor made in this stack, and Cloudstor deletes only what it made"
            throw CloudstorError(.failedPrecondition, "snapshot \(id) is \(what); nothing was deleted")
        }
        do {
            try await ec2.deleteSnapshot(snapshotID: id)
        } catch {
            guard error.code == "InvalidSnapshot.NotFound" else { throw CloudstorError(error, "delete snapshot \(id)") }
        }
    }
}
