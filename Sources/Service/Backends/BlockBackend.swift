#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// Block storage for relocatable volumes: one device per volume, attached to one
/// node at a time, in one zone. The node and the zone are explicit: a volume in
/// another zone must be moved (`MovableBlockBackend`), one attached to another
/// node detached from it first. The local provider's is `LoopImageBackend`
/// (one node, one zone); AWS's is EBS.
public protocol BlockBackend: Sendable {
    /// This node as the provider names it (EC2: the instance id).
    var node: String { get }
    /// This node's zone.
    var zone: String { get }
    /// Creates a new volume's storage in this node's zone and returns its id.
    /// Idempotent for a name whose earlier create was interrupted or raced.
    func create(name: String, options: BlockOptions) async throws(CloudstorError) -> String
    /// The volume as the provider sees it, nil if it is gone. `fresh` asks the
    /// provider itself rather than what this node last saw.
    func describe(id: String, fresh: Bool) async throws(CloudstorError) -> BlockVolume?
    /// Attaches the volume to `node` and waits until it is attached there; or says
    /// the node has as many volumes attached as it may.
    func attach(id: String, to node: String) async throws(CloudstorError) -> AttachOutcome
    /// Detaches the volume from `node` and waits until it is gone; `force` yanks it
    /// (only for a node that is not running). Succeeds if it is not attached there.
    func detach(id: String, from node: String, force: Bool) async throws(CloudstorError)
    /// Deletes the storage. Succeeds if it is already gone; refused while attached.
    func remove(id: String) async throws(CloudstorError)
    /// Whether a node is alive (EC2: the instance is running).
    func isRunning(node: String) async throws(CloudstorError) -> Bool
    /// Where the device of the volume attached as `device` (what `describe` says)
    /// may appear on this node, for `NodeHost.findDevice`.
    func deviceNames(id: String, attachedAs device: String) -> [String]
    /// The volumes attached to this node now against the most it may have, from
    /// what the backend knows (no call); nil where there is no limit.
    func attachmentUse() async -> AttachmentLimit?
    /// Changes the volume's size, type or performance to `options` (validated, never
    /// smaller); returns once the provider has accepted the change, which it applies
    /// in the background.
    func modify(_ record: VolumeRecord, to options: BlockOptions) async throws(CloudstorError) -> BlockModification
    /// The latest modification of the volume, nil if it has none.
    func modification(of id: String) async throws(CloudstorError) -> BlockModification?
    /// The modifications in progress now, by volume id: what a restart follows.
    func modificationsInProgress() async throws(CloudstorError) -> [String: BlockModification]
    /// Storage that no live volume uses, leaving out the volumes named in `moving`
    /// (their moves are in flight here).
    func orphans(moving: Set<String>) async throws(CloudstorError) -> [Orphan]
    /// Deletes these orphans (all of them if `ids` is empty), each checked again
    /// first; returns the ids deleted.
    func prune(ids: [String], moving: Set<String>) async throws(CloudstorError) -> [String]
}

/// What an attach came to: the device, or no room for it on the node.
public enum AttachOutcome: Sendable {
    case attached(DeviceAttachment)
    case full(AttachmentLimit)
}

/// A block volume as its provider sees it now.
public struct BlockVolume: Sendable, Equatable {
    public var id: String
    public var zone: String
    /// creating, available, in-use, deleting, error
    public var state: String
    /// 0: not known.
    public var sizeGiB: Int
    public var attachment: BlockAttachment?
    /// When the latest modification Cloudstor made of it began, if any.
    public var modifiedAt: Date?
    /// The node that records holding it mounted, if any.
    public var holder: String?
    /// Set on the volume a move made until that move is cleaned up.
    public var movedFrom: String?
    /// The claim of a node moving the volume to its zone, if any.
    public var claim: MoveClaim?
    /// The mark of a node removing the volume, if any: a tag of its own, not the
    /// claim's, so that a mover and a remover each write theirs and then read the
    /// other's, and one of the two always sees the other.
    public var removal: MoveClaim?

    public init(
        id: String, zone: String, state: String, sizeGiB: Int = 0, attachment: BlockAttachment? = nil, holder: String? = nil,
        movedFrom: String? = nil, claim: MoveClaim? = nil, removal: MoveClaim? = nil, modifiedAt: Date? = nil
    ) {
        self.sizeGiB = sizeGiB
        self.modifiedAt = modifiedAt
        self.id = id
        self.zone = zone
        self.state = state
        self.attachment = attachment
        self.holder = holder
        self.movedFrom = movedFrom
        self.claim = claim
        self.removal = removal
    }

    /// Who keeps other nodes off the volume: a mover's claim, else a remover's
    /// mark (an earlier release wrote removals as claims with the `rm-` prefix).
    public var claimOrRemoval: MoveClaim? { claim ?? removal }

    /// Both marks, the claim first: a check of who keeps other nodes off must see a
    /// running remover behind a dead mover's stale claim.
    public var marks: [MoveClaim] { [claim, removal].compactMap { $0 } }
}

public struct BlockAttachment: Sendable, Equatable {
    public var node: String
    /// The device name the provider gave it (EBS: /dev/xvdf).
    public var device: String
    /// attaching, attached, detaching, busy
    public var state: String
    /// What a Mount refused on its account says besides (a cluster root: the
    /// holder's lease).
    public var note: String?

    public init(node: String, device: String, state: String, note: String? = nil) {
        self.node = node
        self.device = device
        self.state = state
        self.note = note
    }
}

/// A device attached for a volume. Either the backend knows the device node
/// (`device`: a loop device) or the host finds it by the names the backend gives
/// (`names`, in order). Some attachments (loop devices with autoclear) last only
/// while a descriptor is open: this object holds it until it is released, by
/// which time the mount holds the device.
public final class DeviceAttachment: Sendable {
    public let device: String?
    /// Where the device may appear: a name under the host's device directory (EBS
    /// on Nitro: `nvme-Amazon_Elastic_Block_Store_vol…`) or an absolute path.
    public let names: [String]
    /// The file whose bytes the device shows, if it has one (a loop device's
    /// image): probed in the device's place, through the page cache the file
    /// already has rather than the empty one of a device just attached.
    public let backingFile: String?
    private let descriptor: Int32?

    public init(device: String, backingFile: String? = nil, descriptor: Int32? = nil) {
        self.device = device
        self.names = []
        self.backingFile = backingFile
        self.descriptor = descriptor
    }

    public init(names: [String]) {
        self.device = nil
        self.names = names
        self.backingFile = nil
        self.descriptor = nil
    }

    deinit {
        if let descriptor { close(descriptor) }
    }
}
