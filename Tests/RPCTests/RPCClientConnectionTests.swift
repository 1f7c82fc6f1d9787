import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CloudstorRPC

/// The client's handler frame by frame: what a call writes, and how each way a
/// server can answer completes it.
@Suite struct RPCClientConnectionTests {
    func started(_ channel: EmbeddedChannel) throws -> (RPCClientConnection, EventLoopFuture<ByteBuffer>) {
        let handler = try channel.pipeline.syncOperations.handler(type: RPCClientConnection.self)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        handler.start(path: "/test.Echo/Echo", message: ByteBuffer(bytes: [1]), timeout: nil, promise: promise)
        return (handler, promise.futureResult)
    }

    func channel() throws -> EmbeddedChannel {
        EmbeddedChannel(handler: RPCClientConnection(open: .init()))
    }

    func reply(_ channel: EmbeddedChannel, _ payloads: [HTTP2Frame.FramePayload]) throws {
        for payload in payloads { try channel.writeInbound(HTTP2Frame(streamID: 1, payload: payload)) }
    }

    func framed(_ bytes: [UInt8]) -> HTTP2Frame.FramePayload {
        .data(.init(data: .byteBuffer(ByteBuffer.grpcMessage(ByteBuffer(bytes: bytes), allocator: .init()))))
    }

    @Test func aCallWritesHeadersAndOneMessageThenTakesTheReply() throws {
        let channel = try channel()
        let (_, reply) = try started(channel)
        guard case .headers(let headers) = try #require(try channel.readOutbound(as: HTTP2Frame.self)).payload else {
            Issue.record("no HEADERS")
            return
        }
        #expect(headers.headers.first(name: ":path") == "/test.Echo/Echo")
        guard case .data(let data) = try #require(try channel.readOutbound(as: HTTP2Frame.self)).payload else {
            Issue.record("no DATA")
            return
        }
        #expect(data.endStream)
        try self.reply(channel, [.headers(.init(headers: [":status": "200"])), framed([4, 2]), .headers(.init(headers: ["grpc-status": "0"], endStream: true))])
        #expect(Array(try reply.wait().readableBytesView) == [4, 2])
    }

    @Test func aFailureInTrailersIsTheCallsError() throws {
        let channel = try channel()
        let (_, reply) = try started(channel)
        try self.reply(channel, [.headers(.init(headers: [":status": "200", "grpc-status": "5", "grpc-message": "no%20such"], endStream: true))])
        #expect(throws: RPCError(.notFound, "no such")) { try reply.wait() }
    }

    @Test func aReplyOverTheLimitIsRefusedAsItArrives() throws {
        let channel = try channel()
        let (_, reply) = try started(channel)
        _ = try channel.readOutbound(as: HTTP2Frame.self)
        _ = try channel.readOutbound(as: HTTP2Frame.self)
        let chunk = ByteBuffer(repeating: 0, count: 1 << 20)
        try self.reply(channel, [.headers(.init(headers: [":status": "200"]))])
        for _ in 0...(RPCClientConnection.replyLimit >> 20) {
            try self.reply(channel, [.data(.init(data: .byteBuffer(chunk)))])
        }
        #expect(throws: RPCError(.resourceExhausted, "the reply is over the limit of \(RPCClientConnection.replyLimit) bytes")) { try reply.wait() }
        guard case .rstStream(.cancel) = try #require(try channel.readOutbound(as: HTTP2Frame.self)).payload else {
            Issue.record("the stream was not reset")
            return
        }
    }

    @Test func anHTTPErrorIsUnavailable() throws {
        let channel = try channel()
        let (_, reply) = try started(channel)
        try self.reply(channel, [.headers(.init(headers: [":status": "503"], endStream: true))])
        #expect(throws: RPCError(.unavailable, "the server answered HTTP 503")) { try reply.wait() }
    }
}
