import CloudstorAWS
import CloudstorService
import Foundation
import Logging

/// The AWS provider: relocatable volumes on EBS, their records in EBS tags. Who
/// this node is (instance, zone, region) comes from instance metadata (IMDSv2)
/// unless flags say; credentials from the standard chain.
public enum AWSProvider {
    public struct Identity: Sendable {
        public var instanceID: String?
        public var availabilityZone: String?

        public init(instanceID: String?, availabilityZone: String?) {
            self.instanceID = instanceID
            self.availabilityZone = availabilityZone
        }
    }

    public static func make(
        _ config: DaemonConfiguration, identity: Identity, environment: [String: String], logger: Logger
    ) async throws(CloudstorError) -> Provider {
        let metadata = InstanceMetadataClient(environment: environment)
        let instance: String
        let zone: String
        let region: String
        do throws(AWSError) {
            if let given = identity.instanceID { instance = given } else { instance = try await metadata.instanceID() }
            if let given = identity.availabilityZone { zone = given } else { zone = try await metadata.availabilityZone() }
            region = try await AWSRegion.resolve(environment: environment, metadata: metadata)
        } catch {
            try? await metadata.shutdown()
            throw CloudstorError(
                .failedPrecondition,
                "cannot tell which EC2 instance this is: \(error.message); run on EC2, set AWS_EC2_METADATA_SERVICE_ENDPOINT, or give --instance-id and --availability-zone (and AWS_REGION)",
                cause: error)
        }
        let transport = AWSTransport(
            credentials: CredentialsChain.standard(environment: environment, metadata: metadata),
            endpoints: AWSEndpoints(region: region, environment: environment), logger: logger)
        let ec2 = EC2Client(transport: transport)
        let stack = EBSTags.stackHash(config.stackID)
        let cache = EBSVolumeCache(ec2: ec2, stackHash: stack)
        let block = EBSBackend(
            ec2: ec2, cache: cache, stackHash: stack, node: instance, zone: zone, maxAttachments: config.maxAttachments, logger: logger)
        logger.info("on AWS", metadata: ["instance": "\(instance)", "zone": "\(zone)", "region": "\(region)", "stack": "\(stack)"])
        return Provider(
            store: EBSVolumeStore(cache: cache), block: block, shared: DirectoryBackend(root: config.resolvedSharedRoot),
            shutdown: {
                try? await transport.shutdown()
                try? await metadata.shutdown()
            })
    }
}
