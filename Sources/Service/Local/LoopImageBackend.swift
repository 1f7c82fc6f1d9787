#if canImport(Glibc)
import Glibc
#endif
import CLinux
import FoundationEssentials
import Synchronization

/// Relocatable volumes of the local provider: a sparse image file of `size` GiB
/// per volume, attached through a loop device. The size is a real quota: the
/// filesystem made on it can hold no more. One node, one zone ("local"): the
/// images never leave this machine.
public struct LoopImageBackend: BlockBackend {
    public let directory: String
    public let node: String
    public var zone: String { "local" }
    /// What each image's last full look-up found, so that reading a volume's
    /// status costs one ioctl rather than opening every loop device of the host.
    let known = LoopDevices()

    public init(directory: String, node: String) {
        self.directory = directory
        self.node = node
    }

    public func create(name: String, options: BlockOptions) async throws(CloudstorError) -> String {
        guard let sizeGiB = options.sizeGiB else {
            throw CloudstorError(.invalidArgument, "option size is required for relocatable volumes")
        }
        // The file is named exactly as the volume: names may be 255 bytes, as file names.
        let path = "\(directory)/\(name)"
        // A file left by an interrupted create is reused.
        try grow(path, to: sizeGiB, creating: true)
        return path
    }

    /// Makes the image at least `sizeGiB` long (sparse); never shrinks it.
    private func grow(_ path: String, to sizeGiB: Int, creating: Bool) throws(CloudstorError) {
        let fd = open(path, O_RDWR | O_CLOEXEC | (creating ? O_CREAT : 0), 0o600)
        guard fd >= 0 else { throw Self.failure("open image \(path)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.failure("stat image \(path)") }
        let bytes = off_t(sizeGiB) << 30
        if info.st_size < bytes, ftruncate(fd, bytes) != 0 {
            throw Self.failure("size image \(path) to \(sizeGiB) GiB")
        }
    }

    /// Grows the image at once; its filesystem grows at its next mount (a loop
    /// device attached now keeps the size it had). The type and performance options
    /// are only recorded: an image has neither.
    public func modify(_ record: VolumeRecord, to options: BlockOptions) async throws(CloudstorError) -> BlockModification {
        if let sizeGiB = options.sizeGiB { try grow(record.cloudID, to: sizeGiB, creating: false) }
        return BlockModification(state: .completed, progress: 100, startedAt: Date().formatted(.iso8601))
    }

    /// `describe` names the loop device itself.
    public func deviceNames(id: String, attachedAs device: String) -> [String] { [device] }

    /// Loop devices have no limit a volume plugin would meet.
    public func attachmentUse() async -> AttachmentLimit? { nil }

    /// Every modification here is completed when `modify` returns.
    public func modification(of id: String) async throws(CloudstorError) -> BlockModification? { nil }

    public func modificationsInProgress() async throws(CloudstorError) -> [String: BlockModification] { [:] }

    public func describe(id: String, fresh: Bool) async throws(CloudstorError) -> BlockVolume? {
        var info = stat()
        guard stat(id, &info) == 0 else { return nil }
        let attachment = try knownDevice(id: id).map { BlockAttachment(node: node, device: $0, state: "attached") }
        return BlockVolume(
            id: id, zone: zone, state: attachment == nil ? "available" : "in-use", sizeGiB: Int(info.st_size >> 30), attachment: attachment)
    }

    /// No other node can be seen from here: only this one counts as running (an
    /// operator clearing another node's holds says it is gone).
    public func isRunning(node: String) async throws(CloudstorError) -> Bool { node == self.node }

    /// An image never outlives its record here: nothing is ever orphaned.
    public func orphans(moving: Set<String>) async throws(CloudstorError) -> [Orphan] { [] }

    public func prune(ids: [String], moving: Set<String>) async throws(CloudstorError) -> [String] {
        if let id = ids.first { throw CloudstorError(.notFound, "\(id) is not an orphan of this stack") }
        return []
    }

    public func remove(id: String) async throws(CloudstorError) {
        // Just after the last unmount the kernel may still be letting go of the
        // device (autoclear runs when its last opener closes): give it a moment.
        for _ in 0..<50 {
            guard try attachedDevice(id: id) != nil else { break }
            try await detach(id: id, from: node, force: false)
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let device = try attachedDevice(id: id) {
            throw CloudstorError(.failedPrecondition, "image \(id) is still attached to \(device); is it mounted outside cloudstor?")
        }
        if unlink(id) != 0, errno != ENOENT {
            throw Self.failure("remove image \(id)")
        }
        known.forget(id)
    }

    public func attach(id: String, to node: String) async throws(CloudstorError) -> AttachOutcome {
        .attached(try attachImage(id))
    }

    /// A loop device for the image: the one already attached, else a new one,
    /// opened as `file` (a name inside an open directory) where one is given.
    func attachImage(_ id: String, file: (directory: DirectoryHandle, name: String)? = nil) throws(CloudstorError) -> DeviceAttachment {
        if let device = file == nil ? try attachedDevice(id: id) : try attachedHere(id: id) {
            return DeviceAttachment(device: device, backingFile: id)
        }
        var name = [CChar](repeating: 0, count: 64)
        let fd = file.map { clinux_loop_attach_at($0.directory.descriptor, $0.name, id, &name, name.count) } ?? clinux_loop_attach(id, &name, name.count)
        guard fd >= 0 else {
            throw CloudstorError(
                fd == -ENOENT ? .notFound : .internalError,
                "attach \(id) to a loop device: \(String(cString: strerror(-fd)))")
        }
        let device = Self.string(name)
        known.set(id, device)
        return DeviceAttachment(device: device, backingFile: id, descriptor: fd)
    }

    public func detach(id: String, from node: String, force: Bool) async throws(CloudstorError) {
        guard let device = try attachedDevice(id: id) else { return }
        try detachDevice(device)
    }

    private func detachDevice(_ device: String) throws(CloudstorError) {
        let rc = clinux_loop_detach(device)
        guard rc == 0 || rc == -ENXIO else {
            throw CloudstorError(.internalError, "detach \(device): \(String(cString: strerror(-rc)))")
        }
    }

    /// The loop device through which the image is attached, if it is: every loop
    /// device of the host is looked at, so one attached outside cloudstor is seen
    /// (attach, detach and remove go by this).
    func attachedDevice(id: String) throws(CloudstorError) -> String? {
        var name = [CChar](repeating: 0, count: 64)
        let rc = clinux_loop_find(id, &name, name.count)
        switch rc {
        case 1:
            let device = Self.string(name)
            known.set(id, device)
            return device
        case 0, -ENOENT:
            known.set(id, nil)
            return nil
        default: throw CloudstorError(.internalError, "look up the loop device of \(id): \(String(cString: strerror(-rc)))")
        }
    }

    /// The loop device of the image for its status: the device the last full
    /// look-up or attach found, checked with one ioctl (a detached or reused device
    /// is noticed); a full look-up for an image not looked up since the start.
    /// Only cloudstor attaches its images, and this daemon alone uses this state
    /// directory, so what it has not attached since then stays unattached.
    func knownDevice(id: String) throws(CloudstorError) -> String? {
        guard case .some = known.lookup(id) else { return try attachedDevice(id: id) }
        return try attachedHere(id: id)
    }

    /// The loop device this daemon attached for the image, if it still backs it;
    /// no other is looked for. On a cluster root simulated on one machine, another
    /// node's device for the same image is that node's.
    func attachedHere(id: String) throws(CloudstorError) -> String? {
        guard case .some(.some(let device)) = known.lookup(id) else { return nil }
        let rc = clinux_loop_backs(device, id)
        switch rc {
        case 1: return device
        case 0, -ENOENT:
            known.set(id, nil)
            return nil
        default: throw CloudstorError(.internalError, "look up the loop device of \(id): \(String(cString: strerror(-rc)))")
        }
    }

    /// Detaches the loop device this daemon attached for the image, if any.
    func detachHere(id: String) throws(CloudstorError) {
        guard let device = try attachedHere(id: id) else { return }
        try detachDevice(device)
    }

    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func failure(_ what: String) -> CloudstorError {
        let err = errno
        return CloudstorError(err == ENOSPC ? .unavailable : .internalError, "\(what): \(String(cString: strerror(err)))")
    }
}

/// Image path → its loop device (nil: not attached), as last seen.
final class LoopDevices: Sendable {
    private let devices = Mutex<[String: String?]>([:])

    func lookup(_ id: String) -> String?? {
        devices.withLock { $0[id] }
    }

    func set(_ id: String, _ device: String?) {
        devices.withLock { $0[id] = .some(device) }
    }

    func forget(_ id: String) {
        devices.withLock { $0[id] = nil }
    }
}
