import CloudstorAWS
import CloudstorService
import FoundationEssentials

/// Elastic Volumes: a volume's size, type, IOPS and throughput changed in place
/// (ModifyVolume). EC2 allows one modification at a time and four per volume in
/// any 24 hours; Cloudstor counts its own in a tag, and refuses a fifth before
/// asking, with the time the next is allowed.
extension EBSBackend {
    static let modificationsPerWindow = 4
    static let modificationWindow: TimeInterval = 24 * 3600

    func modify(_ record: VolumeRecord, to stored: BlockOptions) async throws(CloudstorError) -> BlockModification {
        let options = EBSOptions(stored)
        guard var volume = try await describeNow(record.cloudID) else {
            throw CloudstorError(.notFound, "volume \(record.name): its EBS volume \(record.cloudID) is gone")
        }
        // Another node moving or removing it: the move copies the volume as it is, a
        // removal deletes it; a change now would be lost either way.
        if let mark = EBSTags.block(of: volume).claimOrRemoval {
            throw CloudstorError(
                .unavailable,
                mark.isRemoval
                    ? "volume \(record.name) is being removed by \(mark.node)"
                    : "volume \(record.name) is being moved to \(mark.zone) by \(mark.node); modify it once the move is done")
        }
        let now = Date()
        let recent = EBSTags.modifications(of: volume).filter { now.timeIntervalSince($0) < Self.modificationWindow }
        if recent.count >= Self.modificationsPerWindow, let oldest = recent.first {
            let next = oldest.addingTimeInterval(Self.modificationWindow)
            throw CloudstorError(
                .failedPrecondition,
                "volume \(record.name) was modified \(recent.count) times in the last 24 hours, as often as EC2 allows: the next modification is possible from \(next.formatted(.iso8601))")
        }
        let encoded = EBSTags.encode(stored.values)
        guard encoded.utf8.count <= 256 else {
            throw CloudstorError(.invalidArgument, "the options take \(encoded.utf8.count) characters as the EBS tag that keeps them, which holds 256")
        }
        let type = options.type.rawValue
        let size = options.sizeGiB.flatMap { $0 == volume.sizeGiB ? nil : $0 }
        let changedType = type == volume.volumeType ? nil : type
        // A new type takes EC2's defaults for what is not sent (3,000 IOPS, 125 MiB/s):
        // every value the options give goes with it.
        let iops = changedType != nil || options.iops != volume.iops ? options.iops : nil
        let throughput = changedType != nil || options.throughput != volume.throughput ? options.throughput : nil
        guard size != nil || changedType != nil || iops != nil || throughput != nil else {
            // EC2 has it so already (a Modify whose options a crash kept from the tag).
            try await recordOptions(encoded, starts: recent, on: &volume, of: record)
            return BlockModification(state: .completed, progress: 100, startedAt: now.formatted(.iso8601))
        }
        let started: EC2VolumeModification
        do {
            started = try await ec2.modifyVolume(
                volumeID: volume.volumeID, sizeGiB: size, volumeType: changedType, iops: iops, throughput: throughput)
        } catch {
            switch error.code {
            case "IncorrectModificationState":
                throw CloudstorError(
                    .failedPrecondition,
                    "volume \(record.name) (\(volume.volumeID)) is still being modified: EC2 takes the next modification once this one is completed (\(error.message))",
                    cause: error)
            case "VolumeModificationRateExceeded":
                throw CloudstorError(
                    .failedPrecondition,
                    "volume \(record.name) (\(volume.volumeID)) has been modified as often as EC2 allows (four times in 24 hours, counting modifications made outside Cloudstor): \(error.message)",
                    cause: error)
            default:
                throw CloudstorError(error, "modify EBS volume \(volume.volumeID) of \(record.name)")
            }
        }
        // The count and the options, in one call. Lost in a crash just here, EC2's own
        // refusal still holds the limit, and Modify again puts the options right.
        if let size { volume.sizeGiB = size }
        try await recordOptions(encoded, starts: recent + [now], on: &volume, of: record)
        return Self.modification(started)
    }

    private func recordOptions(_ encoded: String, starts: [Date], on volume: inout EC2Volume, of record: VolumeRecord) async throws(CloudstorError) {
        let starts = starts.suffix(Self.modificationsPerWindow).map { String(Int($0.timeIntervalSince1970)) }.joined(separator: ",")
        var tags = [AWSTag(EBSTags.options, encoded)]
        if !starts.isEmpty { tags.append(AWSTag(EBSTags.modified, starts)) }
        do {
            try await ec2.createTags(resourceIDs: [volume.volumeID], tags: tags)
        } catch {
            throw CloudstorError(error, "record the new options of \(record.name) on \(volume.volumeID)")
        }
        for tag in tags { volume.tags[tag.key] = tag.value }
        await cache.put(volume)
    }

    func modification(of id: String) async throws(CloudstorError) -> BlockModification? {
        do {
            return try await ec2.describeVolumesModifications(ids: [id]).items.first { $0.volumeID == id }.map(Self.modification)
        } catch {
            // EC2's answer for a volume never modified.
            if error.code == "InvalidVolumeModification.NotFound" { return nil }
            throw CloudstorError(error, "look up the modification of EBS volume \(id)")
        }
    }

    func modificationsInProgress() async throws(CloudstorError) -> [String: BlockModification] {
        if let found = modificationsAtStart.withLock({ (found) -> [String: BlockModification]? in
            defer { found = nil }
            return found
        }) {
            return found
        }
        return try await Self.modificationsInProgress(ec2)
    }

    /// The region's modifications in progress (one call a page): the caller keeps
    /// those of its own volumes.
    static func modificationsInProgress(_ ec2: EC2Client) async throws(CloudstorError) -> [String: BlockModification] {
        let filters = [EC2Filter("modification-state", ["modifying", "optimizing"])]
        let all: [EC2VolumeModification]
        do {
            all = try await EC2Client.allPages { (token) async throws(AWSError) in
                try await ec2.describeVolumesModifications(filters: filters, maxResults: 500, nextToken: token)
            }
        } catch {
            throw CloudstorError(error, "list the EBS modifications in progress")
        }
        return Dictionary(all.map { ($0.volumeID, modification($0)) }, uniquingKeysWith: { first, _ in first })
    }

    static func modification(_ item: EC2VolumeModification) -> BlockModification {
        BlockModification(
            state: BlockModification.State(rawValue: item.state) ?? .modifying, progress: item.progress, startedAt: item.startTime,
            message: item.statusMessage)
    }
}
