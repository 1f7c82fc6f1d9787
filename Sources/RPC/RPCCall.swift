import NIOCore
import NIOHTTP2

/// One call on a connection, on the server: where it stands (`State`), the request
/// bytes still arriving, and the task that answers it. Lives on the connection's
/// event loop only. Each change of state is one of the named transitions below;
/// a call whose server side has closed is no longer in the connection's table.
final class RPCCall {
    /// The client's side of the stream, then the server's, as gRPC's HTTP/2
    /// transports name them. The server side is idle until the response headers
    /// go out, open after; it closes with the trailers.
    enum State: Equatable {
        case clientOpenServerIdle
        case clientOpenServerOpen
        case clientClosedServerIdle
        case clientClosedServerOpen

        var clientClosed: Bool { self == .clientClosedServerIdle || self == .clientClosedServerOpen }
        var serverOpen: Bool { self == .clientOpenServerOpen || self == .clientClosedServerOpen }
    }

    /// Where whole request messages go.
    private enum Requests {
        /// A unary call keeps its one message until the client ends its side.
        case unary(ByteBuffer?)
        /// A streaming call's handler reads them as they come; nil before it starts
        /// and once it stopped reading.
        case streaming(AsyncThrowingStream<ByteBuffer, any Error>.Continuation?)
    }

    let stream: HTTP2StreamID
    let handler: RPCHandler
    /// How the client's messages are compressed (`grpc-encoding`).
    let encoding: RPCCompression
    private(set) var state = State.clientOpenServerIdle
    /// Bytes of a message not yet whole.
    private var pending: ByteBuffer?
    private var requests: Requests
    /// The handler, once started.
    var task: Task<Void, Never>?
    var deadline: Scheduled<Void>?

    init(stream: HTTP2StreamID, handler: RPCHandler, encoding: RPCCompression = .identity) {
        self.stream = stream
        self.handler = handler
        self.encoding = encoding
        if case .streaming = handler { requests = .streaming(nil) } else { requests = .unary(nil) }
    }

    var isStreaming: Bool {
        if case .streaming = handler { return true }
        return false
    }

    // MARK: - transitions

    /// DATA from the client: its whole messages go to the handler (streaming) or are
    /// kept (unary). Throws for a message over `limit` bytes, compressed or not, one
    /// compressed without an agreed encoding or not validly, or a second message of
    /// a unary call.
    func receive(_ data: ByteBuffer, limit: Int) throws(RPCError) {
        guard !state.clientClosed else { throw RPCError(.internalError, "data after the request ended") }  // NIOHTTP2 refuses it first
        if pending == nil {
            pending = data
        } else {
            var data = data
            pending!.writeBuffer(&data)
        }
        while let framed = try pending!.readGRPCMessage(limit: limit) {
            let message = framed.compressed ? try encoding.decompress(framed.bytes, limit: limit) : framed.bytes
            switch requests {
            case .unary(nil):
                requests = .unary(message)
            case .unary:
                throw RPCError(.internalError, "a unary call carries one request message, this one more")
            case .streaming(let continuation):
                continuation?.yield(message)  // nil: the handler stopped reading
            }
        }
        if pending!.readableBytes == 0 { pending = nil }
    }

    /// The client has sent all it will (END_STREAM). Returns a unary call's request,
    /// which starts its handler; nil for a streaming call, whose handler sees its
    /// requests end. Throws if the request ended inside a message, or a unary call
    /// carried none.
    func clientCloses() throws(RPCError) -> ByteBuffer? {
        state = state.serverOpen ? .clientClosedServerOpen : .clientClosedServerIdle
        guard pending == nil else { throw RPCError(.internalError, "the request ended inside a message") }
        switch requests {
        case .unary(let request?):
            requests = .unary(nil)
            return request
        case .unary(nil):
            throw RPCError(.internalError, "the request carried no message")
        case .streaming(let continuation):
            continuation?.finish()
            requests = .streaming(nil)
            return nil
        }
    }

    /// A call answered before it began (trailers only), whose client may have ended
    /// its side with its headers.
    func refused(clientClosed: Bool) {
        state = clientClosed ? .clientClosedServerIdle : .clientOpenServerIdle
    }

    /// A streaming call's handler starts: the requests it will read.
    func startStreaming() -> AsyncThrowingStream<ByteBuffer, any Error> {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        requests = .streaming(continuation)
        return stream
    }

    /// The server's side opens: true if the response headers are to go out now.
    func serverOpens() -> Bool {
        switch state {
        case .clientOpenServerIdle:
            state = .clientOpenServerOpen
            return true
        case .clientClosedServerIdle:
            state = .clientClosedServerOpen
            return true
        case .clientOpenServerOpen, .clientClosedServerOpen:
            return false
        }
    }

    /// Stops whatever still runs for the call; its answer, if any comes, is dropped.
    func cancel() {
        task?.cancel()
        if case .streaming(let continuation?) = requests {
            continuation.finish(throwing: CancellationError())
            requests = .streaming(nil)
        }
        deadline?.cancel()
        deadline = nil
    }
}
