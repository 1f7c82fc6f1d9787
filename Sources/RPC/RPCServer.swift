import CloudstorSupport
import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import Synchronization

/// A gRPC server over HTTP/2 without TLS, on a listening socket it is given (a
/// unix socket: see UnixListener), serving every connection on one event loop.
///
/// It owns the descriptor from `init`: `run()` serves on it, or closes it if a stop
/// came first. A stop may come at any instant: before `run()` (nothing is served),
/// while it binds (it stops once bound), or while it serves (the listener closes,
/// each connection gets GOAWAY, calls in flight finish, streams are told to end).
/// `run()` returns once every connection has closed, or at once, closing them,
/// when its task is cancelled.
public final class RPCServer: Sendable {
    private enum State {
        case idle
        case binding
        case stopWhenBound
        case serving(any Channel, NIOLoopBound<ConnectionSet>, EventLoopPromise<Void>)
        case stopped
    }

    private let descriptor: Int32
    private let loop: any EventLoop
    private let router: RPCRouter
    private let logger: Logger
    private let state = Mutex(State.idle)

    public init(listeningDescriptor: Int32, loop: any EventLoop, router: RPCRouter, logger: Logger) {
        descriptor = listeningDescriptor
        self.loop = loop
        self.router = router
        self.logger = logger
    }

    /// Serves until a graceful stop has finished; `listening` is called once bound.
    public func run(listening: () -> Void = {}) async throws {
        let proceed = state.withLock { state in
            guard case .idle = state else { return false }
            state = .binding
            return true
        }
        guard proceed else {
            close(descriptor)
            return
        }
        let connections = try await loop.submit { NIOLoopBound(ConnectionSet(), eventLoop: self.loop) }.get()
        let router = router
        let executor = EventLoopExecutor(loop)
        let listener = try await ServerBootstrap(group: loop)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOHTTP2Handler(mode: .server, connectionConfiguration: Self.connection, streamConfiguration: Self.streams))
                    try sync.addHandler(StreamClosedFilter())
                    try sync.addHandler(
                        NIOHTTP2ServerConnectionManagementHandler(
                            eventLoop: channel.eventLoop,
                            configuration: .init(maxIdleTime: nil, maxAge: nil, maxGraceTime: nil, keepalive: nil)))
                    try sync.addHandler(RPCConnection(router: router, executor: executor))
                    connections.value.add(channel)
                }
            }
            .withBoundSocket(descriptor)
            .get()
        let stopped = loop.makePromise(of: Void.self)
        let stopNow = state.withLock { state in
            switch state {
            case .stopWhenBound:
                state = .stopped
                return true
            default:
                state = .serving(listener, connections, stopped)
                return false
            }
        }
        listening()
        if stopNow { stop(listener, connections, stopped) }
        try await withTaskCancellationHandler {
            try await stopped.futureResult.get()
        } onCancel: {
            loop.execute {
                listener.close(promise: nil)
                connections.value.closeAll()
            }
        }
    }

    /// HTTP/2 as gRPC servers set it. NIO's defaults suit a web server facing the
    /// internet, and a gRPC client meets them in ordinary use: at most 100 calls at
    /// once (100 open Watches starve every other call on their connection), a 16 KiB
    /// header list that closes the whole connection, and the connection closed after
    /// 200 cancelled calls in 30 s. Here the limits stay, as guards against abuse,
    /// at levels a real client does not reach.
    static let connection: NIOHTTP2Handler.ConnectionConfiguration = {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            // grpc-swift's server default; the C core and grpc-go set no limit.
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 4096),
            // Over this the connection fails; over RPCConnection.metadataLimit, the call.
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 20),
        ]
        connection.maximumConnectionGlitches = 10_000
        connection.maximumRecentlyResetStreams = 1024
        return connection
    }()

    static let streams: NIOHTTP2Handler.StreamConfiguration = {
        var streams = NIOHTTP2Handler.StreamConfiguration()
        // A sustained 1,000 cancelled calls a second; HTTP/2 Rapid Reset sent millions.
        streams.streamResetFrameRateLimit.maximumCount = 10_000
        streams.streamResetFrameRateLimit.windowLength = .seconds(10)
        streams.streamErrorRateLimit.maximumCount = 10_000
        streams.streamErrorRateLimit.windowLength = .seconds(10)
        return streams
    }()

    /// Stops accepting connections and ends the open ones once their calls are done.
    public func beginGracefulShutdown() {
        let serving: (any Channel, NIOLoopBound<ConnectionSet>, EventLoopPromise<Void>)? = state.withLock { state in
            switch state {
            case .idle:
                state = .stopped
                return nil
            case .binding:
                state = .stopWhenBound
                return nil
            case .serving(let listener, let connections, let stopped):
                state = .stopped
                return (listener, connections, stopped)
            case .stopWhenBound, .stopped:
                return nil
            }
        }
        if let (listener, connections, stopped) = serving {
            logger.debug("stopping: no new connections, calls in flight finish")
            stop(listener, connections, stopped)
        }
    }

    private func stop(_ listener: any Channel, _ connections: NIOLoopBound<ConnectionSet>, _ stopped: EventLoopPromise<Void>) {
        loop.execute { connections.value.stop(listener: listener, stopped: stopped) }
    }
}
