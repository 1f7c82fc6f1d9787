/// Where volume records live. The local provider keeps them in the node's SQLite
/// database; AWS keeps them in EBS tags, shared by every node, behind a cache.
/// A store answers for its own stack only.
public protocol VolumeStore: Sendable {
    /// The volume of this name, or nil. May ask the source of truth when the cache
    /// does not know the name (another node may have made it); `fresh` asks it
    /// whatever the cache knows (another node may have moved or removed it).
    func volume(named name: String, fresh: Bool) async throws(CloudstorError) -> VolumeRecord?
    /// The volume of this name as far as the store knows it without any I/O (a
    /// memory copy, a cache still fresh), or nil: a Get of a volume it knows
    /// answers without waiting for a disk, a network file system or a cloud.
    func knownVolume(named name: String) async -> VolumeRecord?
    /// Every volume the store holds in memory, whatever its age, with no I/O (what
    /// a metrics scrape counts).
    func knownVolumes() async -> [VolumeRecord]
    /// Every volume, in name order.
    func volumes() async throws(CloudstorError) -> [VolumeRecord]
    /// Records a volume its backend has just made (or re-points it after a move);
    /// where the backend's storage is the record (EBS tags), there is nothing to do.
    func save(_ record: VolumeRecord) async throws(CloudstorError)
    /// Forgets a volume whose storage is gone.
    func delete(named name: String) async throws(CloudstorError)
}
