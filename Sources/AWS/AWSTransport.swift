import AsyncHTTPClient
import CloudstorSupport
import FoundationEssentials
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// Sends signed requests to AWS: pooled keep-alive connections (AsyncHTTPClient),
/// a client-side token bucket per service and API class, retries with backoff and
/// full jitter on throttling, 5xx and connection errors (never on client errors),
/// and every attempt counted in metrics by service, action and outcome.
public final class AWSTransport: Sendable {
    let http: HTTPClient
    let credentials: CredentialsCache
    let endpoints: AWSEndpoints
    let retry: RetryPolicy
    let buckets: [String: TokenBucket]
    /// As many as the pool keeps connections per host.
    let slots = RequestSlots(limit: AWSTransport.connectionsPerHost)
    let metrics: any MetricsFactory
    let logger: Logger
    let now: @Sendable () -> Date

    public init(
        credentials: any CredentialsProvider, endpoints: AWSEndpoints, retry: RetryPolicy = .init(),
        buckets: [String: TokenBucket] = AWSTransport.defaultBuckets(), metrics: any MetricsFactory = MetricsSystem.factory,
        logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(5), read: .seconds(30))
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.connectionsPerHost)
        config.decompression = .disabled
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.credentials = CredentialsCache(provider: credentials)
        self.endpoints = endpoints
        self.retry = retry
        self.buckets = buckets
        self.metrics = metrics
        self.logger = logger
        self.now = now
    }

    static let connectionsPerHost = 8

    /// EC2's documented budgets per account: describes burst 100 and refill 20/s,
    /// mutations burst 200 and refill 5/s. EFS's are unpublished; these are modest.
    /// `share`: the part of each this process keeps to (1/N for N nodes of one account).
    public static func defaultBuckets(share: Double = 1) -> [String: TokenBucket] {
        func bucket(_ capacity: Double, _ rate: Double) -> TokenBucket {
            TokenBucket(capacity: max(1, (capacity * share).rounded(.down)), rate: rate * share)
        }
        return [
            "ec2/describe": bucket(100, 20), "ec2/mutate": bucket(200, 5),
            "elasticfilesystem/describe": bucket(50, 10), "elasticfilesystem/mutate": bucket(20, 5),
        ]
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// Sends the request, retrying what is worth retrying; returns a 2xx response or
    /// throws the last error.
    public func send(_ request: AWSRequest) async throws(AWSError) -> AWSResponse {
        let bucket = buckets["\(request.service)/\(request.mutating ? "mutate" : "describe")"]
        var attempt = 0
        while true {
            attempt += 1
            // The slot first, then the token: a call leaves as soon as it has its
            // token, so calls reach AWS at the bucket's pace, not in a bunch after
            // waiting for a connection.
            await slots.acquire()
            do {
                if let bucket {
                    let waiting = ContinuousClock.now
                    try await bucket.acquire()
                    Timer(label: "cloudstor_aws_token_wait_seconds", dimensions: [("service", request.service)], factory: metrics)
                        .recordNanoseconds((ContinuousClock.now - waiting).nanoseconds)
                }
            } catch {
                await slots.release()
                throw AWSError(code: "Cancelled", message: "cancelled while waiting for a token", service: request.service, action: request.action)
            }
            let result: Result<AWSResponse, AWSError>
            do { result = .success(try await send(once: request)) } catch { result = .failure(error) }
            await slots.release()
            let outcome: AWSError
            switch result {
            case .success(let response):
                count(request, outcome: "ok")
                return response
            case .failure(let error):
                outcome = error
            }
            count(request, outcome: outcome.code)
            if outcome.isExpiredCredentials { await credentials.expire() }
            if outcome.isThrottling {
                Counter(label: "cloudstor_aws_throttles_total", dimensions: [("service", request.service), ("action", request.action)], factory: metrics)
                    .increment()
            }
            guard outcome.isRetryable, attempt < retry.maxAttempts else { throw outcome }
            let delay = retry.delay(after: attempt, throttled: outcome.isThrottling)
            Counter(label: "cloudstor_aws_retries_total", dimensions: [("service", request.service), ("action", request.action)], factory: metrics)
                .increment()
            logger.debug(
                "retrying AWS call",
                metadata: ["action": "\(request.action)", "attempt": "\(attempt)", "error": "\(outcome.code)", "delay": "\(delay)"])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw outcome
            }
        }
    }

    private func count(_ request: AWSRequest, outcome: String) {
        Counter(
            label: "cloudstor_aws_requests_total",
            dimensions: [("service", request.service), ("action", request.action), ("outcome", outcome)], factory: metrics
        ).increment()
    }

    private func send(once request: AWSRequest) async throws(AWSError) -> AWSResponse {
        let creds: AWSCredentials
        do {
            creds = try await credentials.current()
        } catch let error as AWSError where error.isRetryable {
            throw error
        } catch {
            throw AWSError(code: "NoCredentials", message: "\(error)", service: request.service, action: request.action)
        }
        let base = endpoints.baseURL(for: request.service)
        guard let url = URLComponents(string: base), let host = url.host else {
            throw AWSError(code: "InvalidEndpoint", message: "endpoint \(base) is not a URL", service: request.service, action: request.action)
        }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        let query = request.query.map { "\(SigV4Signer.encode($0.0))=\(SigV4Signer.encode($0.1))" }.joined(separator: "&")
        let encodedPath = request.path.split(separator: "/", omittingEmptySubsequences: false).map { SigV4Signer.encode(String($0)) }
            .joined(separator: "/")
        let signer = SigV4Signer(region: endpoints.region, service: request.service)
        var headers = [("Host", hostHeader)] + request.headers
        headers += signer.sign(
            method: request.method, path: request.path, query: request.query, headers: headers,
            payloadHash: SigV4Signer.hash(request.body), credentials: creds, date: now())

        var http = HTTPClientRequest(url: base + encodedPath + (query.isEmpty ? "" : "?" + query))
        http.method = HTTPMethod(rawValue: request.method)
        for (name, value) in headers { http.headers.add(name: name, value: value) }
        http.headers.add(name: "User-Agent", value: "cloudstor/1")
        if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
            http.body = .bytes(ByteBuffer(bytes: request.body))
        }
        let response: AWSResponse
        do {
            let reply = try await self.http.execute(http, timeout: .seconds(60))
            let body = try await reply.body.collect(upTo: 16 << 20)
            response = AWSResponse(
                status: Int(reply.status.code), headers: reply.headers.map { ($0.name, $0.value) }, body: Array(body.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw AWSError(code: "Timeout", message: "no answer in time", service: request.service, action: request.action, cause: error)
        } catch {
            throw AWSError(code: "Transport", message: "cannot reach \(base)", service: request.service, action: request.action, cause: error)
        }
        guard (200..<300).contains(response.status) else {
            throw ErrorDecoder.decode(response, protocol: request.wireProtocol, service: request.service, action: request.action)
        }
        return response
    }
}
