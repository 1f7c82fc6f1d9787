import CloudstorSupport
import FoundationEssentials

/// The shared files: `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`) and
/// `~/.aws/config` (or `AWS_CONFIG_FILE`), profile `AWS_PROFILE` or "default". The
/// credentials file wins over the config file for the same profile. A profile
/// named explicitly that exists in neither file is an error, as in the AWS CLI.
public struct ProfileCredentialsProvider: CredentialsProvider {
    public let name = "shared credentials files"
    let environment: [String: String]
    let home: String

    public init(environment: [String: String], home: String? = nil) {
        self.environment = environment
        self.home = home ?? environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
    }

    public func credentials() async throws -> AWSCredentials? {
        let explicit = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        let profile = explicit ?? "default"
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        let fromCredentials = Self.sections(of: credentialsFile)[profile]
        let fromConfig = Self.sections(of: configFile)[profile == "default" ? "default" : "profile \(profile)"]
        guard fromCredentials != nil || fromConfig != nil else {
            if let explicit {
                throw AWSError(code: "ProfileNotFound", message: "AWS_PROFILE=\(explicit) is in neither \(credentialsFile) nor \(configFile)")
            }
            return nil
        }
        for section in [fromCredentials, fromConfig].compactMap({ $0 }) {
            guard let id = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else { continue }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: section["aws_session_token"])
        }
        return nil
    }

    /// An INI file as section → key → value; keys lower-cased, values trimmed,
    /// comments (`#`, `;`) and malformed lines skipped. A missing file is empty.
    static func sections(of path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingWhitespace().lowercased()
            let value = line[line.index(after: eq)...].trimmingWhitespace()
            sections[current]?[key] = value
        }
        return sections
    }
}
