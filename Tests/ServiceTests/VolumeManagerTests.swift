import Foundation
import Testing

@testable import CloudstorService

@Suite struct VolumeManagerTests {
    @Test func createIsIdempotentWithTheSameOptions() async throws {
        let f = try Fixture()
        let first = try await f.manager.create(name: "v", options: ["size": "1"])
        let second = try await f.manager.create(name: "v", options: ["size": "1", "tier": "a"])
        #expect(first.record == second.record)
        #expect(f.store.volumes().count == 1)
    }

    @Test func modifyChecksTheMergedOptionsAndNeverShrinks() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "10", "tier": "b"])
        for (change, words) in [
            (["size": "5"], "never shrinks"), (["backing": "shared"], "fixed when a volume is created"), (["bogus": "1"], "unknown option"),
            (["size": "101"], "out of range"), (["tier": "c"], "allowed: a, b"), ([:], "nothing to modify"),
        ] {
            let error = await #expect(throws: CloudstorError.self) { try await f.manager.modify(name: "v", options: change) }
            #expect(error?.message.contains(words) == true, "\(change): \(error?.message ?? "")")
        }
        let modified = try await f.manager.modify(name: "v", options: ["size": "20"])
        #expect(modified.record.options == ["backing": "relocatable", "size": "20", "tier": "b"])
        #expect(modified.modification == "completed")
        #expect(try await f.manager.get(name: "v").record.options["size"] == "20")
        #expect(f.block.state.withLock { $0.modifications } == 1)
        // The same options again: nothing to do, no second modification.
        #expect(try await f.manager.modify(name: "v", options: ["size": "20", "tier": "b"]).record == modified.record)
        #expect(f.block.state.withLock { $0.modifications } == 1)
    }

    @Test func createWithOtherOptionsIsRefused() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        let error = await #expect(throws: CloudstorError.self) { try await f.manager.create(name: "v", options: ["size": "2"]) }
        #expect(error?.code == .alreadyExists)
        #expect(error?.message.contains("size=1") == true)
    }

    @Test func badNameOrOptionsCreateNothing() async throws {
        let f = try Fixture()
        await #expect(throws: CloudstorError.self) { try await f.manager.create(name: "../x", options: ["size": "1"]) }
        await #expect(throws: CloudstorError.self) { try await f.manager.create(name: "x", options: ["size": "0"]) }
        #expect(f.store.volumes().isEmpty)
        #expect(f.block.state.withLock { $0.volumes.isEmpty })
    }

    @Test func concurrentCreatesOfOneNameMakeOneVolume() async throws {
        let f = try Fixture()
        try await withThrowingTaskGroup(of: VolumeInfo.self) { group in
            for _ in 0..<20 { group.addTask { try await f.manager.create(name: "v", options: ["size": "1"]) } }
            for try await info in group { #expect(info.record.name == "v") }
        }
        #expect(f.store.volumes().count == 1)
    }

    @Test func mountsAreCountedPerIDWithRepeats() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        let path = try await f.manager.mount(name: "v", id: "a")
        #expect(path == "/mnt/v")
        #expect(try await f.manager.mount(name: "v", id: "a") == path)  // docker cp repeats an id
        #expect(try await f.manager.mount(name: "v", id: "b") == path)
        #expect(f.host.state.withLock { $0.mountCount } == 1)
        #expect(try await f.manager.get(name: "v").mountCount == 3)

        try await f.manager.unmount(name: "v", id: "a")
        try await f.manager.unmount(name: "v", id: "b")
        #expect(try f.host.isMounted(path))
        try await f.manager.unmount(name: "v", id: "a")
        #expect(try !f.host.isMounted(path))
        #expect(f.block.state.withLock { $0.attached.isEmpty })
        let info = try await f.manager.get(name: "v")
        #expect(info.state == .created && info.mountCount == 0 && info.mountpoint.isEmpty)
    }

    @Test func unmountOfAnIDThatHoldsNothingChangesNothing() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        _ = try await f.manager.mount(name: "v", id: "a")
        try await f.manager.unmount(name: "v", id: "stranger")
        #expect(try f.host.isMounted("/mnt/v"))
        #expect(try await f.manager.get(name: "v").mountCount == 1)
        try await f.manager.unmount(name: "v", id: "a")
    }

    @Test func aFilesystemIsMadeOnceAndNeverAgain() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        for round in 0..<3 {
            _ = try await f.manager.mount(name: "v", id: "id\(round)")
            try await f.manager.unmount(name: "v", id: "id\(round)")
        }
        #expect(f.host.state.withLock { $0.mkfsCount } == 1)
        #expect(f.block.state.withLock { $0.attachCount } == 3)
    }

    @Test func removeIsRefusedWhileMounted() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        _ = try await f.manager.mount(name: "v", id: "a")
        let error = await #expect(throws: CloudstorError.self) { try await f.manager.remove(name: "v") }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("in use") == true)
        try await f.manager.unmount(name: "v", id: "a")
        try await f.manager.remove(name: "v")
        #expect(f.store.volumes().isEmpty)
        #expect(f.block.state.withLock { $0.volumes.isEmpty })
        let missing = await #expect(throws: CloudstorError.self) { try await f.manager.get(name: "v") }
        #expect(missing?.code == .notFound)
    }

    @Test func aFailedUnmountKeepsTheHold() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        _ = try await f.manager.mount(name: "v", id: "a")
        f.host.state.withLock { $0.failUnmount = true }
        await #expect(throws: CloudstorError.self) { try await f.manager.unmount(name: "v", id: "a") }
        #expect(try await f.manager.get(name: "v").mountCount == 1)
        f.host.state.withLock { $0.failUnmount = false }
        try await f.manager.unmount(name: "v", id: "a")
        #expect(try await f.manager.get(name: "v").mountCount == 0)
    }

    @Test func concurrentMountsAndUnmountsBalance() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<16 { group.addTask { _ = try await f.manager.mount(name: "v", id: "m\(i)") } }
            try await group.waitForAll()
        }
        #expect(f.host.state.withLock { $0.mountCount } == 1)
        #expect(try await f.manager.get(name: "v").mountCount == 16)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<16 { group.addTask { try await f.manager.unmount(name: "v", id: "m\(i)") } }
            try await group.waitForAll()
        }
        #expect(try !f.host.isMounted("/mnt/v"))
        #expect(f.block.state.withLock { $0.attached.isEmpty })
    }

    @Test func sharedVolumesMountAtTheirDirectory() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "s", options: ["backing": "shared"])
        let directory = "\(f.sharedRoot.path)/s"
        #expect(try await f.manager.mount(name: "s", id: "a") == directory)
        #expect(try await f.manager.path(name: "s") == directory)
        #expect(try await f.manager.get(name: "s").holders == [f.block.node])
        try await f.manager.unmount(name: "s", id: "a")
        #expect(try await f.manager.path(name: "s") == nil)
        #expect(try await f.manager.get(name: "s").holders == [])
        try await f.manager.remove(name: "s")
        #expect(!FileManager.default.fileExists(atPath: directory))
        let gone = await #expect(throws: CloudstorError.self) { try await f.manager.get(name: "s") }
        #expect(gone?.code == .notFound)
    }

    /// The daemon serves while it reconciles: a Mount and an Unmount that reach
    /// it first are what counts, not the ledger as it was when the reconcile began.
    @Test func callsBeforeTheReconcileAreRespected() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "held", options: ["size": "1"])
        _ = try await f.manager.create(name: "loose", options: ["size": "1"])
        _ = try await f.manager.mount(name: "held", id: "a")

        let (manager, rebooted) = try f.rebooted()
        let recorded = await manager.reconcileHolds()
        try await manager.unmount(name: "held", id: "a")            // its task stopped meanwhile
        _ = try await manager.mount(name: "loose", id: "b")         // a new task started
        await manager.reconcile(recorded: recorded)

        #expect(try !rebooted.isMounted("/mnt/held"))
        #expect(try rebooted.isMounted("/mnt/loose"))
        #expect(f.block.state.withLock { $0.attached } == ["blk-loose"])
        #expect(try await manager.get(name: "loose").mountCount == 1)
        try await manager.unmount(name: "loose", id: "b")
    }

    @Test func reconcileRemountsHeldVolumesAndReleasesOthers() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "held", options: ["size": "1"])
        _ = try await f.manager.create(name: "loose", options: ["size": "1"])
        _ = try await f.manager.mount(name: "held", id: "a")

        // A reboot: nothing is mounted or attached, the catalogue remembers the hold.
        let (manager, rebooted) = try f.rebooted()
        f.block.state.withLock { $0.attached = ["blk-loose"] }  // left attached by a crash mid-unmount
        await manager.reconcile(recorded: await manager.reconcileHolds())

        #expect(try rebooted.isMounted("/mnt/held"))
        #expect(rebooted.state.withLock { $0.mkfsCount } == 0)
        #expect(f.block.state.withLock { $0.attached } == ["blk-held"])
        #expect(try await manager.get(name: "held").mountCount == 1)
        try await manager.unmount(name: "held", id: "a")
    }

    @Test func listShowsEveryVolumeInNameOrder() async throws {
        let f = try Fixture()
        for name in ["c", "a", "b"] { _ = try await f.manager.create(name: name, options: ["size": "1"]) }
        _ = try await f.manager.mount(name: "b", id: "x")
        let list = try await f.manager.list()
        #expect(list.map(\.record.name) == ["a", "b", "c"])
        #expect(list.map(\.state) == [.created, .mounted, .created])
        try await f.manager.unmount(name: "b", id: "x")
    }

    /// A manager that gives another node no time to let go.
    func impatient(_ f: Fixture) -> VolumeManager {
        var configuration = VolumeManager.Configuration(defaultBacking: .relocatable, mountRoot: "/mnt")
        configuration.takeoverWait = .zero
        return VolumeManager(
            configuration: configuration, store: f.store, ledger: f.ledger, block: f.block, rules: FakeRules(), shared: f.shared, host: f.host,
            logger: .quiet)
    }

    @Test func aVolumeHeldByARunningNodeIsRefusedNamingIt() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        f.block.state.withLock {
            $0.elsewhere["blk-v"] = "node-2"
            $0.heldElsewhere.insert("blk-v")
        }
        let error = await #expect(throws: CloudstorError.self) { try await impatient(f).mount(name: "v", id: "a") }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("node-2") == true)
        #expect(f.block.state.withLock { $0.detaches.isEmpty && $0.elsewhere["blk-v"] == "node-2" })
        #expect(f.host.state.withLock { $0.mounts.isEmpty })
        #expect(f.ledger.holdCount("v") == 0)
    }

    @Test func aVolumeLeftOnAStoppedNodeIsForceDetached() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        f.block.state.withLock {
            $0.elsewhere["blk-v"] = "node-2"
            $0.heldElsewhere.insert("blk-v")
            $0.stopped.insert("node-2")
        }
        #expect(try await impatient(f).mount(name: "v", id: "a") == "/mnt/v")
        let detaches = f.block.state.withLock { $0.detaches }
        #expect(detaches.count == 1 && detaches[0].node == "node-2" && detaches[0].force)
    }

    @Test func aVolumeAttachedButUnheldElsewhereIsDetachedGently() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        f.block.state.withLock { $0.elsewhere["blk-v"] = "node-2" }
        #expect(try await impatient(f).mount(name: "v", id: "a") == "/mnt/v")
        let detaches = f.block.state.withLock { $0.detaches }
        #expect(detaches.count == 1 && detaches[0].node == "node-2" && !detaches[0].force)
    }

    @Test func removeOfAVolumeHeldElsewhereIsRefusedNamingTheNode() async throws {
        let f = try Fixture()
        _ = try await f.manager.create(name: "v", options: ["size": "1"])
        f.block.state.withLock {
            $0.elsewhere["blk-v"] = "node-2"
            $0.heldElsewhere.insert("blk-v")
        }
        let error = await #expect(throws: CloudstorError.self) { try await f.manager.remove(name: "v") }
        #expect(error?.code == .failedPrecondition && error?.message.contains("node-2") == true)
        #expect(f.store.volume(named: "v") != nil)
    }
}
