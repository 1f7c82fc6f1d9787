/// A volume as the API shows it: its record and where it stands.
public struct VolumeInfo: Equatable, Sendable {
    public enum State: String, Sendable {
        case created, attached, mounted
    }

    public var record: VolumeRecord
    public var state: State
    /// The node the volume is attached to or mounted on.
    public var node: String = ""
    /// Set when mounted on this node.
    public var mountpoint: String = ""
    public var device: String = ""
    /// The zone of its storage (relocatable volumes).
    public var zone: String = ""
    /// The attachment as the provider reports it: attaching, attached, detaching, busy.
    public var attachmentState: String = ""
    /// A move in flight: "moving v from us-east-1a to us-east-1b: snapshot 40%".
    public var move: String = ""
    /// The latest modification this node follows: "modifying 40%", "completed;
    /// filesystem grown"; empty when none.
    public var modification: String = ""
    /// The nodes that hold it mounted (filled by Get).
    public var holders: [String] = []
    /// Holds on this node, counted with repeats.
    public var mountCount: Int = 0

    public init(record: VolumeRecord, state: State) {
        self.record = record
        self.state = state
    }
}
