import FoundationEssentials
import Synchronization

/// The local provider's volume records: the volume table of the node's state
/// database, read from an in-memory copy changed only after each commit. Writes
/// take turns on `writer`, held across the commit; the copy's lock is never held
/// while the disk syncs, so a Get answers while a Create commits.
public final class LocalVolumeStore: VolumeStore {
    private let database: StateDatabase
    private let records: Mutex<[String: VolumeRecord]>
    private let writer = Mutex(())

    public init(database: StateDatabase) throws(CloudstorError) {
        self.database = database
        let rows = try database.read { db in try db.execute("SELECT name, backing, options, cloud_id, created_at FROM volume") }
        var loaded: [String: VolumeRecord] = [:]
        for row in rows {
            let name: String
            let backingName: String
            let options: [String: String]?
            let cloudID: String
            let createdAt: String
            do {
                (name, backingName, cloudID, createdAt) = (try row.text("name"), try row.text("backing"), try row.text("cloud_id"), try row.text("created_at"))
                options = try? JSONDecoder().decode([String: String].self, from: Data(try row.text("options").utf8))
            } catch {
                throw StateDatabase.map(error)
            }
            guard let backing = Backing(rawValue: backingName), let options else {
                throw CloudstorError(.internalError, "volume \(name) has an unreadable record in the state database (backing \(backingName))")
            }
            loaded[name] = VolumeRecord(name: name, backing: backing, options: options, cloudID: cloudID, createdAt: createdAt)
        }
        records = Mutex(loaded)
    }

    public func volume(named name: String, fresh: Bool = false) -> VolumeRecord? {
        records.withLock { $0[name] }
    }

    public func knownVolume(named name: String) -> VolumeRecord? {
        volume(named: name)
    }

    public func knownVolumes() -> [VolumeRecord] {
        volumes()
    }

    public func volumes() -> [VolumeRecord] {
        records.withLock { $0.values.sorted { $0.name < $1.name } }
    }

    public func save(_ record: VolumeRecord) throws(CloudstorError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let options = String(decoding: (try? encoder.encode(record.options)) ?? Data("{}".utf8), as: UTF8.self)
        try writer.withLock { _ throws(CloudstorError) in
            try database.write { db in
                try db.execute(
                    """
                    INSERT INTO volume (name, backing, options, cloud_id, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET backing = excluded.backing, options = excluded.options,
                      cloud_id = excluded.cloud_id, created_at = excluded.created_at
                    """,
                    [.text(record.name), .text(record.backing.rawValue), .text(options), .text(record.cloudID), .text(record.createdAt)])
            }
            records.withLock { $0[record.name] = record }
        }
    }

    public func delete(named name: String) throws(CloudstorError) {
        try writer.withLock { _ throws(CloudstorError) in
            try database.write { db in try db.execute("DELETE FROM volume WHERE name = ?", [.text(name)]) }
            records.withLock { $0[name] = nil }
        }
    }
}
