import GRDB

/// A volume as the catalogue keeps it.
public struct VolumeRecord: Codable, Equatable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "volume"

    public var name: String
    public var backing: String
    /// The normalised options (VolumeOptions.dictionary), stored as JSON.
    public var options: [String: String]
    /// The provider's id: an image file, a directory, an EBS volume id.
    public var cloudID: String
    /// RFC 3339, UTC.
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case name, backing, options
        case cloudID = "cloud_id"
        case createdAt = "created_at"
    }
}
