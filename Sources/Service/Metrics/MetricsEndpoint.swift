import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// `--metrics-listen`: `GET /metrics` in Prometheus's text format, on a TCP address
/// (`127.0.0.1:9323`) or a unix socket (a path). Before each answer `refresh`
/// sets what is read off the daemon's state rather than counted (volumes, holds,
/// moves in flight); it does no I/O. Stops with the daemon.
public struct MetricsEndpoint: Service {
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unix(path: String)

        /// `HOST:PORT`, `[IPv6]:PORT` or an absolute path; nil for anything else.
        public init?(_ text: String) {
            if text.hasPrefix("/") {
                self = .unix(path: text)
                return
            }
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                return nil
            }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .tcp(host: host, port: port)
        }

        public var description: String {
            switch self {
            case .tcp(let host, let port): host.contains(":" as Character) ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path): path
            }
        }
    }

    let address: Address
    let registry: PrometheusCollectorRegistry
    let refresh: @Sendable () async -> Void
    let logger: Logger

    public init(address: Address, registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () async -> Void, logger: Logger) {
        self.address = address
        self.registry = registry
        self.refresh = refresh
        self.logger = logger
    }

    public func run() async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let initialize: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
            }
        }
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        switch address {
        case .tcp(let host, let port):
            server = try await bootstrap.bind(host: host, port: port, childChannelInitializer: initialize)
        case .unix(let path):
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: initialize)
        }
        logger.info("serving metrics", metadata: ["address": "\(address)"])
        // A stop ends every connection at once: Prometheus holds its own open
        // between scrapes, and nothing of a scrape is worth waiting for.
        do {
            try await cancelWhenGracefulShutdown {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask { await serve(connection) }
                        }
                    }
                }
            }
        } catch {
            guard Task.isShuttingDownGracefully else { throw error }
        }
    }

    /// Answers each request of one connection (keep-alive, as Prometheus scrapes).
    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        try? await connection.executeThenClose { requests, responses in
            var head: HTTPRequestHead?
            for try await part in requests {
                switch part {
                case .head(let request): head = request
                case .body: break
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let (status, type, body) = await answer(request)
                    var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.count))])
                    if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    try await responses.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                    if request.method != .HEAD { try await responses.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await responses.write(.end(nil))
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead) async -> (HTTPResponseStatus, String, [UInt8]) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        guard path == "/metrics" else { return (.notFound, "text/plain; charset=utf-8", Array("not found: try /metrics\n".utf8)) }
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("GET /metrics\n".utf8))
        }
        await refresh()
        return (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
    }
}
