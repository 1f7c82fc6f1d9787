#if canImport(Glibc)
import Glibc
#endif

/// Block storage for relocatable volumes: one device per volume, attached to one
/// node at a time. The local provider's is `LoopImageBackend`; AWS's is EBS.
public protocol BlockBackend: Sendable {
    /// Creates the storage of a new volume and returns the provider's id for it.
    /// Idempotent for a name whose earlier create was interrupted.
    func create(name: String, options: VolumeOptions) async throws -> String
    /// Deletes the storage. Succeeds if it is already gone; refused while attached.
    func remove(id: String) async throws
    /// Attaches the volume to this node (or finds it attached) and returns its device.
    func attach(id: String) async throws -> DeviceAttachment
    /// Detaches the volume from this node; succeeds if it is not attached.
    func detach(id: String) async throws
    /// The device through which the volume is attached here, if it is.
    func attachedDevice(id: String) async throws -> String?
}

/// A device attached for a volume. Some attachments (loop devices with autoclear)
/// last only while a descriptor is open: this object holds it until it is released,
/// by which time the mount holds the device.
public final class DeviceAttachment: Sendable {
    public let device: String
    private let descriptor: Int32?

    public init(device: String, descriptor: Int32? = nil) {
        self.device = device
        self.descriptor = descriptor
    }

    deinit {
        if let descriptor { close(descriptor) }
    }
}
