import CloudstorAWS
import CloudstorService

/// Volume records on AWS: EBS volumes tagged with the stack and a name, read
/// through the cache. Nothing is stored here that another node would need.
struct EBSVolumeStore: VolumeStore {
    let cache: EBSVolumeCache

    func volume(named name: String) async throws(CloudstorError) -> VolumeRecord? {
        EBSTags.live(try await cache.volumes(named: name)).flatMap(EBSTags.record)
    }

    func volumes() async throws(CloudstorError) -> [VolumeRecord] {
        try await cache.all().values.compactMap { EBSTags.live($0).flatMap(EBSTags.record) }.sorted { $0.name < $1.name }
    }

    /// The backend wrote the tags already; this makes sure the cache shows the name's volumes as EC2 has them.
    func save(_ record: VolumeRecord) async throws(CloudstorError) {
        try await cache.refresh(name: record.name)
    }

    func delete(named name: String) async throws(CloudstorError) {
        await cache.forget(name: name)
    }
}
