import FoundationEssentials

/// Holds the credentials in use and fetches new ones from the provider when there
/// are none, they expire within five minutes, or AWS said they had expired.
/// Concurrent callers share one fetch. A fetch that fails while the credentials
/// held are still valid keeps them (instance metadata down for a while); once they
/// are not, the failure is retryable, as the outage is, not "no credentials".
actor CredentialsCache {
    let provider: any CredentialsProvider
    private var cached: AWSCredentials?
    /// AWS refused `cached` as expired, whatever its expiration said.
    private var refused = false
    private var fetching: Task<AWSCredentials?, any Error>?

    init(provider: any CredentialsProvider) {
        self.provider = provider
    }

    func current() async throws -> AWSCredentials {
        if let cached, !refused, !cached.expires(within: 300) { return cached }
        let task: Task<AWSCredentials?, any Error>
        if let fetching {
            task = fetching
        } else {
            let provider = self.provider
            task = Task { try await provider.credentials() }
            fetching = task
        }
        let result = await task.result
        fetching = nil
        switch result {
        case .success(let credentials?):
            cached = credentials
            refused = false
            return credentials
        case .success(nil), .failure:
            if let cached, !refused, !cached.expires(within: 10) { return cached }
            if case .failure(let error) = result { throw error }
            guard cached == nil else {
                throw AWSError(
                    code: "Transport", message: "cannot renew the AWS credentials: the \(provider.name) gives none now (instance metadata down?)",
                    service: "imds", action: "credentials")
            }
            throw AWSError(code: "NoCredentials", message: "no AWS credentials found (\(provider.name))")
        }
    }

    /// AWS refused the credentials as expired: the next call fetches new ones.
    func expire() {
        refused = cached != nil
    }
}
