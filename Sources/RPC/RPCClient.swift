import CloudstorSupport
import NIOCore
import NIOHTTP2
import NIOPosix
import SwiftProtobuf
import Synchronization

/// A gRPC client for unary calls to a server on a unix socket: one HTTP/2
/// connection on one event loop, made on the first call and made anew by the call
/// after it closed or went away (a daemon restart), so there is nothing to run
/// beside it. A call's deadline is one timer on the loop; a cancelled task resets
/// its stream, so the server's handler is cancelled too.
public final class RPCClient: Sendable {
    public let socketPath: String
    private let loop: any EventLoop
    private let connection = Mutex<Link?>(nil)

    /// One connection: being made, or made. `open` is cleared by its handler once it
    /// takes no more calls.
    private final class Link: Sendable {
        let handler: EventLoopFuture<NIOLoopBound<RPCClientConnection>>
        let open: RPCClientConnection.Open

        init(handler: EventLoopFuture<NIOLoopBound<RPCClientConnection>>, open: RPCClientConnection.Open) {
            self.handler = handler
            self.open = open
        }
    }

    public init(socketPath: String, loop: any EventLoop) {
        self.socketPath = socketPath
        self.loop = loop
    }

    /// Calls a unary method with a protobuf request; returns the decoded reply.
    public func unary<Request: Message, Response: Message>(
        _ method: RPCMethod<Request, Response>, _ request: Request, timeout: Duration? = nil
    ) async throws(RPCError) -> Response {
        let reply = try await unary(path: method.path, message: try request.encoded(), timeout: timeout)
        do {
            return try Response(serializedBytes: Array(reply.readableBytesView))
        } catch {
            throw RPCError(.internalError, "the reply is not a valid \(Response.protoMessageName)")
        }
    }

    /// Calls `path` with a serialized request; returns the serialized reply.
    public func unary(path: String, message: ByteBuffer, timeout: Duration? = nil) async throws(RPCError) -> ByteBuffer {
        let connection = try await connected()
        let promise = loop.makePromise(of: ByteBuffer.self)
        loop.executeInline { connection.value.start(path: path, message: message, timeout: timeout.map(TimeAmount.init), promise: promise) }
        do {
            return try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: { [loop] in
                loop.execute { connection.value.cancel(promise) }
            }
        } catch {
            throw error as? RPCError ?? RPCError(.unknown, "\(error)")
        }
    }

    /// Closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        guard let link = connection.withLock({ $0.take() }), let handler = try? await link.handler.get() else { return }
        try? await loop.submit { handler.value.close() }.get()
    }

    private func connected() async throws(RPCError) -> NIOLoopBound<RPCClientConnection> {
        let link = connection.withLock { current -> Link in
            if let current, current.open.value.load(ordering: .relaxed) { return current }
            let open = RPCClientConnection.Open()
            let handler = ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .client))
                        try channel.pipeline.syncOperations.addHandler(RPCClientConnection(open: open))
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .flatMapThrowing { channel in
                    NIOLoopBound(try channel.pipeline.syncOperations.handler(type: RPCClientConnection.self), eventLoop: channel.eventLoop)
                }
            let made = Link(handler: handler, open: open)
            current = made
            return made
        }
        do {
            return try await link.handler.get()
        } catch {
            connection.withLock { current in if current === link { current = nil } }
            throw RPCError(.unavailable, "cannot connect to \(socketPath): \(error)")
        }
    }
}
