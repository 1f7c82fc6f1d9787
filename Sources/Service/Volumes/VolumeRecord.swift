/// A volume as its store keeps it: what it is, not where it stands on a node.
public struct VolumeRecord: Equatable, Sendable {
    public var name: String
    public var backing: Backing
    /// The normalised options (VolumeOptions.dictionary).
    public var options: [String: String]
    /// The provider's id: an image file, a directory, an EBS volume id.
    public var cloudID: String
    /// RFC 3339, UTC.
    public var createdAt: String

    public init(name: String, backing: Backing, options: [String: String], cloudID: String, createdAt: String) {
        self.name = name
        self.backing = backing
        self.options = options
        self.cloudID = cloudID
        self.createdAt = createdAt
    }
}
