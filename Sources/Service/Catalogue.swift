import Foundation
import GRDB

/// The node's crash-safe record, in SQLite: the volumes of the local provider and,
/// for every volume, the Docker mount ids holding it on this node with a count each
/// (Docker may send the same id twice). Each method is one transaction.
public final class Catalogue: Sendable {
    private let db: DatabaseQueue

    /// Opens (creating if needed) the catalogue at path; ":memory:" for tests.
    public init(path: String) throws(CloudstorError) {
        do {
            var config = Configuration()
            config.foreignKeysEnabled = true
            config.busyMode = .timeout(5)
            db = path == ":memory:" ? try DatabaseQueue(configuration: config) : try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw CloudstorError(.internalError, "cannot open the catalogue at \(path)", cause: error)
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "volume") { t in
                t.primaryKey("name", .text)
                t.column("backing", .text).notNull()
                t.column("options", .text).notNull()
                t.column("cloud_id", .text).notNull()
                t.column("created_at", .text).notNull()
            }
            try db.create(table: "hold") { t in
                t.column("volume", .text).notNull().references("volume", onDelete: .restrict)
                t.column("mount_id", .text).notNull()
                t.column("count", .integer).notNull().check { $0 > 0 }
                t.primaryKey(["volume", "mount_id"])
            }
        }
        return migrator
    }

    public func insert(_ record: VolumeRecord) throws(CloudstorError) {
        try write { db in try record.insert(db) }
    }

    public func volume(named name: String) throws(CloudstorError) -> VolumeRecord? {
        try read { db in try VolumeRecord.fetchOne(db, key: name) }
    }

    /// The volume and the total of its holds, in one read.
    public func volumeAndHolds(named name: String) throws(CloudstorError) -> (VolumeRecord, Int)? {
        try read { db in
            guard let record = try VolumeRecord.fetchOne(db, key: name) else { return nil }
            let total = try Int.fetchOne(db, sql: "SELECT SUM(count) FROM hold WHERE volume = ?", arguments: [name]) ?? 0
            return (record, total)
        }
    }

    public func volumes() throws(CloudstorError) -> [VolumeRecord] {
        try read { db in try VolumeRecord.order(Column("name")).fetchAll(db) }
    }

    /// Deletes the record; refused by the database while holds remain.
    public func delete(named name: String) throws(CloudstorError) {
        try write { db in _ = try VolumeRecord.deleteOne(db, key: name) }
    }

    /// The holds on one volume: mount id → count.
    public func holds(on name: String) throws(CloudstorError) -> [String: Int] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT mount_id, count FROM hold WHERE volume = ?", arguments: [name])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["mount_id"] as String, $0["count"] as Int) })
        }
    }

    /// Every held volume with the total of its holds.
    public func holdTotals() throws(CloudstorError) -> [String: Int] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT volume, SUM(count) AS total FROM hold GROUP BY volume")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["volume"] as String, $0["total"] as Int) })
        }
    }

    /// Adds one hold by mount id; returns the volume's new total.
    @discardableResult
    public func addHold(on name: String, id: String) throws(CloudstorError) -> Int {
        try write { db in
            try db.execute(
                sql: "INSERT INTO hold (volume, mount_id, count) VALUES (?, ?, 1) ON CONFLICT (volume, mount_id) DO UPDATE SET count = count + 1",
                arguments: [name, id])
            return try Int.fetchOne(db, sql: "SELECT SUM(count) FROM hold WHERE volume = ?", arguments: [name]) ?? 0
        }
    }

    /// Releases one hold by mount id. Returns false if the id held nothing.
    @discardableResult
    public func releaseHold(on name: String, id: String) throws(CloudstorError) -> Bool {
        try write { db in
            guard let count = try Int.fetchOne(db, sql: "SELECT count FROM hold WHERE volume = ? AND mount_id = ?", arguments: [name, id])
            else { return false }
            if count > 1 {
                try db.execute(sql: "UPDATE hold SET count = count - 1 WHERE volume = ? AND mount_id = ?", arguments: [name, id])
            } else {
                try db.execute(sql: "DELETE FROM hold WHERE volume = ? AND mount_id = ?", arguments: [name, id])
            }
            return true
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(CloudstorError) -> T {
        do { return try db.read(body) } catch { throw Self.map(error) }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(CloudstorError) -> T {
        do { return try db.write(body) } catch { throw Self.map(error) }
    }

    private static func map(_ error: any Error) -> CloudstorError {
        if let error = error as? CloudstorError { return error }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_BUSY {
            return CloudstorError(.unavailable, "the catalogue is busy; try again", cause: error)
        }
        return CloudstorError(.internalError, "catalogue error", cause: error)
    }
}
