import Foundation
import Testing

@testable import CloudstorAWS

@Suite struct CredentialsTests {
    /// A home directory with the given shared files, removed afterwards.
    func withHome(credentials: String? = nil, config: String? = nil, _ body: (String) async throws -> Void) async throws {
        let home = "/tmp/cs-home-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(home)/.aws", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        if let credentials { try credentials.write(toFile: "\(home)/.aws/credentials", atomically: true, encoding: .utf8) }
        if let config { try config.write(toFile: "\(home)/.aws/config", atomically: true, encoding: .utf8) }
        try await body(home)
    }

    struct Fixed: CredentialsProvider {
        let name: String
        let result: AWSCredentials?
        func credentials() async throws -> AWSCredentials? { result }
    }

    @Test func environmentGivesKeyAndToken() async throws {
        let found = try await EnvironmentCredentialsProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "tok",
        ]).credentials()
        #expect(found == AWSCredentials(accessKeyID: "AKIAENV", secretAccessKey: "env-secret", sessionToken: "tok"))
        #expect(try await EnvironmentCredentialsProvider(environment: [:]).credentials() == nil)
    }

    @Test func halfAnEnvironmentKeyIsAnError() async {
        let error = await #expect(throws: AWSError.self) {
            try await EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": "AKIA"]).credentials()
        }
        #expect(error?.message.contains("AWS_SECRET_ACCESS_KEY") == true)
    }

    @Test func sharedFilesByProfile() async throws {
        let credentials = """
            # comment
            [default]
            aws_access_key_id = AKIADEFAULT
            aws_secret_access_key = default-secret

            [ops]
            aws_access_key_id=AKIAOPS
            aws_secret_access_key=ops-secret
            aws_session_token=ops-token
            """
        let config = """
            [default]
            region = us-east-1
            [profile only-in-config]
            aws_access_key_id = AKIACONFIG
            aws_secret_access_key = config-secret
            [profile ops]
            aws_access_key_id = AKIASHADOWED
            aws_secret_access_key = shadowed
            """
        try await withHome(credentials: credentials, config: config) { (home: String) async throws in
            func load(_ env: [String: String]) async throws -> AWSCredentials? {
                try await ProfileCredentialsProvider(environment: env, home: home).credentials()
            }
            #expect(try await load([:])?.accessKeyID == "AKIADEFAULT")
            #expect(try await load(["AWS_PROFILE": "ops"]) == AWSCredentials(accessKeyID: "AKIAOPS", secretAccessKey: "ops-secret", sessionToken: "ops-token"))
            #expect(try await load(["AWS_PROFILE": "only-in-config"])?.accessKeyID == "AKIACONFIG")
            let missing = await #expect(throws: AWSError.self) { try await load(["AWS_PROFILE": "nope"]) }
            #expect(missing?.code == "ProfileNotFound")
        }
    }

    @Test func sharedFilesElsewhereByVariable() async throws {
        try await withHome { home in
            let path = "\(home)/elsewhere"
            try "[default]\naws_access_key_id=AKIAFILE\naws_secret_access_key=s\n".write(toFile: path, atomically: true, encoding: .utf8)
            let found = try await ProfileCredentialsProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path], home: home).credentials()
            #expect(found?.accessKeyID == "AKIAFILE")
            #expect(try await ProfileCredentialsProvider(environment: [:], home: home).credentials() == nil)
        }
    }

    @Test func chainTakesTheFirstThatHasCredentials() async throws {
        let first = AWSCredentials(accessKeyID: "FIRST", secretAccessKey: "1")
        let second = AWSCredentials(accessKeyID: "SECOND", secretAccessKey: "2")
        #expect(try await CredentialsChain([Fixed(name: "a", result: nil), Fixed(name: "b", result: second)]).credentials() == second)
        #expect(try await CredentialsChain([Fixed(name: "a", result: first), Fixed(name: "b", result: second)]).credentials() == first)
        #expect(try await CredentialsChain([Fixed(name: "a", result: nil)]).credentials() == nil)
    }

    @Test func standardOrderIsEnvironmentThenFiles() async throws {
        try await withHome(credentials: "[default]\naws_access_key_id=AKIAFILE\naws_secret_access_key=f\n") { home async throws in
            let metadata = InstanceMetadataClient(endpoint: "http://127.0.0.1:9")  // nobody there
            let env = ["HOME": home, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"]
            #expect(try await CredentialsChain.standard(environment: env, metadata: metadata).credentials()?.accessKeyID == "AKIAENV")
            #expect(try await CredentialsChain.standard(environment: ["HOME": home], metadata: metadata).credentials()?.accessKeyID == "AKIAFILE")
            // Nothing anywhere and no metadata service: no credentials, quickly.
            #expect(try await CredentialsChain.standard(environment: ["HOME": "/nonexistent"], metadata: metadata).credentials() == nil)
        }
    }

    @Test func cacheRefetchesOnlyNearExpiry() async throws {
        final class Counting: CredentialsProvider, @unchecked Sendable {
            let name = "counting"
            var calls = 0
            var expiry: Date
            init(expiry: Date) { self.expiry = expiry }
            func credentials() async throws -> AWSCredentials? {
                calls += 1
                return AWSCredentials(accessKeyID: "K\(calls)", secretAccessKey: "s", expiration: expiry)
            }
        }
        let longLived = Counting(expiry: Date().addingTimeInterval(3600))
        let cache = CredentialsCache(provider: longLived)
        _ = try await cache.current()
        #expect(try await cache.current().accessKeyID == "K1")
        #expect(longLived.calls == 1)

        let expiring = Counting(expiry: Date().addingTimeInterval(60))  // inside the 5-minute margin
        let refreshing = CredentialsCache(provider: expiring)
        _ = try await refreshing.current()
        #expect(try await refreshing.current().accessKeyID == "K2")
    }
}
