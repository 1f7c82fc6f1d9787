/// Storage tagged with this stack that no live volume uses: what a finished or
/// interrupted move left. Deleting one never loses data: each volume's data is on
/// its live storage.
public struct Orphan: Sendable, Equatable {
    public var id: String
    /// "volume" or "snapshot"
    public var kind: String
    public var name: String
    public var zone: String
    public var reason: String
    public var createdAt: String

    public init(id: String, kind: String, name: String, zone: String, reason: String, createdAt: String) {
        self.id = id
        self.kind = kind
        self.name = name
        self.zone = zone
        self.reason = reason
        self.createdAt = createdAt
    }
}
