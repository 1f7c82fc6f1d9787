import Foundation
import GRDB
import Synchronization

/// The local provider's volume records: the volume table of the node's state
/// database, read from an in-memory copy changed only after each commit. Writes
/// take turns on `writer`, held across the commit; the copy's lock is never held
/// while the disk syncs, so a Get answers while a Create commits.
public final class LocalVolumeStore: VolumeStore {
    private struct Row: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "volume"
        var name: String
        var backing: String
        var options: [String: String]
        var cloud_id: String
        var created_at: String
    }

    private let database: StateDatabase
    private let records: Mutex<[String: VolumeRecord]>
    private let writer = Mutex(())

    public init(database: StateDatabase) throws(CloudstorError) {
        self.database = database
        let rows = try database.read { db in try Row.fetchAll(db) }
        var loaded: [String: VolumeRecord] = [:]
        for row in rows {
            guard let backing = Backing(rawValue: row.backing) else {
                throw CloudstorError(.internalError, "volume \(row.name) has unknown backing \(row.backing) in the state database")
            }
            loaded[row.name] = VolumeRecord(
                name: row.name, backing: backing, options: row.options, cloudID: row.cloud_id, createdAt: row.created_at)
        }
        records = Mutex(loaded)
    }

    public func volume(named name: String, fresh: Bool = false) -> VolumeRecord? {
        records.withLock { $0[name] }
    }

    public func knownVolume(named name: String) -> VolumeRecord? {
        volume(named: name)
    }

    public func volumes() -> [VolumeRecord] {
        records.withLock { $0.values.sorted { $0.name < $1.name } }
    }

    public func save(_ record: VolumeRecord) throws(CloudstorError) {
        let row = Row(
            name: record.name, backing: record.backing.rawValue, options: record.options, cloud_id: record.cloudID,
            created_at: record.createdAt)
        try writer.withLock { _ throws(CloudstorError) in
            try database.write { db in try row.save(db) }
            records.withLock { $0[record.name] = record }
        }
    }

    public func delete(named name: String) throws(CloudstorError) {
        try writer.withLock { _ throws(CloudstorError) in
            try database.write { db in _ = try Row.deleteOne(db, key: name) }
            records.withLock { $0[name] = nil }
        }
    }
}
