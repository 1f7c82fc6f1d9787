import FoundationEssentials

/// AWS KMS (JSON 1.1 over POST /) for what Cloudstor needs: whether a key that
/// an encrypted volume names exists and can be used.
public struct KMSClient: Sendable {
    let transport: AWSTransport

    public init(transport: AWSTransport) {
        self.transport = transport
    }

    /// The key, by id, ARN, alias name (`alias/…`) or alias ARN.
    public func describeKey(_ keyID: String) async throws(AWSError) -> KMSKey {
        struct Request: Encodable { var KeyId: String }
        struct Reply: Decodable { var KeyMetadata: KMSKey }
        let body: [UInt8]
        do { body = Array(try JSONEncoder().encode(Request(KeyId: keyID))) } catch {
            throw AWSError(code: "InvalidParameter", message: "cannot encode the request", service: "kms", action: "DescribeKey", cause: error)
        }
        let request = AWSRequest(
            service: "kms", action: "DescribeKey", protocol: .json, method: "POST",
            headers: [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "TrentService.DescribeKey")], body: body,
            mutating: false)
        let response = try await transport.send(request)
        do {
            return try JSONDecoder().decode(Reply.self, from: Data(response.body)).KeyMetadata
        } catch {
            throw AWSError(
                code: "MalformedResponse", message: "DescribeKey answered with unexpected JSON", service: "kms", action: "DescribeKey",
                statusCode: response.status, cause: error)
        }
    }
}

/// A KMS key as DescribeKey tells it.
public struct KMSKey: Sendable, Equatable, Decodable {
    public var KeyId: String
    public var Arn: String?
    /// Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, …
    public var KeyState: String?
}
