/// The region, as the AWS SDKs find it: `AWS_REGION`, then `AWS_DEFAULT_REGION`,
/// then the instance's own region from instance metadata.
public enum AWSRegion {
    public static func resolve(environment: [String: String], metadata: InstanceMetadataClient) async throws(AWSError) -> String {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let region = environment[name], !region.isEmpty { return region }
        }
        do {
            return try await metadata.region()
        } catch {
            throw AWSError(
                code: "NoRegion", message: "set AWS_REGION: no region in the environment and no instance metadata (\(error.message))",
                service: "imds", action: "region", cause: error)
        }
    }
}
