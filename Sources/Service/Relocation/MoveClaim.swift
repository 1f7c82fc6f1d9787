/// A node's claim on a volume it moves into its zone. Written on the source
/// before the move's snapshot, it keeps every other node from mounting the
/// volume while the move runs: writes made there after the snapshot would not
/// reach the moved copy. The move's snapshot and the volume made from it carry
/// its `id`, so what an abandoned attempt left is never taken for the current one.
/// A claim whose node is not running is stale: any node may clear or take it over.
public struct MoveClaim: Sendable, Equatable {
    /// The instance that moves the volume.
    public var node: String
    /// The zone it moves the volume into.
    public var zone: String
    /// This move attempt's id.
    public var id: String

    public init(node: String, zone: String, id: String) {
        self.node = node
        self.zone = zone
        self.id = id
    }

    /// The id of a new attempt.
    public static func newID() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16)
    }

    /// The id of a Remove's claim starts so: a node removing the volume keeps others
    /// from mounting or moving it as a mover does.
    public static let removalPrefix = "rm-"

    public var isRemoval: Bool { id.hasPrefix(Self.removalPrefix) }

    /// The tag that carries it on a volume (AWS).
    public static let tagKey = "CloudstorMoveClaim"
    /// The tag that carries a Remove's mark (`isRemoval`) on a volume (AWS).
    public static let removalTagKey = "CloudstorRemoval"

    /// `node/zone/id`, as tags carry it (characters every tag value may hold).
    public var tag: String { "\(node)/\(zone)/\(id)" }

    public init?(tag: String) {
        let parts = tag.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(node: String(parts[0]), zone: String(parts[1]), id: String(parts[2]))
    }
}
