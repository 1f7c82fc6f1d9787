import NIOCore
import NIOHTTP2

/// One call on a connection: its method, the request bytes still arriving, and
/// the task that answers it. Lives on the connection's event loop only.
final class RPCCall {
    let stream: HTTP2StreamID
    let method: RPCHandler
    /// Bytes of a message not yet whole.
    var pending: ByteBuffer?
    /// A unary call's request, once whole.
    var request: ByteBuffer?
    /// A streaming call's requests, as they become whole.
    var requests: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
    /// The client has ended its side (END_STREAM).
    var requestEnded = false
    /// The response headers have been written: what follows is messages, then trailers.
    var headersSent = false
    var task: Task<Void, Never>?
    var deadline: Scheduled<Void>?

    /// How the client's messages are compressed (`grpc-encoding`).
    let encoding: RPCCompression

    init(stream: HTTP2StreamID, method: RPCHandler, encoding: RPCCompression = .identity) {
        self.stream = stream
        self.method = method
        self.encoding = encoding
    }

    var isStreaming: Bool {
        if case .streaming = method { return true }
        return false
    }

    /// Stops whatever still runs for the call; its answer, if any comes, is dropped.
    func cancel() {
        task?.cancel()
        requests?.finish(throwing: CancellationError())
        requests = nil
        deadline?.cancel()
        deadline = nil
    }

    /// Appends DATA to the call and returns the messages it completes.
    /// Throws when a message is over `limit` bytes, compressed or not, or is
    /// compressed without an agreed encoding or not validly.
    func messages(from data: ByteBuffer, limit: Int) throws(RPCError) -> [ByteBuffer] {
        if pending == nil {
            pending = data
        } else {
            var data = data
            pending!.writeBuffer(&data)
        }
        var whole: [ByteBuffer] = []
        while let message = try pending!.readGRPCMessage(limit: limit) {
            whole.append(message.compressed ? try encoding.decompress(message.bytes, limit: limit) : message.bytes)
        }
        if pending!.readableBytes == 0 { pending = nil }
        return whole
    }
}
