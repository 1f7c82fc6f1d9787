import FoundationEssentials
import Synchronization

/// The records of relocatable volumes on a cluster root, read by every node:
/// `ROOT/.cloudstor/relocatable/volumes/NAME`, published whole and exclusively,
/// so that of two nodes creating one name, one record wins. What was last read
/// is kept in memory for the calls that must not wait on the file system.
public final class ClusterVolumeStore: VolumeStore {
    let backend: ClusterImageBackend
    private let known = Mutex<[String: VolumeRecord]>([:])

    public init(backend: ClusterImageBackend) {
        self.backend = backend
    }

    public func volume(named name: String, fresh: Bool) async throws(CloudstorError) -> VolumeRecord? {
        let fs = backend.fs
        let metadata = try await FileSystemIO.run { () throws(CloudstorError) in try fs.metadata(name) }
        let record = metadata.map(record)
        known.withLock { $0[name] = record }
        return record
    }

    public func knownVolume(named name: String) async -> VolumeRecord? {
        known.withLock { $0[name] }
    }

    public func knownVolumes() async -> [VolumeRecord] {
        known.withLock { $0.values.sorted { $0.name < $1.name } }
    }

    /// Every record; one that cannot be read is left out (the Get of its name says why).
    public func volumes() async throws(CloudstorError) -> [VolumeRecord] {
        let fs = backend.fs
        let records = try await FileSystemIO.run { () throws(CloudstorError) in try fs.allMetadata().volumes }.map(record)
        known.withLock { known in known = Dictionary(uniqueKeysWithValues: records.map { ($0.name, $0) }) }
        return records.sorted { $0.name < $1.name }
    }

    /// Publishes the record unless another node's is there: theirs is the volume.
    public func save(_ record: VolumeRecord) async throws(CloudstorError) {
        let fs = backend.fs
        let metadata = SharedMetadata(name: record.name, options: record.options, createdBy: backend.node, createdAt: record.createdAt)
        _ = try await FileSystemIO.run { () throws(CloudstorError) in try fs.publish(metadata, in: fs.volumes) }
    }

    /// The record goes with the image (`ClusterImageBackend.remove`); one left by a
    /// removal interrupted between the two goes here, never one made again since.
    public func delete(named name: String) async throws(CloudstorError) {
        try await backend.fs.forgetRecord(name)
        known.withLock { $0[name] = nil }
    }

    private func record(_ metadata: SharedMetadata) -> VolumeRecord {
        VolumeRecord(name: metadata.name, backing: .relocatable, options: metadata.options, cloudID: backend.fs.path(metadata.name), createdAt: metadata.createdAt)
    }
}
