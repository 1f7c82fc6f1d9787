import Foundation
import Logging
import Synchronization

@testable import CloudstorService

/// A host that keeps filesystems and mounts in memory and counts what it did.
final class FakeHost: NodeHost {
    struct State {
        var filesystems: Set<String> = []
        var mounts: [String: String] = [:]  // path → device
        var mkfsCount = 0
        var mountCount = 0
        var unmountCount = 0
        var failUnmount = false
        /// mountNFS calls: source, path, options.
        var nfsMounts: [[String]] = []
    }

    let state = Mutex(State())

    func findDevice(_ names: [String]) async throws(CloudstorError) -> String { names.last ?? "" }

    func frozen<T: Sendable>(_ path: String, _ body: () async throws(CloudstorError) -> T) async throws(CloudstorError) -> T {
        try await body()
    }

    func thaw(_ path: String) async -> Bool { false }

    func filesystem(device: String) async throws(CloudstorError) -> String? {
        state.withLock { $0.filesystems.contains(device) ? "ext4" : nil }
    }

    func growFilesystem(device: String) async throws(CloudstorError) -> Bool { false }
    func growMountedFilesystem(device: String) async throws(CloudstorError) -> Bool { false }

    func makeFilesystem(device: String) async throws(CloudstorError) {
        state.withLock {
            $0.filesystems.insert(device)
            $0.mkfsCount += 1
        }
    }

    func mount(device: String, at path: String) async throws(CloudstorError) {
        try state.withLock { (state) throws(CloudstorError) in
            guard state.mounts[path] == nil else { throw CloudstorError(.internalError, "\(path) already mounted") }
            state.mounts[path] = device
            state.mountCount += 1
        }
    }

    func unmount(_ path: String) async throws(CloudstorError) {
        try state.withLock { (state) throws(CloudstorError) in
            if state.failUnmount { throw CloudstorError(.failedPrecondition, "unmount \(path): busy") }
            if state.mounts.removeValue(forKey: path) != nil { state.unmountCount += 1 }
        }
    }

    func mountPoints() throws(CloudstorError) -> Set<String> {
        state.withLock { Set($0.mounts.keys) }
    }

    func mountNFS(_ source: String, at path: String, options: String) async throws(CloudstorError) {
        state.withLock {
            $0.nfsMounts.append([source, path, options])
            $0.mounts[path] = source
        }
    }
}

/// Block storage in memory, one node and zone: ids are "blk-<name>", devices "/dev/fake-<name>".
final class FakeBlock: BlockBackend {
    struct State {
        var volumes: Set<String> = []
        var attached: Set<String> = []
        var attachCount = 0
        /// Volumes attached to other nodes: id → node, with those nodes' holds and liveness.
        var elsewhere: [String: String] = [:]
        var heldElsewhere: Set<String> = []
        var stopped: Set<String> = []
        var detaches: [(id: String, node: String, force: Bool)] = []
        var modifications = 0
    }

    let state = Mutex(State())
    let node = "node-1"
    let zone = "zone-1"

    func create(name: String, options: BlockOptions) async throws(CloudstorError) -> String {
        state.withLock { _ = $0.volumes.insert("blk-\(name)") }
        return "blk-\(name)"
    }

    func describe(id: String, fresh: Bool) async throws(CloudstorError) -> BlockVolume? {
        state.withLock { state in
            guard state.volumes.contains(id) else { return nil }
            if let other = state.elsewhere[id] {
                return BlockVolume(
                    id: id, zone: zone, state: "in-use", attachment: BlockAttachment(node: other, device: "/dev/xvdf", state: "attached"),
                    holder: state.heldElsewhere.contains(id) ? other : nil)
            }
            let attachment = state.attached.contains(id) ? BlockAttachment(node: node, device: "/dev/fake-\(id.dropFirst(4))", state: "attached") : nil
            return BlockVolume(id: id, zone: zone, state: attachment == nil ? "available" : "in-use", attachment: attachment)
        }
    }

    func remove(id: String) async throws(CloudstorError) {
        try state.withLock { (state) throws(CloudstorError) in
            guard !state.attached.contains(id) else { throw CloudstorError(.failedPrecondition, "\(id) attached") }
            state.volumes.remove(id)
        }
    }

    func attach(id: String, to node: String) async throws(CloudstorError) -> AttachOutcome {
        try state.withLock { (state) throws(CloudstorError) in
            guard state.volumes.contains(id) else { throw CloudstorError(.notFound, "\(id) does not exist") }
            if state.attached.insert(id).inserted { state.attachCount += 1 }
        }
        return .attached(DeviceAttachment(device: "/dev/fake-\(id.dropFirst(4))"))
    }

    func detach(id: String, from node: String, force: Bool) async throws(CloudstorError) {
        state.withLock { state in
            state.detaches.append((id, node, force))
            if node == self.node { state.attached.remove(id) } else if state.elsewhere[id] == node { state.elsewhere[id] = nil }
        }
    }

    func isRunning(node: String) async throws(CloudstorError) -> Bool { !state.withLock { $0.stopped.contains(node) } }
    func modify(_ record: VolumeRecord, to options: BlockOptions) async throws(CloudstorError) -> BlockModification {
        state.withLock { $0.modifications += 1 }
        return BlockModification(state: .completed, progress: 100, startedAt: "2026-12-07T00:00:00Z")
    }
    func modification(of id: String) async throws(CloudstorError) -> BlockModification? { nil }
    func attachmentUse() async -> AttachmentLimit? { nil }
    func deviceNames(id: String, attachedAs device: String) -> [String] { [device] }
    func modificationsInProgress() async throws(CloudstorError) -> [String: BlockModification] { [:] }
    func orphans(moving: Set<String>) async throws(CloudstorError) -> [Orphan] { [] }
    func prune(ids: [String], moving: Set<String>) async throws(CloudstorError) -> [String] { [] }

    func attachedDevice(id: String) -> String? {
        state.withLock { $0.attached.contains(id) ? "/dev/fake-\(id.dropFirst(4))" : nil }
    }
}

/// A directory of its own under the system's temporary directory, removed with
/// everything in it when the last reference goes.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("cloudstor-test-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

struct Fixture {
    let host = FakeHost()
    let block = FakeBlock()
    /// The shared root: a real directory, as on a node that mounts NFS.
    let sharedRoot = TemporaryDirectory()
    let shared: SharedBackend
    let database: StateDatabase
    let store: LocalVolumeStore
    let ledger: NodeLedger
    let manager: VolumeManager

    init(database: StateDatabase? = nil) throws {
        self.database = try database ?? StateDatabase(path: ":memory:")
        store = try LocalVolumeStore(database: self.database)
        ledger = try NodeLedger(database: self.database)
        shared = try SharedBackend(root: sharedRoot.path, node: block.node, logger: .quiet)
        manager = VolumeManager(
            configuration: .init(defaultBacking: .relocatable, mountRoot: "/mnt"), store: store, ledger: ledger, block: block, rules: FakeRules(),
            shared: shared,
            host: host, logger: .quiet)
    }

    /// A reboot: a host with nothing mounted whose disks keep their filesystems,
    /// and a manager over the same database, as the restarted daemon sees them.
    func rebooted() throws -> (manager: VolumeManager, host: FakeHost) {
        let host = FakeHost()
        host.state.withLock { $0.filesystems = self.host.state.withLock { $0.filesystems } }
        let manager = VolumeManager(
            configuration: .init(defaultBacking: .relocatable, mountRoot: "/mnt"), store: try LocalVolumeStore(database: database),
            ledger: try NodeLedger(database: database), block: block, rules: FakeRules(), shared: shared, host: host, logger: .quiet)
        return (manager, host)
    }
}

extension Logger {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// A provider's options in miniature: a size (1-100 GiB, required) and a tier
/// (a or b), both modifiable.
struct FakeRules: BlockOptionRules {
    var keys: [String] { ["size", "tier"] }
    var modifiableKeys: [String] { ["size", "tier"] }

    func validate(_ raw: [String: String]) throws(CloudstorError) -> BlockOptions {
        guard let text = raw["size"] else { throw CloudstorError(.invalidArgument, "option size is required") }
        let size = try OptionValue.integer(text, option: "size", unit: "GiB", range: 1...100, context: "fake")
        let tier = try OptionValue.choice(raw["tier"], option: "tier", default: Tier.a)
        return BlockOptions(values: ["size": String(size), "tier": tier.rawValue], sizeGiB: size)
    }

    func modify(_ current: [String: String], with changes: [String: String], sizeGiB: Int) throws(CloudstorError) -> BlockOptions {
        try validate(current.merging(changes) { _, new in new })
    }

    enum Tier: String, CaseIterable { case a, b }
}
