import Foundation

/// Holds the credentials in use and fetches new ones from the provider when there
/// are none or they expire within five minutes. Concurrent callers share one fetch.
actor CredentialsCache {
    let provider: any CredentialsProvider
    private var cached: AWSCredentials?
    private var fetching: Task<AWSCredentials, any Error>?

    init(provider: any CredentialsProvider) {
        self.provider = provider
    }

    func current() async throws -> AWSCredentials {
        if let cached, !cached.expires(within: 300) { return cached }
        if let fetching { return try await fetching.value }
        let provider = self.provider
        let task = Task {
            guard let credentials = try await provider.credentials() else {
                throw AWSError(code: "NoCredentials", message: "no AWS credentials found (\(provider.name))")
            }
            return credentials
        }
        fetching = task
        defer { fetching = nil }
        let credentials = try await task.value
        cached = credentials
        return credentials
    }
}
