import CloudstorAWS
import CloudstorService
import FoundationEssentials
import Logging

/// The AWS provider: relocatable volumes on EBS, their records in EBS tags;
/// shared volumes on EFS, mounted here over NFS. Who this node is (instance,
/// zone, region) comes from instance metadata (IMDSv2) unless flags say;
/// credentials from the standard chain.
public enum AWSProvider {
    public struct Identity: Sendable {
        public var instanceID: String?
        public var availabilityZone: String?

        public init(instanceID: String?, availabilityZone: String?) {
            self.instanceID = instanceID
            self.availabilityZone = availabilityZone
        }
    }

    /// This instance, its zone and its region: from the flags, else from metadata.
    private static func whoAmI(
        _ identity: Identity, metadata: InstanceMetadataClient, environment: [String: String]
    ) async throws(AWSError) -> (String, String, String) {
        let instance: String
        let zone: String
        if let given = identity.instanceID { instance = given } else { instance = try await metadata.instanceID() }
        if let given = identity.availabilityZone { zone = given } else { zone = try await metadata.availabilityZone() }
        return (instance, zone, try await AWSRegion.resolve(environment: environment, metadata: metadata))
    }

    public static func make(
        _ config: DaemonConfiguration, identity: Identity, defaultEBSType: EBSVolumeType, environment: [String: String], host: any NodeHost,
        logger: Logger
    ) async throws(CloudstorError) -> Provider {
        let metadata = InstanceMetadataClient(environment: environment)
        let instance: String
        let zone: String
        let region: String
        do throws(AWSError) {
            // Metadata that does not answer yet (a node still booting, its network
            // coming up: no answer, a dropped connection, a 5xx) is waited for, a
            // minute at most; the SDKs retry it too.
            let waitUntil = ContinuousClock.now + .seconds(60)
            var delay = Duration.milliseconds(500)
            while true {
                do throws(AWSError) {
                    (instance, zone, region) = try await whoAmI(identity, metadata: metadata, environment: environment)
                    break
                } catch {
                    // Refused: nothing listens there, so this is no EC2 instance (or
                    // its metadata endpoint is wrong): said at once, not in a minute.
                    guard error.isRetryable, !error.isConnectionRefused, ContinuousClock.now + delay < waitUntil else { throw error }
                    logger.warning(
                        "instance metadata does not answer; waiting for it",
                        metadata: ["error": "\(error.message)", "retry-in": "\(delay)"])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
        } catch {
            throw CloudstorError(
                .failedPrecondition,
                "cannot tell which EC2 instance this is: \(error.message); run on EC2, set AWS_EC2_METADATA_SERVICE_ENDPOINT, or give --instance-id and --availability-zone (and AWS_REGION)",
                cause: error)
        }
        let transport = AWSTransport(
            credentials: CredentialsChain.standard(environment: environment, metadata: metadata),
            endpoints: AWSEndpoints(region: region, environment: environment),
            buckets: AWSTransport.defaultBuckets(share: 1 / Double(config.budgetNodes)), logger: logger)
        let ec2 = EC2Client(transport: transport)
        let stack = EBSTags.stackHash(config.stackID)
        let cache = EBSVolumeCache(ec2: ec2, stackHash: stack)
        let (limit, source) = await attachmentLimit(config, ec2: ec2, instance: instance, logger: logger)
        let encryptedByDefault = await encryptionByDefault(ec2, logger: logger)
        // With the other start-up calls, before the daemon serves: the modifications a
        // restart left, followed again once the volumes are restored.
        var modifications: [String: BlockModification]?
        do {
            modifications = try await EBSBackend.modificationsInProgress(ec2)
        } catch {
            logger.warning("cannot list the EBS modifications in progress; looked up again later", metadata: ["error": "\(error)"])
        }
        let block = EBSBackend(
            ec2: ec2, kms: KMSClient(transport: transport), cache: cache, stackHash: stack, node: instance, zone: zone, maxAttachments: limit,
            limitSource: source, encryptedByDefault: encryptedByDefault, modificationsAtStart: modifications, logger: logger)
        logger.info("on AWS", metadata: ["instance": "\(instance)", "zone": "\(zone)", "region": "\(region)", "stack": "\(stack)"])
        let shutdown: @Sendable () async -> Void = { try? await transport.shutdown() }
        let shared: SharedBackend?
        do throws(CloudstorError) {
            shared = try await sharedVolumes(
                config, efs: EFSClient(transport: transport), stackHash: stack, node: instance, region: region, zone: zone, host: host,
                logger: logger)
        } catch {
            await shutdown()
            throw error
        }
        return Provider(
            store: EBSVolumeStore(cache: cache), block: block,
            options: EBSOptionRules(defaultType: defaultEBSType, encryptedByDefault: encryptedByDefault, cloud: true), shared: shared,
            defaultBacking: shared == nil ? .relocatable : .shared, shutdown: shutdown)
    }

    /// How many EBS volumes this instance may have attached besides its root
    /// volume: its type's maximum (which counts the root volume) less, where
    /// AWS says the limit is shared, the network interfaces beyond the primary
    /// one (already counted in the maximum). `--max-attachments` overrides; if
    /// EC2 cannot say, 25 (what the original Cloudstor assumed), with a warning.
    static func attachmentLimit(
        _ config: DaemonConfiguration, ec2: EC2Client, instance: String, logger: Logger
    ) async -> (Int, String) {
        if let given = config.maxAttachments {
            logger.info("attachment limit", metadata: ["limit": "\(given)", "from": "--max-attachments"])
            return (given, "--max-attachments")
        }
        let fallback = 25
        do throws(AWSError) {
            guard let me = try await ec2.describeInstances(ids: [instance]).first, !me.instanceType.isEmpty,
                let type = try await ec2.describeInstanceTypes([me.instanceType]).first, let maximum = type.maximumEBSAttachments
            else {
                logger.warning("EC2 does not say this instance type's attachment limit; assuming 25 (--max-attachments sets it)")
                return (fallback, "--max-attachments, default")
            }
            let interfaces = type.attachmentLimitType == "shared" ? max(0, me.networkInterfaces - 1) : 0
            let limit = max(1, maximum - 1 - interfaces)
            logger.info(
                "attachment limit",
                metadata: [
                    "limit": "\(limit)", "instance-type": "\(me.instanceType)", "ebs-maximum": "\(maximum)",
                    "limit-type": "\(type.attachmentLimitType ?? "")", "network-interfaces": "\(me.networkInterfaces)",
                ])
            return (limit, "instance type \(me.instanceType)")
        } catch {
            logger.warning(
                "cannot read this instance type's attachment limit; assuming 25 (--max-attachments sets it)",
                metadata: ["error": "\(error.message)"])
            return (fallback, "--max-attachments, default")
        }
    }

    /// Whether the account encrypts new EBS volumes by default in this region: then
    /// every volume created without `encrypted=` is, and its options say so. If EC2
    /// cannot say, taken as not (EC2 encrypts all the same; the options then omit it).
    static func encryptionByDefault(_ ec2: EC2Client, logger: Logger) async -> Bool {
        do {
            let on = try await ec2.ebsEncryptionByDefault()
            logger.info("EBS encryption by default", metadata: ["on": "\(on)"])
            return on
        } catch {
            logger.warning("cannot read the account's EBS encryption by default; taken as off", metadata: ["error": "\(error.message)"])
            return false
        }
    }

    /// The shared volumes' file systems: the EFS ids given, else the stack's
    /// found by tag, each mounted at its shared root unless something is mounted
    /// there already. nil when the stack has no EFS.
    static func sharedVolumes(
        _ config: DaemonConfiguration, efs: EFSClient, stackHash: String, node: String, region: String, zone: String, host: any NodeHost,
        logger: Logger
    ) async throws(CloudstorError) -> SharedBackend? {
        var found = EFSFileSystems.Found(general: config.efsFileSystemID, maxio: config.efsMaxioFileSystemID)
        if found == EFSFileSystems.Found() {
            found = try await EFSFileSystems.discover(efs, stackHash: stackHash, logger: logger)
        }
        // On AWS a shared volume is EFS: --shared-root and --shared-maxio-root only say
        // where each is mounted (the managed plugin always names both).
        guard let general = found.general else {
            if let maxio = found.maxio {
                throw CloudstorError(
                    .failedPrecondition,
                    "the Max I/O EFS file system \(maxio) needs a general-purpose one beside it: give --efs-filesystem-id (or tag one with StackID=\(stackHash))")
            }
            logger.info("no EFS file system: shared volumes are off", metadata: ["stack": "\(stackHash)"])
            return nil
        }
        let root = config.resolvedSharedRoot
        try await EFSFileSystems.mount(general, at: root, region: region, zone: zone, host: host, efs: efs, logger: logger)
        let maxioRoot = found.maxio.map { _ in config.sharedMaxioRoot ?? "\(config.stateDirectory)/shared-maxio" }
        if let maxio = found.maxio, let maxioRoot {
            try await EFSFileSystems.mount(maxio, at: maxioRoot, region: region, zone: zone, host: host, efs: efs, logger: logger)
        }
        logger.info(
            "shared volumes on EFS",
            metadata: ["filesystem": "\(found.general ?? "-")", "root": "\(root)", "maxio": "\(found.maxio ?? "-")", "maxio-root": "\(maxioRoot ?? "-")"])
        return try SharedBackend(
            root: root, fileSystemID: found.general, maxioRoot: maxioRoot, maxioFileSystemID: found.maxio, node: node, logger: logger)
    }
}
