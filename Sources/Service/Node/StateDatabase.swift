import CloudstorSupport
import Synchronization

/// The node's SQLite file (`catalogue.sqlite` in the state directory) and its
/// schema. The node ledger keeps its holds and moves here; the local provider's
/// volume store its volume table (empty on other providers). One connection,
/// used by one caller at a time.
public final class StateDatabase: Sendable {
    private let connection: SQLiteConnection
    /// Held while the connection is in use.
    private let lock = Mutex(())

    /// Opens (creating if needed) the database at path; ":memory:" for tests.
    public init(path: String) throws(CloudstorError) {
        do {
            let connection = try SQLiteConnection(path: path)
            // Write-ahead log: a commit is one append and one fdatasync of the log,
            // where the rollback journal took four syncs, a directory sync and an
            // unlink. synchronous is FULL: a commit is on disk when it returns
            // (except `writeForThisBoot`'s).
            if path != ":memory:" { try connection.execute("PRAGMA journal_mode = WAL") }
            try connection.execute("PRAGMA synchronous = FULL")
            try connection.execute("PRAGMA foreign_keys = ON")
            try Self.migrate(connection)
            self.connection = connection
        } catch let error as CloudstorError {
            throw CloudstorError(error.code, "the state database at \(path): \(error.message)")
        } catch {
            throw CloudstorError(.internalError, "cannot open the state database at \(path)", cause: error)
        }
    }

    /// The schema's steps; the file's `user_version` says how many it has taken.
    static let migrations: [String] = [
        // v1
        """
        CREATE TABLE volume (name TEXT NOT NULL PRIMARY KEY, backing TEXT NOT NULL, options TEXT NOT NULL,
          cloud_id TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE hold (volume TEXT NOT NULL REFERENCES volume(name) ON DELETE RESTRICT, mount_id TEXT NOT NULL,
          count INTEGER NOT NULL CHECK (count > 0), PRIMARY KEY (volume, mount_id));
        """,
        // v2: holds belong to the node, volumes to the provider (on AWS, to EBS
        // tags): a hold no longer needs a row in the volume table.
        """
        CREATE TABLE node_hold (volume TEXT NOT NULL, mount_id TEXT NOT NULL, count INTEGER NOT NULL CHECK (count > 0),
          PRIMARY KEY (volume, mount_id));
        INSERT INTO node_hold (volume, mount_id, count) SELECT volume, mount_id, count FROM hold;
        DROP TABLE hold;
        CREATE TABLE move (volume TEXT NOT NULL PRIMARY KEY, to_zone TEXT NOT NULL, started_at TEXT NOT NULL);
        """,
        // v3: facts about the node itself, such as the boot its holds belong to.
        "CREATE TABLE node_fact (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);",
    ]

    /// Takes the steps the file has not, in one transaction, and records their
    /// number in `user_version`. A file an earlier Cloudstor wrote through GRDB,
    /// which listed the steps taken in `grdb_migrations`, is taken as having taken
    /// those. A file of a later release, with steps this one does not know, is
    /// refused: lowering its version would make that release take them again.
    static func migrate(_ connection: SQLiteConnection) throws {
        try connection.transaction {
            let stored = try connection.execute("PRAGMA user_version").first?.integer("user_version") ?? 0
            var version = stored
            let grdb = try connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'grdb_migrations'")
            if version == 0, !grdb.isEmpty {
                let taken = Set(try connection.execute("SELECT identifier FROM grdb_migrations").map { try $0.text("identifier") })
                version = (1...migrations.count).prefix { taken.contains("v\($0)") }.count
                try connection.execute("DROP TABLE grdb_migrations")
            }
            guard version <= migrations.count else {
                throw CloudstorError(
                    .failedPrecondition,
                    "its schema is version \(version), of a later Cloudstor; this one knows \(migrations.count): run that release again")
            }
            for step in migrations.dropFirst(version) {
                for statement in step.split(separator: ";").map({ $0.trimmingWhitespace() }) where !statement.isEmpty {
                    try connection.execute(statement)
                }
            }
            if stored != migrations.count { try connection.execute("PRAGMA user_version = \(migrations.count)") }
        }
    }

    /// Runs body in one transaction, committed to disk when this returns.
    @discardableResult
    func write<T>(_ body: (SQLiteConnection) throws -> T) throws(CloudstorError) -> T {
        try using { connection in try connection.transaction { try body(connection) } }
    }

    /// Runs body in one transaction that outlives the daemon but not the machine:
    /// committed with `synchronous = NORMAL`, it is in the kernel's page cache when
    /// this returns, on disk at the next synced commit or checkpoint, and it costs
    /// no fdatasync. Only for what a new boot discards anyway: the holds (NodeLedger
    /// releases every hold of an earlier boot, since no container outlives one). A
    /// power loss can lose the last such commits; it cannot tear the file.
    @discardableResult
    func writeForThisBoot<T>(_ body: (SQLiteConnection) throws -> T) throws(CloudstorError) -> T {
        try using { connection in
            try connection.execute("PRAGMA synchronous = NORMAL")
            defer { _ = try? connection.execute("PRAGMA synchronous = FULL") }
            return try connection.transaction { try body(connection) }
        }
    }

    /// Runs body in one read transaction.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws(CloudstorError) -> T {
        try using { connection in try connection.transaction(immediate: false) { try body(connection) } }
    }

    private func using<T>(_ body: (SQLiteConnection) throws -> T) throws(CloudstorError) -> T {
        do {
            return try lock.withLock { _ in try body(connection) }
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ error: any Error) -> CloudstorError {
        if let error = error as? CloudstorError { return error }
        if let error = error as? SQLiteError, error.isBusy {
            return CloudstorError(.unavailable, "the state database is busy; try again", cause: error)
        }
        return CloudstorError(.internalError, "state database error", cause: error)
    }
}
