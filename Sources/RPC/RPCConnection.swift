import CloudstorSupport
import NIOCore
import NIOHPACK
import NIOHTTP2

/// gRPC on one HTTP/2 connection, frame by frame: NIOHTTP2 keeps the protocol
/// (HPACK, stream states, settings, pings, GOAWAY) and this handler turns each
/// stream into a call. A call's handler runs as a task that prefers the
/// connection's event loop, so a read that needs no other thread answers without
/// leaving it; no channel, async sequence or writer is made per call.
final class RPCConnection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// The largest request message taken, as gRPC's default; for a compressed one,
    /// before and after decompression.
    static let messageLimit = 4 << 20
    /// The largest request metadata taken (the header list as HPACK counts it, RFC
    /// 7541, 4.1), as the C core's hard limit: a call over it fails alone with
    /// RESOURCE_EXHAUSTED. The connection's own limit (RPCServer) is far above.
    static let metadataLimit = 16 << 10

    private let methods: [String: RPCHandler]
    private let executor: any TaskExecutor
    private var calls: [HTTP2StreamID: RPCCall] = [:]
    private var context: ChannelHandlerContext?
    private var reading = false
    private var flushPending = false

    init(router: RPCRouter, executor: any TaskExecutor) {
        methods = router.methods
        self.executor = executor
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelAll()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            received(headers, on: frame.streamID)
        case .data(let data):
            received(data, on: frame.streamID)
        default:
            break  // settings, pings, GOAWAY and resets are NIOHTTP2's; a reset closes the stream (below)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Events are told by their type first (see StreamClosedFilter).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let kind = type(of: event)
        if kind == StreamClosedEvent.self {
            // Reset by the client, or both sides ended: whatever still runs is not wanted.
            calls.removeValue(forKey: (event as! StreamClosedEvent).streamID)?.cancel()
        } else if kind == NIOHTTP2WindowUpdatedEvent.self {
            // For the connection, and for each call still receiving.
            let window = event as! NIOHTTP2WindowUpdatedEvent
            if window.streamID == .rootStream || calls[window.streamID]?.state.clientClosed == false, let update = window.windowUpdate {
                write(update)
                flush()
            }
        } else if kind == ChannelShouldQuiesceEvent.self {
            // A graceful stop: unary calls finish; streams that would run forever
            // (a health Watch) are told to end.
            for call in calls.values where call.isStreaming { call.task?.cancel() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// NIOHTTP2 has answered a protocol error already: RST_STREAM for one stream's,
    /// GOAWAY for the connection's. A connection error also closes it here, so a
    /// client that sent garbage does not keep a dead connection open.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !Self.isStreamError(error) { context.close(promise: nil) }
    }

    /// The errors NIOHTTP2 raises for one stream; some of them it may raise for the
    /// connection too, and then it has sent GOAWAY, which a client acts on.
    private static func isStreamError(_ error: any Error) -> Bool {
        switch error {
        case is NIOHTTP2Errors.StreamError, is NIOHTTP2Errors.NoSuchStream, is NIOHTTP2Errors.StreamClosed,
            is NIOHTTP2Errors.BadStreamStateTransition, is NIOHTTP2Errors.CreatedStreamAfterGoaway,
            is NIOHTTP2Errors.InvalidWindowIncrementSize, is NIOHTTP2Errors.TrailersWithoutEndStream,
            is NIOHTTP2Errors.ContentLengthViolated, is NIOHTTP2Errors.ContentLengthHeadersMismatch,
            is NIOHTTP2Errors.ContentLengthHeaderNegative, is NIOHTTP2Errors.ContentLengthHeaderMalformedValue,
            is NIOHTTP2Errors.MissingPseudoHeader, is NIOHTTP2Errors.DuplicatePseudoHeader,
            is NIOHTTP2Errors.PseudoHeaderAfterRegularHeader, is NIOHTTP2Errors.UnknownPseudoHeader,
            is NIOHTTP2Errors.UnsupportedPseudoHeader, is NIOHTTP2Errors.InvalidPseudoHeaders,
            is NIOHTTP2Errors.MissingHostHeader, is NIOHTTP2Errors.DuplicateHostHeader, is NIOHTTP2Errors.EmptyPathHeader,
            is NIOHTTP2Errors.ForbiddenHeaderField, is NIOHTTP2Errors.InvalidPseudoHeaderValue,
            is NIOHTTP2Errors.InvalidHTTP2HeaderFieldName:
            true
        default:
            false
        }
    }

    // MARK: - requests

    private func received(_ frame: HTTP2Frame.FramePayload.Headers, on stream: HTTP2StreamID) {
        if let call = calls[stream] {
            // Trailers from the client: only END_STREAM means anything.
            if frame.endStream { ended(call) }
            return
        }
        let headers = frame.headers
        guard headers.first(name: ":method") == "POST" else {
            return refuse(stream, status: "405", endedRequest: frame.endStream)
        }
        guard let type = headers.first(name: "content-type"), type.hasPrefix("application/grpc") else {
            return refuse(stream, status: "415", endedRequest: frame.endStream)
        }
        let size = headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 32 }
        guard size <= Self.metadataLimit else {
            return answer(
                stream, RPCError(.resourceExhausted, "the call's metadata is \(size) bytes, over the limit of \(Self.metadataLimit)"),
                endedRequest: frame.endStream)
        }
        let encodingName = headers.first(name: "grpc-encoding")
        guard let encoding = RPCCompression(header: encodingName) else {
            return answer(
                stream,
                RPCError(.unimplemented, "compression \(encodingName!.prefix(100)) is not supported; this server takes \(RPCCompression.acceptEncoding)"),
                endedRequest: frame.endStream)
        }
        let path = headers.first(name: ":path") ?? ""
        guard let method = methods[path] else {
            return answer(stream, RPCError(.unimplemented, "no method \(path.prefix(200))"), endedRequest: frame.endStream)
        }
        let call = RPCCall(stream: stream, handler: method, encoding: encoding)
        calls[stream] = call
        if let value = headers.first(name: "grpc-timeout"), let timeout = RPCTimeout.parse(value), let context {
            let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
            call.deadline = context.eventLoop.scheduleTask(in: timeout) {
                connection.value.fail(stream, RPCError(.deadlineExceeded, "the call's deadline (grpc-timeout \(value)) passed"))
            }
        }
        if call.isStreaming { start(call, request: nil) }
        if frame.endStream { ended(call) }
    }

    private func received(_ frame: HTTP2Frame.FramePayload.Data, on stream: HTTP2StreamID) {
        guard case .byteBuffer(let bytes) = frame.data else { return }
        guard let call = calls[stream] else { return }  // answered already; the rest of its request is dropped
        do throws(RPCError) {
            try call.receive(bytes, limit: Self.messageLimit)
        } catch {
            return fail(stream, error)
        }
        if frame.endStream { ended(call) }
    }

    /// The client has sent all it will.
    private func ended(_ call: RPCCall) {
        do throws(RPCError) {
            if let request = try call.clientCloses() { start(call, request: request) }
        } catch {
            fail(call.stream, error)
        }
    }

    /// Starts the handler: a unary call's once its request is whole, a streaming
    /// call's with its headers.
    private func start(_ call: RPCCall, request: ByteBuffer?) {
        guard let context else { return }
        let loop = context.eventLoop
        let connection = NIOLoopBound(self, eventLoop: loop)
        let stream = call.stream
        switch call.handler {
        case .unary(let handler):
            guard let request else { return }
            call.task = Task(executorPreference: executor) {
                let result: Result<ByteBuffer, RPCError>
                do { result = .success(try await handler(request)) } catch { result = .failure(RPCError(of: error)) }
                loop.executeInline { connection.value.complete(stream, result) }
            }
        case .streaming(let handler):
            let requests = call.startStreaming()
            let sink = RPCResponseSink(connection: connection, stream: stream)
            call.task = Task(executorPreference: executor) {
                let result: Result<ByteBuffer, RPCError>?
                do {
                    try await handler(RPCRequestStream(stream: requests), sink)
                    result = nil
                } catch {
                    result = .failure(RPCError(of: error))
                }
                loop.executeInline { connection.value.complete(stream, result) }
            }
        }
    }

    // MARK: - answers

    private static let responseHeaders: HPACKHeaders = [
        ":status": "200", "content-type": "application/grpc", "grpc-accept-encoding": RPCCompression.acceptEncoding,
    ]
    private static let okTrailers: HPACKHeaders = ["grpc-status": "0"]

    /// A handler has finished: its message (a unary call's) and its status.
    fileprivate func complete(_ stream: HTTP2StreamID, _ result: Result<ByteBuffer, RPCError>?) {
        guard let call = calls.removeValue(forKey: stream) else { return }  // reset, expired or gone
        call.deadline?.cancel()
        switch result {
        case .success(let message):
            send(message, on: call)
            finish(call, trailers: Self.okTrailers)
        case .failure(let error):
            finish(call, failing: error)
        case nil:
            finish(call, trailers: Self.okTrailers)
        }
    }

    /// One message of a streaming call, framed; `written` completes once HTTP/2 has
    /// sent it (its flow-control window let it go), or fails if the call is gone.
    fileprivate func send(_ message: ByteBuffer, on stream: HTTP2StreamID, written: EventLoopPromise<Void>) {
        guard let call = calls[stream] else { return written.fail(CancellationError()) }
        send(message, on: call, written: written)
        flush()
    }

    private func send(_ message: ByteBuffer, on call: RPCCall, written: EventLoopPromise<Void>? = nil) {
        if call.serverOpens() {
            write(HTTP2Frame(streamID: call.stream, payload: .headers(.init(headers: Self.responseHeaders))))
        }
        let framed = ByteBuffer.grpcMessage(message, allocator: context!.channel.allocator)
        write(HTTP2Frame(streamID: call.stream, payload: .data(.init(data: .byteBuffer(framed)))), promise: written)
    }

    /// Ends a call that is still open with `error`, stopping whatever runs for it.
    fileprivate func fail(_ stream: HTTP2StreamID, _ error: RPCError) {
        guard let call = calls.removeValue(forKey: stream) else { return }
        call.cancel()
        finish(call, failing: error)
    }

    private func finish(_ call: RPCCall, failing error: RPCError) {
        var trailers: HPACKHeaders = call.state.serverOpen ? [:] : Self.responseHeaders
        trailers.add(name: "grpc-status", value: String(error.code.rawValue))
        if !error.message.isEmpty { trailers.add(name: "grpc-message", value: error.encodedMessage) }
        finish(call, trailers: trailers)
    }

    private func finish(_ call: RPCCall, trailers: HPACKHeaders) {
        write(HTTP2Frame(streamID: call.stream, payload: .headers(.init(headers: trailers, endStream: true))))
        if !call.state.clientClosed {
            // Answered before the client finished sending: ask it to stop (RFC 9113, 8.1).
            write(HTTP2Frame(streamID: call.stream, payload: .rstStream(.noError)))
        }
        flush()
    }

    /// A stream that is no gRPC call: an HTTP status alone.
    private func refuse(_ stream: HTTP2StreamID, status: String, endedRequest: Bool) {
        write(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: [":status": status], endStream: true))))
        if !endedRequest { write(HTTP2Frame(streamID: stream, payload: .rstStream(.noError))) }
        flush()
    }

    /// A call failed before it started (trailers only).
    private func answer(_ stream: HTTP2StreamID, _ error: RPCError, endedRequest: Bool) {
        let call = RPCCall(stream: stream, handler: .unary { $0 })
        call.refused(clientClosed: endedRequest)
        finish(call, failing: error)
    }

    private func write(_ frame: HTTP2Frame, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    private func flush() {
        if reading {
            flushPending = true
        } else {
            context?.flush()
        }
    }

    private func cancelAll() {
        for call in calls.values { call.cancel() }
        calls.removeAll()
    }
}

/// Where a streaming handler's messages go: to its call, on the connection's loop.
public struct RPCResponseSink: Sendable {
    fileprivate let connection: NIOLoopBound<RPCConnection>
    fileprivate let stream: HTTP2StreamID

    /// Returns once HTTP/2 has sent the message: a client that reads slowly slows
    /// the handler down instead of growing the server's buffers (back-pressure).
    /// Throws if the call ended meanwhile (reset, deadline, connection gone).
    func send(_ message: ByteBuffer) async throws {
        let connection = connection, stream = stream
        let written = connection.eventLoop.makePromise(of: Void.self)
        connection.eventLoop.executeInline { connection.value.send(message, on: stream, written: written) }
        try await written.futureResult.get()
    }
}
