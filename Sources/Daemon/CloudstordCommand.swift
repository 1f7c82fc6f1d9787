import ArgumentParser
import CloudstorAWSProvider
import CloudstorService
import CloudstorSupport
import FoundationEssentials
import Logging

/// `cloudstord`: parses flags, picks the provider and runs the daemon. Every flag
/// has an environment variable; the flag wins.
public struct CloudstordCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cloudstord",
        abstract: "The Cloudstor daemon: persistent Docker volumes, served over gRPC on a unix socket.",
        discussion: """
            Every option may also be set by the environment variable named in its help; the option wins. \
            On AWS the standard variables apply too: AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
            AWS_SESSION_TOKEN, AWS_PROFILE, AWS_ENDPOINT_URL, AWS_EC2_METADATA_SERVICE_ENDPOINT.
            """,
        version: Release.version)

    @Option(help: "gRPC unix socket to serve (env CLOUDSTOR_SOCKET; default /run/cloudstor/cloudstor.sock).")
    var socket: String?

    @Option(help: "State directory: node database, images (env CLOUDSTOR_STATE_DIR; default /var/lib/cloudstor).")
    var stateDir: String?

    @Option(help: "Where relocatable volumes are mounted (env CLOUDSTOR_MOUNT_ROOT; default STATE_DIR/mnt).")
    var mountRoot: String?

    @Option(help: "Where the shared file system is mounted: shared volumes are its directories (env CLOUDSTOR_SHARED_ROOT; default STATE_DIR/shared).")
    var sharedRoot: String?

    @Option(help: "Local provider: a file system every node mounts (NFS) where relocatable volumes live, so that they follow their task; Docker is told Scope global (env CLOUDSTOR_CLUSTER_ROOT; default none: volumes stay on their node, Scope local).")
    var clusterRoot: String?

    @Option(help: "With --cluster-root: let another node take a volume once its holder's lease is this old, as if the holder were declared dead; two writers lose data if the holder is alive but cut off (env CLOUDSTOR_TAKEOVER_AFTER; default never: only `cloudstorctl volume unmount --node NODE --all`).")
    var takeoverAfter: String?

    @Option(help: "Where the Max I/O shared file system is mounted, for perfmode=maxio (env CLOUDSTOR_SHARED_MAXIO_ROOT; default none, on AWS with one STATE_DIR/shared-maxio).")
    var sharedMaxioRoot: String?

    @Option(help: "AWS: the EFS file system of shared volumes, mounted at --shared-root unless something is (env CLOUDSTOR_EFS_FILESYSTEM_ID; default the one tagged StackID=md5(stack id)).")
    var efsFilesystemId: String?

    @Option(help: "AWS: the Max I/O EFS file system, mounted at --shared-maxio-root (env CLOUDSTOR_EFS_MAXIO_FILESYSTEM_ID; default the one tagged like --efs-filesystem-id).")
    var efsMaxioFilesystemId: String?

    @Option(help: "How long a removed shared volume's files wait in SHARED_ROOT/.cloudstor/trash before they are deleted (env CLOUDSTOR_TRASH_DELAY; default 0s).")
    var trashDelay: String?

    @Option(help: "Backing of volumes created without backing=: relocatable or shared (env CLOUDSTOR_DEFAULT_BACKING; default shared on AWS with EFS, else relocatable).")
    var defaultBacking: String?

    @Option(help: "EBS type of relocatable volumes created without ebstype=: standard, gp2, gp3, io1, io2, st1, sc1 (env CLOUDSTOR_DEFAULT_EBSTYPE; default standard).")
    var defaultEbstype: String?

    @Option(help: "Storage provider: local or aws (env CLOUDSTOR_PROVIDER; default local).")
    var provider: String?

    @Option(help: "Stack id this daemon's volumes belong to; volumes are tagged StackID=md5(id) (env CLOUDSTOR_STACK_ID).")
    var stackId: String?

    @Option(help: "This node's name in volume status (env CLOUDSTOR_NODE_ID; default the host name, on AWS the instance id).")
    var nodeId: String?

    @Option(help: "AWS: this instance's id (env CLOUDSTOR_INSTANCE_ID; default from instance metadata).")
    var instanceId: String?

    @Option(help: "AWS: this instance's availability zone (env CLOUDSTOR_AVAILABILITY_ZONE; default from instance metadata).")
    var availabilityZone: String?

    @Option(help: "Where attached volumes' device links appear (env CLOUDSTOR_DEVICE_DIR; default /dev/disk/by-id).")
    var deviceDir: String?

    @Option(help: "How long a Mount waits for another running node to release a volume, or to finish moving it (env CLOUDSTOR_TAKEOVER_WAIT; default 60s).")
    var takeoverWait: String?

    @Option(help: "How long a Mount waits for a volume to be ready or moved before a retryable error (env CLOUDSTOR_MOUNT_WAIT; default 100s).")
    var mountWait: String?

    @Option(help: "How long a volume stays attached after its last Unmount (env CLOUDSTOR_DETACH_DELAY; default 30s on AWS, 0 locally).")
    var detachDelay: String?

    @Option(help: "AWS: interval of background snapshots of attached volumes, 0 for none (env CLOUDSTOR_SNAPSHOT_INTERVAL; default 1h).")
    var snapshotInterval: String?

    @Option(help: "AWS: background snapshots kept per volume (env CLOUDSTOR_SNAPSHOT_RETENTION; default 2).")
    var snapshotRetention: Int?

    @Option(help: "AWS: EBS volumes this instance may have attached besides its root volume (env CLOUDSTOR_MAX_ATTACHMENTS; default: its instance type's limit, from DescribeInstanceTypes).")
    var maxAttachments: Int?

    @Option(help: "AWS: how many nodes share the account's EC2 request budget; this one keeps to an equal share of it (env CLOUDSTOR_BUDGET_NODES; default 1).")
    var budgetNodes: Int?

    @Option(help: "Serve Prometheus metrics at /metrics on HOST:PORT or a unix socket path (env CLOUDSTOR_METRICS_LISTEN; default off).")
    var metricsListen: String?

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        func pick(_ flag: String?, _ variable: String) -> String? { Setting.pick(flag, variable) }
        var config = DaemonConfiguration()
        config.nodeID = pick(nodeId, "CLOUDSTOR_NODE_ID")
        if let value = pick(socket, "CLOUDSTOR_SOCKET") { config.socketPath = value }
        if let value = pick(stateDir, "CLOUDSTOR_STATE_DIR") { config.stateDirectory = value }
        config.mountRoot = pick(mountRoot, "CLOUDSTOR_MOUNT_ROOT")
        config.sharedRoot = pick(sharedRoot, "CLOUDSTOR_SHARED_ROOT")
        config.sharedMaxioRoot = pick(sharedMaxioRoot, "CLOUDSTOR_SHARED_MAXIO_ROOT")
        config.clusterRoot = pick(clusterRoot, "CLOUDSTOR_CLUSTER_ROOT")
        if let value = pick(takeoverAfter, "CLOUDSTOR_TAKEOVER_AFTER") {
            guard config.clusterRoot != nil else { throw ValidationError("--takeover-after applies with --cluster-root only") }
            config.takeoverAfter = try Setting.duration(value, option: "--takeover-after")
        }
        config.efsFileSystemID = pick(efsFilesystemId, "CLOUDSTOR_EFS_FILESYSTEM_ID")
        config.efsMaxioFileSystemID = pick(efsMaxioFilesystemId, "CLOUDSTOR_EFS_MAXIO_FILESYSTEM_ID")
        if let value = pick(trashDelay, "CLOUDSTOR_TRASH_DELAY") { config.trashDelay = try Setting.duration(value, option: "--trash-delay") }
        if let value = pick(defaultBacking, "CLOUDSTOR_DEFAULT_BACKING") {
            config.defaultBacking = try Setting.choice(value == "local" ? "relocatable" : value, of: Backing.self, option: "--default-backing")
        }
        var defaultEBSType = EBSVolumeType.standard
        if let value = pick(defaultEbstype, "CLOUDSTOR_DEFAULT_EBSTYPE") {
            defaultEBSType = try Setting.choice(value, of: EBSVolumeType.self, option: "--default-ebstype")
        }
        if let value = pick(provider, "CLOUDSTOR_PROVIDER") {
            config.provider = try Setting.choice(value, of: DaemonConfiguration.Provider.self, option: "--provider")
        }
        config.stackID = pick(stackId, "CLOUDSTOR_STACK_ID") ?? ""
        if let value = pick(deviceDir, "CLOUDSTOR_DEVICE_DIR") { config.deviceDirectory = value }
        if let value = pick(takeoverWait, "CLOUDSTOR_TAKEOVER_WAIT") { config.takeoverWait = try Setting.duration(value, option: "--takeover-wait") }
        if let value = pick(mountWait, "CLOUDSTOR_MOUNT_WAIT") { config.mountWait = try Setting.duration(value, option: "--mount-wait") }
        if let value = pick(detachDelay, "CLOUDSTOR_DETACH_DELAY") { config.detachDelay = try Setting.duration(value, option: "--detach-delay") }
        if let value = pick(snapshotInterval, "CLOUDSTOR_SNAPSHOT_INTERVAL") {
            config.snapshotInterval = try Setting.duration(value, option: "--snapshot-interval")
        }
        if let value = try Self.count(snapshotRetention, "CLOUDSTOR_SNAPSHOT_RETENTION", "--snapshot-retention") { config.snapshotRetention = value }
        if let value = try Self.count(maxAttachments, "CLOUDSTOR_MAX_ATTACHMENTS", "--max-attachments") { config.maxAttachments = value }
        if let value = try Self.count(budgetNodes, "CLOUDSTOR_BUDGET_NODES", "--budget-nodes") {
            guard value >= 1 else { throw ValidationError("--budget-nodes must be at least 1, not \(value)") }
            config.budgetNodes = value
        }
        if let value = pick(metricsListen, "CLOUDSTOR_METRICS_LISTEN") {
            guard let address = MetricsEndpoint.Address(value) else {
                throw ValidationError("--metrics-listen takes HOST:PORT or an absolute socket path, not \(value)")
            }
            config.metricsListen = address
        }
        let identity = AWSProvider.Identity(
            instanceID: pick(instanceId, "CLOUDSTOR_INSTANCE_ID"), availabilityZone: pick(availabilityZone, "CLOUDSTOR_AVAILABILITY_ZONE"))

        let logger = try logging.bootstrap(label: "cloudstord")
        do {
            try await Daemon.run(config, logger: logger) { (database, host) async throws(CloudstorError) -> Provider in
                switch config.provider {
                case .local:
                    // The EBS rules, so that a stack that works on one machine works on AWS.
                    return try Provider.local(
                        config, database: database, node: config.nodeID ?? ProcessInfo.processInfo.hostName,
                        options: EBSOptionRules(defaultType: defaultEBSType, cloud: false), logger: logger)
                case .aws:
                    return try await AWSProvider.make(
                        config, identity: identity, defaultEBSType: defaultEBSType, environment: ProcessInfo.processInfo.environment, host: host,
                        logger: logger)
                }
            }
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }

    private static func count(_ flag: Int?, _ variable: String, _ option: String) throws -> Int? {
        if let flag { return flag }
        guard let text = Setting.pick(nil, variable) else { return nil }
        guard let value = Int(text), value >= 0 else { throw ValidationError("\(option) must be a whole number, not \(text)") }
        return value
    }
}
