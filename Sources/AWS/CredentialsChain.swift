/// AWS's default order: environment, shared files, instance role. The first that
/// has credentials wins; one that is misconfigured stops the chain with its error
/// (silently falling through to another identity would be worse).
public struct CredentialsChain: CredentialsProvider {
    public let providers: [any CredentialsProvider]
    public var name: String { "chain of " + providers.map(\.name).joined(separator: ", ") }

    public init(_ providers: [any CredentialsProvider]) {
        self.providers = providers
    }

    public static func standard(environment: [String: String], metadata: InstanceMetadataClient) -> CredentialsChain {
        CredentialsChain([
            EnvironmentCredentialsProvider(environment: environment),
            ProfileCredentialsProvider(environment: environment),
            InstanceRoleCredentialsProvider(metadata: metadata, environment: environment),
        ])
    }

    public func credentials() async throws -> AWSCredentials? {
        for provider in providers {
            if let found = try await provider.credentials() { return found }
        }
        return nil
    }
}
