/// Everything `cloudstord` is told by its flags and environment.
public struct DaemonConfiguration: Sendable {
    public enum Provider: String, CaseIterable, Sendable {
        case local, aws
    }

    public var socketPath = "/run/cloudstor/cloudstor.sock"
    public var stateDirectory = "/var/lib/cloudstor"
    /// Defaults to `<stateDirectory>/mnt`.
    public var mountRoot: String?
    /// Defaults to `<stateDirectory>/shared`.
    public var sharedRoot: String?
    /// Defaults to relocatable on the local provider.
    public var defaultBacking: Backing = .relocatable
    public var provider: Provider = .local
    public var stackID = ""
    public var nodeID: String

    public init(nodeID: String) {
        self.nodeID = nodeID
    }

    var resolvedMountRoot: String { mountRoot ?? "\(stateDirectory)/mnt" }
    var resolvedSharedRoot: String { sharedRoot ?? "\(stateDirectory)/shared" }
    var imageDirectory: String { "\(stateDirectory)/images" }
    var cataloguePath: String { "\(stateDirectory)/catalogue.sqlite" }
}
