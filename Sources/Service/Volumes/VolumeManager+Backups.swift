/// Backups of relocatable volumes, on a provider with snapshots: taken when asked,
/// frozen-consistent, kept until deleted.
extension VolumeManager {
    /// Starts a backup of the volume and answers once its content is fixed (the
    /// snapshot has started). Mounted here: its filesystem is frozen meanwhile, as
    /// for the periodic snapshots. Mounted on another node: refused, as only that
    /// node can freeze it. Not mounted: taken as it is.
    public func backup(name: String, label: String) async throws(CloudstorError) -> BlockSnapshot {
        try VolumeName.validate(name)
        try Self.validateLabel(label)
        let backend = try snapshotBackend()
        return try await locks.withLock(name) { () async throws(CloudstorError) -> BlockSnapshot in
            let record = try await existing(name, fresh: true)
            guard record.backing == .relocatable else {
                throw CloudstorError(
                    .failedPrecondition, "volume \(name) is shared: Cloudstor backs up relocatable volumes; a shared volume is a directory of the shared file system (AWS Backup covers EFS)")
            }
            if relocator?.isMoving(name) == true {
                throw CloudstorError(.unavailable, "volume \(name) is being moved to another zone; back it up once the move is done")
            }
            let path = mountpoint(of: record)
            if ledger.holdCount(name) > 0, try host.isMounted(path) {
                return try await host.frozen(path) { () async throws(CloudstorError) -> BlockSnapshot in
                    try await backend.backup(of: record, label: label)
                }
            }
            // A Mount elsewhere that comes after this look makes the backup crash-consistent,
            // as a snapshot of a running instance's disk is; it never loses data.
            if let holder = try await block.describe(id: record.cloudID, fresh: true)?.holder, holder != node {
                throw CloudstorError(
                    .failedPrecondition, "volume \(name) is mounted on node \(holder): back it up there, where its filesystem can be frozen")
            }
            return try await backend.backup(of: record, label: label)
        }
    }

    /// The snapshots Cloudstor made of a volume (of every volume if nil), newest first.
    public func snapshots(of name: String?) async throws(CloudstorError) -> [BlockSnapshot] {
        if let name { try VolumeName.validate(name) }
        return try await snapshotBackend().snapshots(of: name)
    }

    /// Deletes a backup; refuses any other snapshot.
    public func deleteBackup(id: String) async throws(CloudstorError) {
        try await snapshotBackend().deleteBackup(id: id)
    }

    private func snapshotBackend() throws(CloudstorError) -> any MovableBlockBackend {
        guard let relocator else {
            throw CloudstorError(.failedPrecondition, "this daemon's provider has no snapshots: backups need one that has (--provider aws)")
        }
        return relocator.backend
    }

    /// Up to 128 of `[A-Za-z0-9._:/=+@-]`: what an EBS tag takes, less spaces.
    static func validateLabel(_ label: String) throws(CloudstorError) {
        let allowed = label.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "+"),
                UInt8(ascii: "@"), UInt8(ascii: "-"): true
            default: false
            }
        }
        guard allowed, label.utf8.count <= 128 else {
            throw CloudstorError(.invalidArgument, "invalid label \(VolumeName.quoted(label)): up to 128 of A-Z a-z 0-9 . _ : / = + @ -")
        }
    }
}
