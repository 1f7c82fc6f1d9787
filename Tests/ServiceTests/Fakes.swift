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
    }

    let state = Mutex(State())

    func hasFilesystem(device: String) async throws -> Bool {
        state.withLock { $0.filesystems.contains(device) }
    }

    func makeFilesystem(device: String) async throws {
        state.withLock {
            $0.filesystems.insert(device)
            $0.mkfsCount += 1
        }
    }

    func mount(device: String, at path: String) async throws {
        try state.withLock {
            guard $0.mounts[path] == nil else { throw CloudstorError(.internalError, "\(path) already mounted") }
            $0.mounts[path] = device
            $0.mountCount += 1
        }
    }

    func unmount(_ path: String) async throws {
        try state.withLock {
            if $0.failUnmount { throw CloudstorError(.failedPrecondition, "unmount \(path): busy") }
            if $0.mounts.removeValue(forKey: path) != nil { $0.unmountCount += 1 }
        }
    }

    func isMounted(_ path: String) throws -> Bool {
        state.withLock { $0.mounts[path] != nil }
    }
}

/// Block storage in memory: ids are "blk-<name>", devices "/dev/fake-<name>".
final class FakeBlock: BlockBackend {
    struct State {
        var volumes: Set<String> = []
        var attached: Set<String> = []
        var attachCount = 0
    }

    let state = Mutex(State())

    func create(name: String, options: VolumeOptions) async throws -> String {
        state.withLock { _ = $0.volumes.insert("blk-\(name)") }
        return "blk-\(name)"
    }

    func remove(id: String) async throws {
        try state.withLock {
            guard !$0.attached.contains(id) else { throw CloudstorError(.failedPrecondition, "\(id) attached") }
            $0.volumes.remove(id)
        }
    }

    func attach(id: String) async throws -> DeviceAttachment {
        try state.withLock {
            guard $0.volumes.contains(id) else { throw CloudstorError(.notFound, "\(id) does not exist") }
            if $0.attached.insert(id).inserted { $0.attachCount += 1 }
        }
        return DeviceAttachment(device: "/dev/fake-\(id.dropFirst(4))")
    }

    func detach(id: String) async throws {
        state.withLock { _ = $0.attached.remove(id) }
    }

    func attachedDevice(id: String) async throws -> String? {
        state.withLock { $0.attached.contains(id) ? "/dev/fake-\(id.dropFirst(4))" : nil }
    }
}

/// Shared directories in memory.
final class FakeShared: SharedBackend {
    let directories = Mutex(Set<String>())

    func create(name: String, options: VolumeOptions) async throws -> String {
        directories.withLock { _ = $0.insert("/shared/\(name)") }
        return "/shared/\(name)"
    }

    func remove(id: String) async throws {
        directories.withLock { _ = $0.remove(id) }
    }

    func mount(id: String) async throws -> String { id }
}

struct Fixture {
    let host = FakeHost()
    let block = FakeBlock()
    let shared = FakeShared()
    let catalogue: Catalogue
    let manager: VolumeManager

    init(catalogue: Catalogue? = nil) throws {
        self.catalogue = try catalogue ?? Catalogue(path: ":memory:")
        manager = VolumeManager(
            configuration: .init(defaultBacking: .relocatable, mountRoot: "/mnt", nodeID: "node-1"),
            catalogue: self.catalogue, block: block, shared: shared, host: host, logger: .quiet)
    }

    /// The same catalogue with fresh fakes: what a restarted daemon sees.
    func restarted(host: FakeHost) -> VolumeManager {
        VolumeManager(
            configuration: .init(defaultBacking: .relocatable, mountRoot: "/mnt", nodeID: "node-1"),
            catalogue: catalogue, block: block, shared: shared, host: host, logger: .quiet)
    }
}

extension Logger {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
}
