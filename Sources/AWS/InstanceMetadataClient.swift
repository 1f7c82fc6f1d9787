import NIOCore
import NIOHTTP1

/// IMDSv2: a session token from `PUT /latest/api/token`, then GETs that carry it.
/// The address is `AWS_EC2_METADATA_SERVICE_ENDPOINT` or 169.254.169.254. Short
/// timeouts: off EC2 there is nobody there, and callers must learn that quickly.
public actor InstanceMetadataClient {
    public static let defaultEndpoint = "http://169.254.169.254"
    static let tokenLifetime = 21600

    let endpoint: String
    private let connection: MetadataConnection?
    private var token: (value: String, expires: ContinuousClock.Instant)?

    public init(endpoint: String? = nil) {
        let base = endpoint.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultEndpoint
        self.endpoint = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.connection = MetadataConnection(endpoint: self.endpoint)
    }

    public init(environment: [String: String]) {
        self.init(endpoint: environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"])
    }

    public func instanceID() async throws(AWSError) -> String { try await get("/latest/meta-data/instance-id") }
    public func availabilityZone() async throws(AWSError) -> String { try await get("/latest/meta-data/placement/availability-zone") }
    public func region() async throws(AWSError) -> String { try await get("/latest/meta-data/placement/region") }

    /// GETs a metadata path; a rejected token is renewed once.
    public func get(_ path: String) async throws(AWSError) -> String {
        for attempt in 1...2 {
            let current = try await sessionToken(renew: attempt > 1)
            let (status, body) = try await call(.GET, path, headers: [("X-aws-ec2-metadata-token", current)])
            if status == 401, attempt == 1 { continue }
            guard status == 200 else {
                throw AWSError(code: status == 404 ? "NotFound" : "HTTP\(status)", message: "instance metadata \(path): HTTP \(status)",
                    service: "imds", action: path, statusCode: status)
            }
            return body
        }
        throw AWSError(code: "Unauthorized", message: "instance metadata refused a fresh token", service: "imds", action: path)
    }

    private func sessionToken(renew: Bool) async throws(AWSError) -> String {
        if !renew, let token, token.expires > .now { return token.value }
        let (status, body) = try await call(
            .PUT, "/latest/api/token", headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenLifetime))])
        guard status == 200, !body.isEmpty else {
            throw AWSError(code: "HTTP\(status)", message: "instance metadata token: HTTP \(status)", service: "imds", action: "token",
                statusCode: status)
        }
        token = (body, .now + .seconds(Self.tokenLifetime - 60))
        return body
    }

    private func call(_ method: HTTPMethod, _ path: String, headers: [(String, String)]) async throws(AWSError) -> (Int, String) {
        guard let connection else {
            throw AWSError(code: "InvalidEndpoint", message: "the instance metadata endpoint \(endpoint) is not http://HOST[:PORT]",
                service: "imds", action: path)
        }
        do {
            return try await connection.exchange(method, path, headers: headers, connect: .seconds(1), total: .seconds(3))
        } catch {
            throw AWSError(code: "Transport", message: "cannot reach instance metadata at \(endpoint)", service: "imds", action: path,
                cause: error)
        }
    }
}
