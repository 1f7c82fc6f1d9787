import Foundation
import Testing

@testable import CloudstorService

/// Shared volumes as several nodes see them on one shared root.
@Suite struct SharedBackendTests {
    let root = TemporaryDirectory()

    func node(_ name: String, maxio: String? = nil, adoptWait: Duration = .seconds(10)) throws -> SharedBackend {
        try SharedBackend(root: root.path, maxioRoot: maxio, node: name, logger: .quiet, adoptWait: adoptWait)
    }

    func options(_ raw: [String: String] = [:]) throws -> VolumeOptions {
        try VolumeOptions(parsing: raw.merging(["backing": "shared"]) { a, _ in a }, defaultBacking: .shared, rules: FakeRules())
    }

    func entries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(root.path)/\(path)")) ?? []).sorted()
    }

    @Test func everyNodeSeesTheSameVolumes() async throws {
        let a = try node("a")
        let b = try node("b")
        let made = try await a.create(name: "v", options: try options(["mode": "0770"]))
        #expect(try await b.volume(named: "v") == made)
        #expect(try await b.volumes() == [made])
        #expect(made.options == ["backing": "shared", "perfmode": "generalpurpose", "mode": "0770"])
        let metadata = try JSONDecoder().decode(
            SharedMetadata.self, from: Data(contentsOf: URL(fileURLWithPath: "\(root.path)/.cloudstor/volumes/v")))
        #expect(metadata.createdBy == "a")
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(root.path)/v")
        #expect((attributes[.posixPermissions] as? Int) == 0o770)
        #expect(try await b.create(name: "v", options: try options(["mode": "0770"])) == made)
    }

    @Test func aRecordLockedElsewhereIsWaitedForAndARecordRemovedMeanwhileIsNoVolume() async throws {
        let a = try node("a")
        let b = try node("b")
        _ = try await a.create(name: "v", options: try options())
        // Another node holds the record's lock (its own open file, as over NFS).
        let other = open("\(root.path)/.cloudstor/volumes/v", O_RDWR)
        #expect(other >= 0 && flock(other, LOCK_EX) == 0)
        let hold = Task { try await b.general.hold("v", node: "b", mounts: 1, since: "now") }
        // b waits for the lock: no hold is written while the other node has it.
        try await Task.sleep(for: .milliseconds(200))
        #expect(entries(".cloudstor/holds").isEmpty)
        close(other)
        #expect(try await hold.value == "\(root.path)/v")
        #expect(try b.general.holders("v").map(\.node) == ["b"])
        try await b.release(try #require(try await b.volume(named: "v")))

        // A removal that wins the lock leaves the waiting Mount no volume to hold.
        let locked = open("\(root.path)/.cloudstor/volumes/v", O_RDWR)
        #expect(locked >= 0 && flock(locked, LOCK_EX) == 0)
        let late = Task { try await b.general.hold("v", node: "b", mounts: 1, since: "now") }
        try await Task.sleep(for: .milliseconds(200))
        #expect(unlink("\(root.path)/.cloudstor/volumes/v") == 0)
        close(locked)
        await #expect(throws: CloudstorError.self) { try await late.value }
        #expect(try b.general.holders("v").isEmpty)
    }

    @Test func concurrentCreatesFromTwoNodesMakeOneVolumeAndLeaveNothingHalfMade() async throws {
        let nodes = [try node("a"), try node("b")]
        let made = try await withThrowingTaskGroup(of: VolumeRecord.self) { group in
            for i in 0..<40 {
                group.addTask { try await nodes[i % 2].create(name: "v\(i % 4)", options: try options()) }
            }
            var all: [VolumeRecord] = []
            for try await record in group { all.append(record) }
            return all
        }
        #expect(Set(made.map(\.name)) == ["v0", "v1", "v2", "v3"])
        for name in ["v0", "v1", "v2", "v3"] {
            #expect(Set(made.filter { $0.name == name }.map(\.createdAt)).count == 1)
        }
        #expect(entries(".cloudstor/volumes") == ["v0", "v1", "v2", "v3"])
        #expect(entries(".cloudstor/tmp") == [])
        #expect(entries("").filter { !$0.hasPrefix(".") } == ["v0", "v1", "v2", "v3"])
    }

    @Test func removeIsRefusedWhileAnotherNodeHoldsItAndNamesThatNode() async throws {
        let a = try node("a")
        let b = try node("b")
        let record = try await a.create(name: "v", options: try options())
        let c = try node("c")
        #expect(try await b.hold(record, mounts: 1) == "\(root.path)/v")
        _ = try await c.hold(record, mounts: 3)
        #expect(try await a.holders(record) == ["b", "c"])
        let refused = await #expect(throws: CloudstorError.self) { try await a.remove(record) }
        #expect(refused?.code == .failedPrecondition)
        #expect(refused?.message.contains("mounted 1 time(s) on b, 3 time(s) on c") == true)
        try await c.release(record)
        try await b.release(record)
        try await a.remove(record)
        #expect(try await a.volume(named: "v") == nil)
        #expect(entries(".cloudstor/trash").count == 1)
        await a.emptyTrash(olderThan: .zero)
        #expect(entries(".cloudstor/trash") == [])
    }

    @Test func aDeadNodesHoldsAreClearedByAnotherNodeOrByItsOwnReconcile() async throws {
        let a = try node("a")
        let b = try node("b.example/x")  // any node name is one safe file name
        let record = try await a.create(name: "v", options: try options())
        let other = try await a.create(name: "w", options: try options())
        _ = try await b.hold(record, mounts: 1)
        _ = try await b.hold(other, mounts: 1)
        #expect(try await a.holders(record) == ["b.example/x"])
        #expect(try await a.clearHolds(of: "b.example/x") == ["v", "w"])
        #expect(try await a.holders(record) == [])
        _ = try await b.hold(record, mounts: 1)
        _ = try await b.hold(other, mounts: 1)
        #expect(await b.reconcile(held: ["w", "x"]) == ["w"])
        #expect(try await a.holders(record) == [])
        #expect(try await a.holders(other) == ["b.example/x"])
    }

    @Test func aSymlinkPlantedInTheRootIsNeverFollowed() async throws {
        let outside = TemporaryDirectory()
        try Data("secret".utf8).write(to: URL(fileURLWithPath: "\(outside.path)/file"))
        let a = try node("a")
        let record = try await a.create(name: "v", options: try options())
        // The volume's directory swapped for a link out of the root.
        try FileManager.default.removeItem(atPath: "\(root.path)/v")
        try FileManager.default.createSymbolicLink(atPath: "\(root.path)/v", withDestinationPath: outside.path)
        let refused = await #expect(throws: CloudstorError.self) { try await a.hold(record, mounts: 1) }
        #expect(refused?.message.contains("not a directory") == true)
        try await a.remove(record)
        await a.emptyTrash(olderThan: .zero)
        #expect(try String(contentsOfFile: "\(outside.path)/file", encoding: .utf8) == "secret")
        // Metadata that is a link to a file outside: refused, and left out of the list.
        try FileManager.default.createSymbolicLink(atPath: "\(root.path)/.cloudstor/volumes/m", withDestinationPath: "\(outside.path)/file")
        let unreadable = await #expect(throws: CloudstorError.self) { try await a.volume(named: "m") }
        #expect(unreadable?.message.contains(".cloudstor/volumes/m") == true)
        #expect(try await a.volumes().isEmpty)
        // The control directory itself replaced by a link: the root is refused.
        let other = TemporaryDirectory()
        try FileManager.default.createSymbolicLink(atPath: "\(other.path)/.cloudstor", withDestinationPath: outside.path)
        #expect(throws: CloudstorError.self) { try SharedBackend(root: other.path, node: "a", logger: .quiet) }
        #expect(entries("").filter { !$0.hasPrefix(".") } == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path) == ["file"])
    }

    @Test func aDirectoryWithoutMetadataIsTakenOnWithItsData() async throws {
        try FileManager.default.createDirectory(atPath: "\(root.path)/old", withIntermediateDirectories: true)
        try Data("kept".utf8).write(to: URL(fileURLWithPath: "\(root.path)/old/data"))
        let a = try node("a", adoptWait: .milliseconds(100))
        let record = try await a.create(name: "old", options: try options())
        #expect(try await a.volume(named: "old") == record)
        #expect(try String(contentsOfFile: "\(root.path)/old/data", encoding: .utf8) == "kept")
    }

    @Test func maxioVolumesLiveOnTheMaxioRootAndNeedOne() async throws {
        let maxio = TemporaryDirectory()
        let a = try node("a", maxio: maxio.path)
        let record = try await a.create(name: "fast", options: try options(["perfmode": "maxio"]))
        #expect(a.path(of: record) == "\(maxio.path)/fast")
        #expect(FileManager.default.fileExists(atPath: "\(maxio.path)/.cloudstor/volumes/fast"))
        #expect(try await a.volumes().map(\.name) == ["fast"])
        let b = try node("b")
        let refused = await #expect(throws: CloudstorError.self) { try await b.create(name: "x", options: try options(["perfmode": "maxio"])) }
        #expect(refused?.message.contains("--shared-maxio-root") == true)
    }

    @Test func sharedVolumesOfANodeDatabaseMoveToTheSharedRoot() async throws {
        let database = try StateDatabase(path: ":memory:")
        let store = try LocalVolumeStore(database: database)
        try FileManager.default.createDirectory(atPath: "\(root.path)/legacy", withIntermediateDirectories: true)
        try store.save(VolumeRecord(
            name: "legacy", backing: .shared, options: ["backing": "shared", "perfmode": "generalpurpose"], cloudID: "\(root.path)/legacy",
            createdAt: "2026-01-01T00:00:00Z"))
        let a = try node("a")
        try a.adopt(store, logger: .quiet)
        #expect(store.volumes().isEmpty)
        #expect(try await a.volume(named: "legacy")?.createdAt == "2026-01-01T00:00:00Z")
    }

    @Test(arguments: ["i-0123456789abcdef0", "node-1", "a.b", ".hidden", "x/y", "ü"])
    func nodeNamesBecomeOneSafeFileName(_ name: String) {
        let file = NodeFileName.encode(name)
        #expect(!file.contains("/") && !file.hasPrefix("."))
        #expect(NodeFileName.decode(file) == name)
    }
}
