/// A volume as the API shows it: its record and where it stands on this node.
public struct VolumeInfo: Equatable, Sendable {
    public enum State: String, Sendable {
        case created, attached, mounted
    }

    public var record: VolumeRecord
    public var state: State
    /// This node, when the volume is attached or mounted here.
    public var node: String
    /// Set when mounted here.
    public var mountpoint: String
    public var device: String
    /// Holds on this node, counted with repeats.
    public var mountCount: Int
}
