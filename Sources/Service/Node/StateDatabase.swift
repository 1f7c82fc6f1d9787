import GRDB

/// The node's SQLite file (`catalogue.sqlite` in the state directory) and its
/// schema. The node ledger keeps its holds and moves here; the local provider's
/// volume store its volume table (empty on other providers).
public final class StateDatabase: Sendable {
    let queue: DatabaseQueue

    /// Opens (creating if needed) the database at path; ":memory:" for tests.
    public init(path: String) throws(CloudstorError) {
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            // Write-ahead log: a commit is one append and one fdatasync of the log,
            // where the rollback journal took four syncs, a directory sync and an
            // unlink. synchronous is FULL: a commit is on disk when it returns
            // (except `writeForThisBoot`'s).
            config.prepareDatabase { db in
                if db.configuration.readonly == false, path != ":memory:" {
                    try db.execute(sql: "PRAGMA journal_mode = WAL")
                }
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            queue = path == ":memory:" ? try DatabaseQueue(configuration: config) : try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(queue)
        } catch {
            throw CloudstorError(.internalError, "cannot open the state database at \(path)", cause: error)
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
        // Holds belong to the node, volumes to the provider (on AWS, to EBS tags):
        // a hold no longer needs a row in the volume table.
        migrator.registerMigration("v2") { db in
            try db.create(table: "node_hold") { t in
                t.column("volume", .text).notNull()
                t.column("mount_id", .text).notNull()
                t.column("count", .integer).notNull().check { $0 > 0 }
                t.primaryKey(["volume", "mount_id"])
            }
            try db.execute(sql: "INSERT INTO node_hold (volume, mount_id, count) SELECT volume, mount_id, count FROM hold")
            try db.drop(table: "hold")
            try db.create(table: "move") { t in
                t.primaryKey("volume", .text)
                t.column("to_zone", .text).notNull()
                t.column("started_at", .text).notNull()
            }
        }
        // Facts about the node itself, such as the boot its holds belong to.
        migrator.registerMigration("v3") { db in
            try db.create(table: "node_fact") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        return migrator
    }

    func write<T>(_ body: (Database) throws -> T) throws(CloudstorError) -> T {
        do {
            return try queue.write(body)
        } catch {
            throw Self.map(error)
        }
    }

    /// Runs body in one transaction that outlives the daemon but not the machine:
    /// committed with `synchronous = NORMAL`, it is in the kernel's page cache when
    /// this returns, on disk at the next synced commit or checkpoint, and it costs
    /// no fdatasync. Only for what a new boot discards anyway: the holds (NodeLedger
    /// releases every hold of an earlier boot, since no container outlives one). A
    /// power loss can lose the last such commits; it cannot tear the file.
    func writeForThisBoot<T>(_ body: (Database) throws -> T) throws(CloudstorError) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                let result = Result { () throws -> T in
                    var value: T?
                    try db.inTransaction {
                        value = try body(db)
                        return .commit
                    }
                    guard let value else { throw CloudstorError(.internalError, "state database: a transaction committed without its result") }
                    return value
                }
                try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
                return try result.get()
            }
        } catch {
            throw Self.map(error)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(CloudstorError) -> T {
        do {
            return try queue.read(body)
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: any Error) -> CloudstorError {
        if let error = error as? CloudstorError { return error }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_BUSY {
            return CloudstorError(.unavailable, "the state database is busy; try again", cause: error)
        }
        return CloudstorError(.internalError, "state database error", cause: error)
    }
}
