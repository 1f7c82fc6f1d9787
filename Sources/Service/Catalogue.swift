import Foundation
import GRDB
import Synchronization

/// The node's crash-safe record, in SQLite: the volumes of the local provider and,
/// for every volume, the Docker mount ids holding it on this node with a count each
/// (Docker may send the same id twice). Each write is one transaction; reads are
/// answered from an in-memory copy that is loaded at open and changed only after
/// a write commits, under the same lock, so it never disagrees with the file.
/// One daemon owns a state directory (Daemon takes its lock), so nobody else writes.
public final class Catalogue: Sendable {
    private struct Contents {
        var volumes: [String: VolumeRecord] = [:]
        var holds: [String: [String: Int]] = [:]
    }

    private let db: DatabaseQueue
    private let contents: Mutex<Contents>

    /// Opens (creating if needed) the catalogue at path; ":memory:" for tests.
    public init(path: String) throws(CloudstorError) {
        do {
            var config = Configuration()
            config.foreignKeysEnabled = true
            config.busyMode = .timeout(5)
            db = path == ":memory:" ? try DatabaseQueue(configuration: config) : try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(db)
            let loaded = try db.read { db in
                var contents = Contents()
                for record in try VolumeRecord.fetchAll(db) { contents.volumes[record.name] = record }
                for row in try Row.fetchAll(db, sql: "SELECT volume, mount_id, count FROM hold") {
                    contents.holds[row["volume"] as String, default: [:]][row["mount_id"] as String] = row["count"] as Int
                }
                return contents
            }
            contents = Mutex(loaded)
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
        try locked { contents in
            try db.write { db in try record.insert(db) }
            contents.volumes[record.name] = record
        }
    }

    public func volume(named name: String) -> VolumeRecord? {
        contents.withLock { $0.volumes[name] }
    }

    /// The volume and the total of its holds.
    public func volumeAndHolds(named name: String) -> (VolumeRecord, Int)? {
        contents.withLock { contents in
            contents.volumes[name].map { ($0, contents.holds[name]?.values.reduce(0, +) ?? 0) }
        }
    }

    /// Every volume, in name order.
    public func volumes() -> [VolumeRecord] {
        contents.withLock { $0.volumes.values.sorted { $0.name < $1.name } }
    }

    /// Deletes the record; refused by the database while holds remain.
    public func delete(named name: String) throws(CloudstorError) {
        try locked { contents in
            try db.write { db in _ = try VolumeRecord.deleteOne(db, key: name) }
            contents.volumes[name] = nil
        }
    }

    /// The holds on one volume: mount id → count.
    public func holds(on name: String) -> [String: Int] {
        contents.withLock { $0.holds[name] ?? [:] }
    }

    /// Every held volume with the total of its holds.
    public func holdTotals() -> [String: Int] {
        contents.withLock { $0.holds.mapValues { $0.values.reduce(0, +) } }
    }

    /// Adds one hold by mount id; returns the volume's new total.
    @discardableResult
    public func addHold(on name: String, id: String) throws(CloudstorError) -> Int {
        try locked { contents in
            try db.write { db in
                try db.execute(
                    sql: "INSERT INTO hold (volume, mount_id, count) VALUES (?, ?, 1) ON CONFLICT (volume, mount_id) DO UPDATE SET count = count + 1",
                    arguments: [name, id])
            }
            contents.holds[name, default: [:]][id, default: 0] += 1
            return contents.holds[name]!.values.reduce(0, +)
        }
    }

    /// Releases one hold by mount id. Returns false if the id held nothing.
    @discardableResult
    public func releaseHold(on name: String, id: String) throws(CloudstorError) -> Bool {
        try locked { contents in
            guard let count = contents.holds[name]?[id] else { return false }
            try db.write { db in
                if count > 1 {
                    try db.execute(sql: "UPDATE hold SET count = count - 1 WHERE volume = ? AND mount_id = ?", arguments: [name, id])
                } else {
                    try db.execute(sql: "DELETE FROM hold WHERE volume = ? AND mount_id = ?", arguments: [name, id])
                }
            }
            contents.holds[name]![id] = count > 1 ? count - 1 : nil
            if contents.holds[name]!.isEmpty { contents.holds[name] = nil }
            return true
        }
    }

    /// Runs a change under the copy's lock: the body commits to the file first and
    /// changes the copy only after, so readers see the state before or after, and
    /// the copy never holds what the file does not.
    private func locked<T>(_ body: (inout Contents) throws -> T) throws(CloudstorError) -> T {
        do {
            return try contents.withLock { try body(&$0) }
        } catch {
            throw Self.map(error)
        }
    }

    private static func map(_ error: any Error) -> CloudstorError {
        if let error = error as? CloudstorError { return error }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_BUSY {
            return CloudstorError(.unavailable, "the catalogue is busy; try again", cause: error)
        }
        return CloudstorError(.internalError, "catalogue error", cause: error)
    }
}
