import AsyncHTTPClient
import Foundation
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
        config.connectionPool = .init(idleTimeout: .seconds(60))
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

    /// EC2's documented budgets per account: describes burst 100 and refill 20/s,
    /// mutations burst 200 and refill 5/s. EFS's are unpublished; these are modest.
    public static func defaultBuckets() -> [String: TokenBucket] {
        [
            "ec2/describe": TokenBucket(capacity: 100, rate: 20), "ec2/mutate": TokenBucket(capacity: 200, rate: 5),
            "elasticfilesystem/describe": TokenBucket(capacity: 50, rate: 10),
            "elasticfilesystem/mutate": TokenBucket(capacity: 20, rate: 5),
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
            do {
                try await bucket?.acquire()
            } catch {
                throw AWSError(code: "Cancelled", message: "cancelled while waiting for a token", service: request.service, action: request.action)
            }
            let outcome: AWSError
            do {
                let response = try await send(once: request)
                count(request, outcome: "ok")
                return response
            } catch {
                outcome = error
            }
            count(request, outcome: outcome.code)
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
