import FoundationEssentials

/// An access key, with the session token and expiry of temporary credentials.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    /// Never shows the secret or the token: safe to log.
    public var description: String {
        "AWSCredentials(\(accessKeyID), secret: <redacted>\(sessionToken == nil ? "" : ", session token: <redacted>"))"
    }

    /// Whether these credentials should be replaced before use, with a margin so a
    /// request signed now does not arrive expired.
    public func expires(within margin: TimeInterval, of now: Date = Date()) -> Bool {
        guard let expiration else { return false }
        return expiration.timeIntervalSince(now) < margin
    }
}

/// A source of credentials. `nil` means "not configured here": the chain moves on.
public protocol CredentialsProvider: Sendable {
    var name: String { get }
    func credentials() async throws -> AWSCredentials?
}
