import Foundation
import Testing

@testable import CloudstorService

@Suite struct NodeLedgerTests {
    let record = VolumeRecord(
        name: "v", backing: .relocatable, options: ["size": "1"], cloudID: "/img/v.img", createdAt: "2026-01-01T00:00:00Z")

    @Test func holdsCountRepeatsAndSurviveReopening() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        do {
            let database = try StateDatabase(path: "\(dir)/c.sqlite")
            try LocalVolumeStore(database: database).save(record)
            let ledger = try NodeLedger(database: database)
            #expect(try ledger.addHold(on: "v", id: "a") == 1)
            #expect(try ledger.addHold(on: "v", id: "a") == 2)
            #expect(try ledger.addHold(on: "v", id: "b") == 3)
            try ledger.recordMove(of: "v", to: "zone-2")
        }
        let database = try StateDatabase(path: "\(dir)/c.sqlite")
        #expect(try LocalVolumeStore(database: database).volume(named: "v") == record)
        let reopened = try NodeLedger(database: database)
        #expect(reopened.holds(on: "v") == ["a": 2, "b": 1])
        #expect(reopened.moves() == ["v": "zone-2"])
        #expect(try reopened.releaseHold(on: "v", id: "a"))
        #expect(try !reopened.releaseHold(on: "v", id: "nobody"))
        #expect(reopened.holdCounts() == ["v": 2])
        #expect(reopened.holdCount("v") == 2)
    }

    /// A state directory of the first release (written through GRDB, which kept
    /// its steps in grdb_migrations): holds in the old table survive the upgrade.
    @Test func holdsOfTheFirstSchemaAreKept() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try write(
            """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1');
            CREATE TABLE volume (name TEXT PRIMARY KEY, backing TEXT NOT NULL, options TEXT NOT NULL, cloud_id TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE hold (volume TEXT NOT NULL REFERENCES volume(name) ON DELETE RESTRICT, mount_id TEXT NOT NULL,
                count INTEGER NOT NULL CHECK (count > 0), PRIMARY KEY (volume, mount_id));
            INSERT INTO volume VALUES ('v', 'relocatable', '{"size":"1"}', '/img/v.img', '2026-01-01T00:00:00Z');
            INSERT INTO hold VALUES ('v', 'a', 2)
            """, to: "\(dir)/c.sqlite")
        let database = try StateDatabase(path: "\(dir)/c.sqlite")
        #expect(try LocalVolumeStore(database: database).volume(named: "v") == record)
        #expect(try NodeLedger(database: database).holds(on: "v") == ["a": 2])
    }

    /// A state directory GRDB took through all three steps: nothing is redone
    /// (v2 would fail on the missing hold table), nothing is lost.
    @Test func aFileGRDBMigratedFullyIsTakenAsIs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try write(
            """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1'), ('v2'), ('v3');
            CREATE TABLE volume (name TEXT PRIMARY KEY, backing TEXT NOT NULL, options TEXT NOT NULL, cloud_id TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE node_hold (volume TEXT NOT NULL, mount_id TEXT NOT NULL, count INTEGER NOT NULL CHECK (count > 0), PRIMARY KEY (volume, mount_id));
            CREATE TABLE move (volume TEXT NOT NULL PRIMARY KEY, to_zone TEXT NOT NULL, started_at TEXT NOT NULL);
            CREATE TABLE node_fact (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO volume VALUES ('v', 'relocatable', '{"size":"1"}', '/img/v.img', '2026-01-01T00:00:00Z');
            INSERT INTO node_hold VALUES ('v', 'a', 3);
            INSERT INTO move VALUES ('v', 'zone-2', '2026-01-01T00:00:00Z');
            INSERT INTO node_fact VALUES ('boot', 'boot-1')
            """, to: "\(dir)/c.sqlite")
        let database = try StateDatabase(path: "\(dir)/c.sqlite")
        #expect(try LocalVolumeStore(database: database).volume(named: "v") == record)
        let ledger = try NodeLedger(database: database, boot: "boot-1")
        #expect(ledger.holds(on: "v") == ["a": 3] && ledger.moves() == ["v": "zone-2"])
        #expect(try database.read { try $0.execute("PRAGMA user_version").first?.integer("user_version") } == 3)
        #expect(try database.read { try $0.execute("SELECT name FROM sqlite_master WHERE name = 'grdb_migrations'") }.isEmpty)
    }

    /// A file a later release migrated further is refused, untouched: lowering its
    /// version would have that release take its own steps again when it is back.
    /// A value of another type where text belongs (a hand-edited file) reads as text.
    @Test func aFileOfALaterReleaseIsRefusedAndKept() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let database = try StateDatabase(path: "\(dir)/c.sqlite")
            try database.write { db in
                try db.execute("INSERT INTO node_fact (key, value) VALUES ('blob', x''), ('real', 1.5)")
            }
            #expect(try database.read { try $0.execute("SELECT value FROM node_fact ORDER BY key").map { try $0.text("value") } } == ["", "1.5"])
        }
        let later = StateDatabase.migrations.count + 1
        try write("PRAGMA user_version = \(later)", to: "\(dir)/c.sqlite")
        let error = #expect(throws: CloudstorError.self) { try StateDatabase(path: "\(dir)/c.sqlite") }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("schema is version \(later), of a later Cloudstor") == true)
        let version = try SQLiteConnection(path: "\(dir)/c.sqlite").execute("PRAGMA user_version").first?.integer("user_version")
        #expect(version == later)
    }

    /// Runs statements on a file as another program would.
    func write(_ script: String, to path: String) throws {
        let connection = try SQLiteConnection(path: path)
        for statement in script.split(separator: ";") { try connection.execute(String(statement)) }
    }

    /// Holds are written without waiting for the disk; nothing else is: the
    /// connection is back to FULL after each hold write, also after one that failed.
    @Test func onlyHoldWritesSkipTheSync() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try StateDatabase(path: "\(dir)/c.sqlite")
        let synchronous = { try database.read { try $0.execute("PRAGMA synchronous").first?.integer("synchronous") } }
        #expect(try synchronous() == 2)  // FULL
        let ledger = try NodeLedger(database: database)
        try ledger.addHold(on: "v", id: "a")
        #expect(try synchronous() == 2)
        try ledger.releaseHold(on: "v", id: "a")
        #expect(try synchronous() == 2)
        #expect(throws: CloudstorError.self) {
            try database.writeForThisBoot { db in
                #expect(try db.execute("PRAGMA synchronous").first?.integer("synchronous") == 1)  // NORMAL
                try db.execute("INSERT INTO node_hold (volume, mount_id, count) VALUES ('v', 'b', 0)")  // breaks its CHECK
            }
        }
        #expect(try synchronous() == 2)
        #expect(try database.read { try $0.execute("SELECT COUNT(*) AS n FROM node_hold").first?.integer("n") } == 0)
    }

    @Test func anUnopenableDatabaseSaysWhere() {
        let error = #expect(throws: CloudstorError.self) { try StateDatabase(path: "/proc/no/such/dir/c.sqlite") }
        #expect(error?.message.contains("/proc/no/such/dir/c.sqlite") == true)
    }

    @Test func holdsOfAPreviousBootAreReleased() throws {
        let database = try StateDatabase(path: ":memory:")
        let first = try NodeLedger(database: database, boot: "boot-1")
        try first.addHold(on: "v", id: "a")
        try first.addHold(on: "v", id: "a")
        try first.addHold(on: "w", id: "b")
        let sameBoot = try NodeLedger(database: database, boot: "boot-1")
        #expect(sameBoot.releasedAtBoot.isEmpty)
        #expect(sameBoot.holdCount("v") == 2)
        let rebooted = try NodeLedger(database: database, boot: "boot-2")
        #expect(rebooted.releasedAtBoot == ["v": 2, "w": 1])
        #expect(rebooted.holdCounts().isEmpty)
        #expect(try NodeLedger(database: database, boot: "boot-2").holdCounts().isEmpty)
    }
}
