/// One call to an AWS API, before signing.
public struct AWSRequest: Sendable {
    /// How the service speaks: EC2's form-encoded Query API with XML replies, REST
    /// with JSON (EFS), or JSON 1.1 RPC (KMS: POST / and X-Amz-Target).
    public enum WireProtocol: Sendable {
        case ec2Query, restJSON, json
    }

    /// The signing name: "ec2", "elasticfilesystem".
    public var service: String
    /// The API action, for errors, metrics and throttling classes.
    public var action: String
    public var wireProtocol: WireProtocol
    public var method: String
    /// The path, not percent-encoded.
    public var path: String
    public var query: [(String, String)]
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Whether the call changes anything (decides its token bucket).
    public var mutating: Bool

    public init(
        service: String, action: String, protocol wireProtocol: WireProtocol, method: String, path: String = "/", query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8] = [], mutating: Bool
    ) {
        self.service = service
        self.action = action
        self.wireProtocol = wireProtocol
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.mutating = mutating
    }
}

/// What AWS answered.
public struct AWSResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
