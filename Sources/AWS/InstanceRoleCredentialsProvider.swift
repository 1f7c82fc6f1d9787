import FoundationEssentials

/// The instance role's temporary credentials from instance metadata. Off EC2 (no
/// metadata service) it finds nothing; `AWS_EC2_METADATA_DISABLED=true` skips it.
public struct InstanceRoleCredentialsProvider: CredentialsProvider {
    public let name = "instance role"
    let metadata: InstanceMetadataClient
    let disabled: Bool

    public init(metadata: InstanceMetadataClient, environment: [String: String] = [:]) {
        self.metadata = metadata
        self.disabled = environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
    }

    struct Document: Decodable {
        var Code: String?
        var AccessKeyId: String
        var SecretAccessKey: String
        var Token: String?
        var Expiration: String?
    }

    public func credentials() async throws -> AWSCredentials? {
        guard !disabled else { return nil }
        let roles: String
        do {
            roles = try await metadata.get("/latest/meta-data/iam/security-credentials/")
        } catch {
            // Not on EC2 (nobody answers), or no role attached: nothing here.
            if error.code == "Transport" || error.code == "NotFound" { return nil }
            throw error
        }
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init) else { return nil }
        let text = try await metadata.get("/latest/meta-data/iam/security-credentials/\(role)")
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(text.utf8))
        } catch {
            throw AWSError(code: "MalformedResponse", message: "instance role \(role): credentials are not JSON", service: "imds",
                action: "credentials", cause: error)
        }
        if let code = document.Code, code != "Success" {
            throw AWSError(code: "InvalidCredentials", message: "instance role \(role): \(code)", service: "imds", action: "credentials")
        }
        let expiration = document.Expiration.flatMap { try? Date($0, strategy: .iso8601) }
        return AWSCredentials(
            accessKeyID: document.AccessKeyId, secretAccessKey: document.SecretAccessKey, sessionToken: document.Token,
            expiration: expiration)
    }
}
