import CloudstorProto

/// The words people see for the API's enums, the same in the shim and cloudstorctl.
extension Cloudstor_V1_VolumeState {
    public var displayName: String {
        switch self {
        case .created: "created"
        case .attached: "attached"
        case .mounted: "mounted"
        default: "unknown"
        }
    }
}

extension Cloudstor_V1_Backing {
    public var displayName: String {
        switch self {
        case .relocatable: "relocatable"
        case .shared: "shared"
        default: "unknown"
        }
    }
}
