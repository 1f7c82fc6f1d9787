/// Everything `cloudstord` is told by its flags and environment.
public struct DaemonConfiguration: Sendable {
    public enum Provider: String, CaseIterable, Sendable {
        case local, aws
    }

    public var socketPath = "/run/cloudstor/cloudstor.sock"
    public var stateDirectory = "/var/lib/cloudstor"
    /// Defaults to `<stateDirectory>/mnt`.
    public var mountRoot: String?
    /// Where the shared file system is mounted; defaults to `<stateDirectory>/shared`.
    public var sharedRoot: String?
    /// Where the Max I/O shared file system is mounted; on AWS defaults to
    /// `<stateDirectory>/shared-maxio` when there is one, else none.
    public var sharedMaxioRoot: String?
    /// The local provider: a file system every node mounts, where relocatable
    /// volumes live so that they follow their task; nil: in the state directory.
    public var clusterRoot: String?
    /// How long after a node's last lease renewal another may take its volumes on
    /// the cluster root; nil: only after an operator declares it dead.
    public var takeoverAfter: Duration?
    /// AWS: the EFS file systems; found by the stack's tag when neither is given.
    public var efsFileSystemID: String?
    public var efsMaxioFileSystemID: String?
    /// How long a removed shared volume's files wait in the trash.
    public var trashDelay: Duration = .zero
    /// Defaults to shared where the provider has an EFS file system, else relocatable.
    public var defaultBacking: Backing?
    public var provider: Provider = .local
    public var stackID = ""
    /// This node's name; on AWS the instance id unless set.
    public var nodeID: String?
    /// Where attached volumes' device links appear.
    public var deviceDirectory = "/dev/disk/by-id"
    public var takeoverWait: Duration = .seconds(60)
    public var mountWait: Duration = .seconds(100)
    /// Defaults to 30 s on a cloud, 0 on the local provider (a loop device costs nothing to attach).
    public var detachDelay: Duration?
    public var snapshotInterval: Duration = .seconds(3600)
    public var snapshotRetention = 2
    /// EBS volumes this node may have attached besides its root volume; nil: its
    /// instance type's limit (DescribeInstanceTypes).
    public var maxAttachments: Int?
    /// AWS: how many nodes share the account's EC2 request budget; each takes an
    /// equal share, so that the fleet together stays inside it.
    public var budgetNodes = 1
    /// Where `/metrics` is served (Prometheus's text format); nil: not at all.
    public var metricsListen: MetricsEndpoint.Address?

    public init() {}

    public var resolvedMountRoot: String { mountRoot ?? "\(stateDirectory)/mnt" }
    public var resolvedSharedRoot: String { sharedRoot ?? "\(stateDirectory)/shared" }
    public var imageDirectory: String { "\(stateDirectory)/images" }
    public var databasePath: String { "\(stateDirectory)/catalogue.sqlite" }
}
