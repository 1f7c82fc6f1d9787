/// A block backend whose volumes can change zone: snapshot, create from the
/// snapshot in this node's zone, mark the old volume superseded, delete it. Every
/// step is recorded where every node sees it (EBS tags), so `observeMove` can tell
/// how far a move got whoever started it and whenever they stopped.
public protocol MovableBlockBackend: BlockBackend {
    /// What exists of a move of the volume into this node's zone.
    func observeMove(of record: VolumeRecord) async throws(CloudstorError) -> MoveState
    /// Writes the claim on the source volume (replacing a stale one): a move's in
    /// the claim tag, a Remove's (`MoveClaim.isRemoval`) in a tag of its own.
    func claim(_ claim: MoveClaim, on source: String) async throws(CloudstorError)
    /// Clears this claim on the source volume (a move given up, or a stale claim);
    /// leaves any other claim there now alone.
    func releaseClaim(_ claim: MoveClaim, on source: String) async throws(CloudstorError)
    /// Clears the holder mark of a node that is not running (it holds nothing now).
    func clearHolder(_ holder: String, on source: String) async throws(CloudstorError)
    /// Starts the snapshot that carries the data, marked as the claimed attempt's
    /// (no node holds the volume mounted).
    func startMoveSnapshot(of record: VolumeRecord, claim: MoveClaim) async throws(CloudstorError)
    /// Creates the volume of the next generation in this node's zone from the
    /// snapshot, marked as the claimed attempt's (idempotent).
    func createMoveTarget(of record: VolumeRecord, from snapshot: String, claim: MoveClaim) async throws(CloudstorError)
    /// The commit point: the source is marked superseded by the target.
    func supersede(_ source: String, by target: String) async throws(CloudstorError)
    /// Deletes what the finished move left (the source volume and every move
    /// snapshot of it), then clears the target's marks of a move in progress.
    func cleanUpMove(source: String?, target: String) async throws(CloudstorError)
    /// Starts a background snapshot of the volume; returns once it has started (the
    /// moment its content is fixed), so that the filesystem is frozen no longer.
    func periodicSnapshot(of record: VolumeRecord) async throws(CloudstorError)
    /// Deletes all but the newest `keep` background snapshots of the volume.
    func prunePeriodicSnapshots(of record: VolumeRecord, keep: Int) async throws(CloudstorError)
    /// Starts a backup of the volume (returns once it has started: the moment its
    /// content is fixed), labelled; never deleted but by `deleteBackup`.
    func backup(of record: VolumeRecord, label: String) async throws(CloudstorError) -> BlockSnapshot
    /// The snapshots Cloudstor made of the volume named, or of every volume of the
    /// stack if nil; newest first.
    func snapshots(of name: String?) async throws(CloudstorError) -> [BlockSnapshot]
    /// Deletes a backup Cloudstor made in this stack; refuses any other snapshot.
    func deleteBackup(id: String) async throws(CloudstorError)
}

/// The parts of a move as they exist now: the source (with its claim), and the
/// snapshot and target of the attempt its claim names.
public struct MoveState: Sendable, Equatable {
    public struct Snapshot: Sendable, Equatable {
        public var id: String
        /// pending, completed, error
        public var state: String
        public var percent: Int

        public init(id: String, state: String, percent: Int) {
            self.id = id
            self.state = state
            self.percent = percent
        }
    }

    /// The volume being moved; nil once deleted (after the commit).
    public var source: BlockVolume?
    public var snapshot: Snapshot?
    /// The next generation's volume in this node's zone.
    public var target: BlockVolume?
    /// The source carries the commit mark naming the target.
    public var committed: Bool

    public init(source: BlockVolume?, snapshot: Snapshot?, target: BlockVolume?, committed: Bool) {
        self.source = source
        self.snapshot = snapshot
        self.target = target
        self.committed = committed
    }
}
