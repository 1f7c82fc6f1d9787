import NIOCore
import NIOHPACK
import NIOHTTP2
import Synchronization

/// The client side of one HTTP/2 connection, frame by frame: each unary call is a
/// stream that sends HEADERS and one DATA frame and completes a promise with the
/// reply's message or its status. Lives on the connection's event loop.
final class RPCClientConnection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private final class Call {
        let promise: EventLoopPromise<ByteBuffer>
        var data: ByteBuffer?
        var headersSeen = false
        var deadline: Scheduled<Void>?

        init(promise: EventLoopPromise<ByteBuffer>) {
            self.promise = promise
        }
    }

    /// Whether the connection takes calls; cleared at GOAWAY or close, and read by
    /// the client from any thread to decide whether to connect anew.
    final class Open: Sendable {
        let value = Atomic(true)
    }

    /// The largest reply taken: a List of 50,000 volumes fits; a server that sends
    /// more is not ours, or not well.
    static let replyLimit = 16 << 20

    private let open: Open
    private var calls: [HTTP2StreamID: Call] = [:]
    private var nextStream = HTTP2StreamID(1)
    private var context: ChannelHandlerContext?

    init(open: Open) {
        self.open = open
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelInactive(context: ChannelHandlerContext) {
        open.value.store(false, ordering: .relaxed)
        failAll(RPCError(.unavailable, "the connection to the server closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        open.value.store(false, ordering: .relaxed)
        context.close(promise: nil)
    }

    /// Starts a call; `promise` gets the reply's message or fails with an RPCError.
    func start(path: String, message: ByteBuffer, timeout: TimeAmount?, promise: EventLoopPromise<ByteBuffer>) {
        guard let context, open.value.load(ordering: .relaxed) else {
            return promise.fail(RPCError(.unavailable, "the connection to the server is closing"))
        }
        let stream = nextStream
        nextStream = HTTP2StreamID(Int(stream) + 2)
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "localhost", "content-type": "application/grpc", "te": "trailers",
        ]
        let call = Call(promise: promise)
        if let timeout {
            headers.add(name: "grpc-timeout", value: "\(max(1, timeout.nanoseconds / 1_000_000))m")
            let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
            call.deadline = context.eventLoop.scheduleTask(in: timeout) {
                connection.value.cancel(stream, RPCError(.deadlineExceeded, "no answer within \(timeout.nanoseconds / 1_000_000) ms"))
            }
        }
        calls[stream] = call
        let framed = ByteBuffer.grpcMessage(message, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: headers)))), promise: nil)
        context.writeAndFlush(
            wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(framed), endStream: true)))), promise: nil)
    }

    func close() {
        open.value.store(false, ordering: .relaxed)
        context?.close(promise: nil)
    }

    /// Abandons the call whose promise this is (its task was cancelled).
    func cancel(_ promise: EventLoopPromise<ByteBuffer>) {
        guard let stream = calls.first(where: { $0.value.promise.futureResult === promise.futureResult })?.key else { return }
        cancel(stream, RPCError(.cancelled, "the call was cancelled"))
    }

    private func cancel(_ stream: HTTP2StreamID, _ status: RPCError) {
        guard let call = calls.removeValue(forKey: stream) else { return }
        call.deadline?.cancel()
        context?.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .rstStream(.cancel))), promise: nil)
        call.promise.fail(status)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            guard let call = calls[frame.streamID] else { return }
            let fields = headers.headers
            if !call.headersSeen {
                call.headersSeen = true
                if let status = fields.first(name: ":status"), status != "200" {
                    return finish(frame.streamID, .failure(RPCError(.unavailable, "the server answered HTTP \(status)")))
                }
            }
            if headers.endStream || fields.contains(name: "grpc-status") {
                finish(frame.streamID, trailers: fields)
            }
        case .data(let payload):
            guard let call = calls[frame.streamID], case .byteBuffer(var bytes) = payload.data else { return }
            if call.data == nil { call.data = bytes } else { call.data!.writeBuffer(&bytes) }
            if call.data!.readableBytes > 5 + Self.replyLimit {
                cancel(frame.streamID, RPCError(.resourceExhausted, "the reply is over the limit of \(Self.replyLimit) bytes"))
            }
        case .goAway:
            open.value.store(false, ordering: .relaxed)
        default:
            break
        }
    }

    /// Events are told by their type first (see StreamClosedFilter).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let kind = type(of: event)
        if kind == StreamClosedEvent.self {
            // Reset, or refused by a server going away, before its trailers came.
            let closed = event as! StreamClosedEvent
            let status = closed.reason == .cancel ? RPCError(.cancelled, "the server cancelled the call")
                : RPCError(.unavailable, "the server reset the call (\(closed.reason.map { "\($0)" } ?? "no reason"))")
            finish(closed.streamID, .failure(status))
        } else if kind == NIOHTTP2WindowUpdatedEvent.self {
            // For the connection, and for each call still waiting for its reply.
            let window = event as! NIOHTTP2WindowUpdatedEvent
            if window.streamID == .rootStream || calls[window.streamID] != nil, let update = window.windowUpdate {
                context.writeAndFlush(wrapOutboundOut(update), promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func finish(_ stream: HTTP2StreamID, trailers: HPACKHeaders) {
        if let error = RPCError(status: trailers.first(name: "grpc-status"), encodedMessage: trailers.first(name: "grpc-message")) {
            return finish(stream, .failure(error))
        }
        guard var data = calls[stream]?.data, let message = try? data.readGRPCMessage(limit: Self.replyLimit), !message.compressed,
            data.readableBytes == 0
        else {
            return finish(stream, .failure(RPCError(.internalError, "the reply did not hold exactly one uncompressed message")))
        }
        finish(stream, .success(message.bytes))
    }

    private func finish(_ stream: HTTP2StreamID, _ result: Result<ByteBuffer, RPCError>) {
        guard let call = calls.removeValue(forKey: stream) else { return }
        call.deadline?.cancel()
        call.promise.completeWith(result.mapError { $0 as any Error })
    }

    private func failAll(_ status: RPCError) {
        let all = calls
        calls.removeAll()
        for call in all.values {
            call.deadline?.cancel()
            call.promise.fail(status)
        }
    }
}
