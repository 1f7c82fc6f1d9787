import CloudstorSupport
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The Docker volume plugin endpoint: HTTP/1.1 on a unix socket, keep-alive
/// honoured, requests answered in order (NIO's pipelining handler). The
/// connections run on one event loop, the one the daemon client's connection
/// uses, and each call's task prefers it: a call to the shim and its RPC need no
/// thread hop. The socket is taken when the service starts, inside its
/// ServiceGroup, so a SIGTERM at any instant is a graceful shutdown: the listener
/// closes, a request in flight is still answered, then its connection ends, so an
/// idle keep-alive connection of the engine cannot hold the shim open.
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
        let connections = try await loop.submit { [loop] in NIOLoopBound(ConnectionSet(), eventLoop: loop) }.get()
        let handler = handler, logger = logger
        let executor = EventLoopExecutor(loop)
        // From here NIO owns the descriptor and closes it with the channel.
        let server = try await ServerBootstrap(group: loop)
            // A client that sends its request and shuts down its side still gets the answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(PluginConnection(handler: handler, executor: executor, logger: logger))
                    connections.value.add(channel)
                }
            }
            .withBoundSocket(listener.handOff())
            .get()
        logger.info("serving Docker", metadata: ["socket": "\(listener.path)"])
        let stopped = loop.makePromise(of: Void.self)
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await stopped.futureResult.get()
            } onCancel: { [loop] in
                loop.execute {
                    server.close(promise: nil)
                    connections.value.closeAll()
                }
            }
        } onGracefulShutdown: { [loop] in
            loop.execute { connections.value.stop(listener: server, stopped: stopped) }
        }
    }
}

/// One connection of the engine: each request, once whole, becomes one task that
/// calls the handler; its answer is written as one head, body and end.
final class PluginConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: PluginHandler
    private let executor: any TaskExecutor
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    /// A request is being answered.
    private var answering = false
    /// The client has shut its side: the connection ends once nothing is being answered.
    private var inputClosed = false

    init(handler: PluginHandler, executor: any TaskExecutor, logger: Logger) {
        self.handler = handler
        self.executor = executor
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.clear()
            tooLarge = false
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > PluginServer.maxBodySize {
                tooLarge = true
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let request = head else { return }
            head = nil
            answering = true
            answer(request, body: body, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            if !answering { context.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A request that is not HTTP was answered 400 by NIO's error handler: the
    /// connection ends there.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection closed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func answer(_ request: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let connection = NIOLoopBound((self, context), eventLoop: loop)
        if tooLarge {
            return write(.error("request body larger than \(PluginServer.maxBodySize) bytes", status: 413), for: request, context: context)
        }
        guard request.method == .POST else {
            return write(.error("plugin calls are POST requests, not \(request.method)", status: 405), for: request, context: context)
        }
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let handler = handler, logger = logger
        logger.debug("call", metadata: ["call": "\(path)", "bytes": "\(body.readableBytes)"])
        Task(executorPreference: executor) {
            let started = ContinuousClock.now
            let response = await handler.handle(path: path, body: Array(body.readableBytesView))
            logger.debug(
                "answered",
                metadata: ["call": "\(path)", "status": "\(response.status)", "ms": "\((ContinuousClock.now - started).milliseconds)"])
            loop.executeInline {
                let (connection, context) = connection.value
                guard context.channel.isActive else { return }
                connection.write(response, for: request, context: context)
            }
        }
    }

    private func write(_ response: PluginResponse, for request: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: PluginResponse.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        answering = false
        let keepAlive = request.isKeepAlive && response.status != 413 && !inputClosed
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
