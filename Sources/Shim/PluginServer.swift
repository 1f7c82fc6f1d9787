import CloudstorSupport
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The Docker volume plugin endpoint: HTTP/1.1 on a unix socket, one task per
/// connection, keep-alive honoured. Bodies over `maxBodySize` are refused. The
/// connections and their tasks run on one event loop, the one the daemon client's
/// connection uses: a call to the shim and its RPC need no thread hop. The
/// socket is taken when the service starts, inside its ServiceGroup, so a SIGTERM
/// at any instant is a graceful shutdown.
public struct PluginServer: Service {
    public static let maxBodySize = 1 << 20

    let socketPath: String
    let handler: PluginHandler
    let loop: any EventLoop
    let logger: Logger

    public init(socketPath: String, handler: PluginHandler, loop: any EventLoop, logger: Logger) {
        self.socketPath = socketPath
        self.handler = handler
        self.loop = loop
        self.logger = logger
    }

    public func run() async throws {
        let listener = try UnixListener(path: socketPath, mode: 0o660)
        defer { listener.close() }
        // From here NIO owns the descriptor and closes it with the channel.
        let descriptor = listener.handOff()
        let server = try await ServerBootstrap(group: loop)
            // A client that sends its request and shuts down its side still gets the answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(NIOBSDSocket.Handle(descriptor)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    // A connection accepted while the server stops is dropped by the
                    // ending accept sequence unserved; only a channel that closes on
                    // deinit survives that (the other kind traps). Served ones are
                    // closed explicitly by executeThenClose all the same.
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(synchronouslyWrapping: channel)
                }
            }
        logger.info("serving Docker", metadata: ["socket": "\(listener.path)"])
        try await withGracefulShutdownHandler {
            try await withTaskExecutorPreference(EventLoopExecutor(loop)) {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await serve(connection) }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    /// Serves one connection until the peer closes it or the server shuts down. On
    /// shutdown the read side is closed: a request in flight is still answered,
    /// then the connection ends, so an idle keep-alive connection of the engine
    /// cannot hold the shim open.
    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        do {
            try await withGracefulShutdownHandler {
                try await exchange(connection)
            } onGracefulShutdown: {
                channel.close(mode: .input, promise: nil)
            }
        } catch {
            logger.debug("connection closed", metadata: ["error": "\(error)"])
        }
    }

    private func exchange(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                    tooLarge = false
                case .body(var chunk):
                    if body.readableBytes + chunk.readableBytes > Self.maxBodySize {
                        tooLarge = true
                    } else {
                        body.writeBuffer(&chunk)
                    }
                case .end:
                    guard let request = head else { continue }
                    let response = await respond(to: request, body: body, tooLarge: tooLarge)
                    try await write(response, for: request, to: outbound)
                    if !request.isKeepAlive || tooLarge { return }
                    head = nil
                }
            }
        }
    }

    private func respond(to request: HTTPRequestHead, body: ByteBuffer, tooLarge: Bool) async -> PluginResponse {
        guard !tooLarge else {
            return .error("request body larger than \(Self.maxBodySize) bytes", status: 413)
        }
        guard request.method == .POST else {
            return .error("plugin calls are POST requests, not \(request.method)", status: 405)
        }
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
        logger.debug("call", metadata: ["call": "\(path)", "bytes": "\(body.readableBytes)"])
        let started = ContinuousClock.now
        let response = await handler.handle(path: path, body: Array(body.readableBytesView))
        logger.debug("answered", metadata: ["call": "\(path)", "status": "\(response.status)", "ms": "\((ContinuousClock.now - started).milliseconds)"])
        return response
    }

    private func write(_ response: PluginResponse, for request: HTTPRequestHead, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>)
        async throws
    {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: PluginResponse.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        let keepAlive = request.isKeepAlive && response.status != 413
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        // One write of the three parts: one pass through the async writer, one flush.
        try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: response.body))), .end(nil)])
    }
}
