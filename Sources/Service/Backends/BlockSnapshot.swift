/// A snapshot the provider made of a relocatable volume for Cloudstor.
public struct BlockSnapshot: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Asked for (`CreateSnapshot`): kept until deleted, whatever becomes of its volume.
        case backup
        /// Taken while the volume was mounted; pruned by retention, removed with it.
        case periodic
        /// Carries a move to another zone; deleted once the move is over.
        case move
    }

    public var id: String
    /// The volume's name.
    public var volume: String
    public var kind: Kind
    public var label: String
    /// pending, completed, error
    public var state: String
    /// "0%"…"100%"
    public var progress: String
    public var sizeGiB: Int
    /// RFC 3339, UTC.
    public var createdAt: String

    public init(id: String, volume: String, kind: Kind, label: String = "", state: String, progress: String, sizeGiB: Int, createdAt: String) {
        self.id = id
        self.volume = volume
        self.kind = kind
        self.label = label
        self.state = state
        self.progress = progress
        self.sizeGiB = sizeGiB
        self.createdAt = createdAt
    }
}
