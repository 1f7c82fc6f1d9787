import CloudstorAWS
import CloudstorService

/// Volume records on AWS: EBS volumes tagged with the stack and a name, read
/// through the cache. Nothing is stored here that another node would need.
struct EBSVolumeStore: VolumeStore {
    let cache: EBSVolumeCache

    func volume(named name: String, fresh: Bool) async throws(CloudstorError) -> VolumeRecord? {
        let volumes = fresh ? try await cache.refresh(name: name) : try await cache.volumes(named: name)
        return EBSTags.live(volumes).flatMap(EBSTags.record)
    }

    func knownVolume(named name: String) async -> VolumeRecord? {
        await cache.known(named: name).flatMap { EBSTags.live($0).flatMap(EBSTags.record) }
    }

    func knownVolumes() async -> [VolumeRecord] {
        await cache.cached().values.compactMap { EBSTags.live($0).flatMap(EBSTags.record) }
    }

    /// Asked afresh: `docker volume ls` on any node lists what every node made, at
    /// one DescribeVolumes call per 500 volumes.
    func volumes() async throws(CloudstorError) -> [VolumeRecord] {
        try await cache.all(fresh: true).values.compactMap { EBSTags.live($0).flatMap(EBSTags.record) }.sorted { $0.name < $1.name }
    }

    /// The backend wrote the tags and put what it made in the cache already.
    func save(_ record: VolumeRecord) async throws(CloudstorError) {}

    func delete(named name: String) async throws(CloudstorError) {
        await cache.forget(name: name)
    }
}
