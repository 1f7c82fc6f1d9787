/// EFS objects as the REST API returns them (field names are AWS's).
public struct EFSFileSystem: Sendable, Equatable, Codable {
    public var FileSystemId: String
    public var LifeCycleState: String?
    public var PerformanceMode: String?
    public var Name: String?
    public var Tags: [EFSTag]?
}

public struct EFSMountTarget: Sendable, Equatable, Codable {
    public var MountTargetId: String
    public var FileSystemId: String
    public var LifeCycleState: String?
    public var IpAddress: String?
    public var AvailabilityZoneName: String?
    public var SubnetId: String?
}

public struct EFSTag: Sendable, Equatable, Codable {
    public var Key: String
    public var Value: String

    public init(Key: String, Value: String) {
        self.Key = Key
        self.Value = Value
    }
}

public struct EFSRootDirectory: Sendable, Equatable, Codable {
    public struct CreationInfo: Sendable, Equatable, Codable {
        public var OwnerUid: Int
        public var OwnerGid: Int
        public var Permissions: String
    }

    public var Path: String?
    public var CreationInfo: CreationInfo?
}

public struct EFSAccessPoint: Sendable, Equatable, Codable {
    public var AccessPointId: String
    public var FileSystemId: String
    public var LifeCycleState: String?
    public var ClientToken: String?
    public var RootDirectory: EFSRootDirectory?
    public var Tags: [EFSTag]?
}
