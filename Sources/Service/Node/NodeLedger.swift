import FoundationEssentials
import Synchronization

/// This node's own facts, crash-safe: which volumes it holds mounted, by which
/// Docker mount ids and how many times each (Docker may send one id twice), and
/// which moves of volumes it has in flight. Each write is one transaction; reads
/// come from an in-memory copy changed only after the write commits, so the copy
/// never holds what the file does not. Writes take turns on `writer`, held across
/// the commit; the copy's lock is never held while the disk syncs, so a Get (on
/// the event loop) never waits for one. A hold outlives the
/// daemon (a crash, a stop, an upgrade) and is released at the next boot, so its
/// writes need not wait for the disk (`writeForThisBoot`); a move's do.
public final class NodeLedger: Sendable {
    private struct Contents {
        var holds: [String: [String: Int]] = [:]
        var moves: [String: String] = [:]  // volume → target zone
    }

    private let database: StateDatabase
    private let contents: Mutex<Contents>
    private let writer = Mutex(())

    /// The holds of a previous boot, released when the ledger opened: after a
    /// reboot no container holds anything, and Docker mounts again with new ids.
    public let releasedAtBoot: [String: Int]

    /// Opens the ledger. `boot` identifies the running boot of the machine
    /// (`/proc/sys/kernel/random/boot_id`); holds recorded under another are
    /// released, since no Unmount will ever come for them.
    public init(database: StateDatabase, boot: String? = nil) throws(CloudstorError) {
        self.database = database
        releasedAtBoot = try database.write { db in
            guard let boot else { return [:] }
            let recorded = try db.execute("SELECT value FROM node_fact WHERE key = 'boot'").first?.text("value")
            var released: [String: Int] = [:]
            if let recorded, recorded != boot {
                for row in try db.execute("SELECT volume, SUM(count) AS total FROM node_hold GROUP BY volume") {
                    released[try row.text("volume")] = try row.integer("total")
                }
                try db.execute("DELETE FROM node_hold")
            }
            try db.execute(
                "INSERT INTO node_fact (key, value) VALUES ('boot', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [.text(boot)])
            return released
        }
        let loaded = try database.read { db in
            var contents = Contents()
            for row in try db.execute("SELECT volume, mount_id, count FROM node_hold") {
                contents.holds[try row.text("volume"), default: [:]][try row.text("mount_id")] = try row.integer("count")
            }
            for row in try db.execute("SELECT volume, to_zone FROM move") {
                contents.moves[try row.text("volume")] = try row.text("to_zone")
            }
            return contents
        }
        contents = Mutex(loaded)
    }

    /// The holds on one volume: mount id → count.
    public func holds(on name: String) -> [String: Int] {
        contents.withLock { $0.holds[name] ?? [:] }
    }

    /// How many times the volume is held here, repeats counted: the one accessor.
    public func holdCount(_ name: String) -> Int {
        contents.withLock { $0.holds[name]?.values.reduce(0, +) ?? 0 }
    }

    /// Every held volume with its hold count.
    public func holdCounts() -> [String: Int] {
        contents.withLock { $0.holds.mapValues { $0.values.reduce(0, +) } }
    }

    /// Adds one hold by mount id; returns the volume's new count.
    @discardableResult
    public func addHold(on name: String, id: String) throws(CloudstorError) -> Int {
        try writing { () throws(CloudstorError) in
            try database.writeForThisBoot { db in
                try db.execute(
                    "INSERT INTO node_hold (volume, mount_id, count) VALUES (?, ?, 1) ON CONFLICT (volume, mount_id) DO UPDATE SET count = count + 1",
                    [.text(name), .text(id)])
            }
            return contents.withLock { contents in
                contents.holds[name, default: [:]][id, default: 0] += 1
                return contents.holds[name]!.values.reduce(0, +)
            }
        }
    }

    /// Releases one hold by mount id. Returns false if the id held nothing.
    @discardableResult
    public func releaseHold(on name: String, id: String) throws(CloudstorError) -> Bool {
        try writing { () throws(CloudstorError) in
            // Only writers change the copy, and this is the one writing now.
            guard let count = contents.withLock({ $0.holds[name]?[id] }) else { return false }
            try database.writeForThisBoot { db in
                if count > 1 {
                    try db.execute("UPDATE node_hold SET count = count - 1 WHERE volume = ? AND mount_id = ?", [.text(name), .text(id)])
                } else {
                    try db.execute("DELETE FROM node_hold WHERE volume = ? AND mount_id = ?", [.text(name), .text(id)])
                }
            }
            contents.withLock { contents in
                contents.holds[name]![id] = count > 1 ? count - 1 : nil
                if contents.holds[name]!.isEmpty { contents.holds[name] = nil }
            }
            return true
        }
    }

    /// Moves this node started and has not finished: volume → target zone.
    public func moves() -> [String: String] {
        contents.withLock { $0.moves }
    }

    public func recordMove(of name: String, to zone: String) throws(CloudstorError) {
        try writing { () throws(CloudstorError) in
            try database.write { db in
                try db.execute(
                    "INSERT INTO move (volume, to_zone, started_at) VALUES (?, ?, ?) ON CONFLICT (volume) DO UPDATE SET to_zone = excluded.to_zone",
                    [.text(name), .text(zone), .text(Date().formatted(.iso8601))])
            }
            contents.withLock { $0.moves[name] = zone }
        }
    }

    public func finishMove(of name: String) throws(CloudstorError) {
        try writing { () throws(CloudstorError) in
            try database.write { db in try db.execute("DELETE FROM move WHERE volume = ?", [.text(name)]) }
            contents.withLock { $0.moves[name] = nil }
        }
    }

    private func writing<T>(_ body: () throws(CloudstorError) -> T) throws(CloudstorError) -> T {
        try writer.withLock { _ throws(CloudstorError) -> T in try body() }
    }
}
