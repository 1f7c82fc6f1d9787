import CloudstorSupport
import CompressNIO
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import CloudstorRPC

/// The server's handler frame by frame, as swift-nio tests its own: HTTP/2 frames
/// in, HTTP/2 frames out, on a testing channel whose clock the test moves.
@Suite struct RPCConnectionTests {
    static let echo = "/test.Echo/Echo"
    static let forever = "/test.Echo/Forever"

    /// A connection serving Echo (unary: the request back) and Forever (streaming:
    /// one message, then waits until cancelled).
    func connection() async throws -> (NIOAsyncTestingChannel, NIOAsyncTestingEventLoop) {
        var router = RPCRouter()
        router.methods[Self.echo] = .unary { $0 }
        router.methods[Self.forever] = .streaming { _, sink in
            try await sink.send(ByteBuffer(string: "first"))
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
        let loop = NIOAsyncTestingEventLoop()
        let channel = NIOAsyncTestingChannel(loop: loop)
        try await channel.pipeline.addHandler(RPCConnection(router: router, executor: EventLoopExecutor(loop)))
        return (channel, loop)
    }

    func headers(_ path: String, extra: [(String, String)] = [], end: Bool = false) -> HTTP2Frame.FramePayload {
        var fields: HPACKHeaders = [":method": "POST", ":scheme": "http", ":path": path, "content-type": "application/grpc"]
        for (name, value) in extra { fields.add(name: name, value: value) }
        return .headers(.init(headers: fields, endStream: end))
    }

    func data(_ bytes: [UInt8], compressed: Bool = false, end: Bool = true) -> HTTP2Frame.FramePayload {
        var framed = ByteBuffer()
        framed.writeInteger(UInt8(compressed ? 1 : 0))
        framed.writeInteger(UInt32(bytes.count))
        framed.writeBytes(bytes)
        return .data(.init(data: .byteBuffer(framed), endStream: end))
    }

    /// The next frame written, waiting for the handler's task if need be.
    func written(_ channel: NIOAsyncTestingChannel) async throws -> HTTP2Frame {
        try await channel.waitForOutboundWrite(as: HTTP2Frame.self)
    }

    func fields(_ frame: HTTP2Frame) -> (HPACKHeaders, Bool)? {
        guard case .headers(let headers) = frame.payload else { return nil }
        return (headers.headers, headers.endStream)
    }

    @Test func aUnaryCallIsAnsweredWithHeadersMessageAndTrailers() async throws {
        let (channel, _) = try await connection()
        let stream = HTTP2StreamID(1)
        try await channel.writeInbound(HTTP2Frame(streamID: stream, payload: headers(Self.echo)))
        try await channel.writeInbound(HTTP2Frame(streamID: stream, payload: data([1, 2, 3])))
        let (head, headEnds) = try #require(fields(try await written(channel)))
        #expect(head.first(name: ":status") == "200" && !headEnds)
        #expect(head.first(name: "grpc-accept-encoding") == "identity, deflate, gzip")
        guard case .data(let body) = try await written(channel).payload, case .byteBuffer(let bytes) = body.data else {
            Issue.record("no DATA frame")
            return
        }
        #expect(Array(bytes.readableBytesView) == [0, 0, 0, 0, 3, 1, 2, 3])
        let (trailers, ends) = try #require(fields(try await written(channel)))
        #expect(trailers.first(name: "grpc-status") == "0" && ends)
    }

    @Test func anUnknownMethodGetsTrailersOnlyAndTheRestOfItsRequestIsRefused() async throws {
        let (channel, _) = try await connection()
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: headers("/no.Such/Method")))
        let (trailers, ends) = try #require(fields(try await written(channel)))
        #expect(trailers.first(name: ":status") == "200" && ends)
        #expect(trailers.first(name: "grpc-status") == "12")
        #expect(trailers.first(name: "grpc-message") == "no method /no.Such/Method")
        // The client had not finished sending: it is asked to stop (RFC 9113, 8.1).
        guard case .rstStream(.noError) = try await written(channel).payload else {
            Issue.record("no RST_STREAM(NO_ERROR) after an early answer")
            return
        }
    }

    @Test func metadataOverTheLimitFailsOnlyThatCall() async throws {
        let (channel, _) = try await connection()
        let big = String(repeating: "a", count: RPCConnection.metadataLimit)
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: headers(Self.echo, extra: [("x-big", big)], end: true)))
        let (trailers, _) = try #require(fields(try await written(channel)))
        #expect(trailers.first(name: "grpc-status") == "8")
        try await channel.writeInbound(HTTP2Frame(streamID: 3, payload: headers(Self.echo)))
        try await channel.writeInbound(HTTP2Frame(streamID: 3, payload: data([7])))
        #expect(fields(try await written(channel))?.0.first(name: ":status") == "200")
    }

    @Test func aGzipRequestIsReadDecompressed() async throws {
        let (channel, _) = try await connection()
        var plain = ByteBuffer(bytes: [9, 8, 7, 6])
        let gzipped = try plain.compress(with: .gzip())
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: headers(Self.echo, extra: [("grpc-encoding", "gzip")])))
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: data(Array(gzipped.readableBytesView), compressed: true)))
        _ = try await written(channel)  // headers
        guard case .data(let body) = try await written(channel).payload, case .byteBuffer(let bytes) = body.data else {
            Issue.record("no DATA frame")
            return
        }
        #expect(Array(bytes.readableBytesView) == [0, 0, 0, 0, 4, 9, 8, 7, 6])  // answered uncompressed
    }

    @Test func aDeadlineEndsAStreamThatWouldRunForever() async throws {
        let (channel, loop) = try await connection()
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: headers(Self.forever, extra: [("grpc-timeout", "50m")])))
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: data([], end: false)))
        _ = try await written(channel)  // headers
        _ = try await written(channel)  // "first"
        await loop.advanceTime(by: .milliseconds(50))
        let (trailers, ends) = try #require(fields(try await written(channel)))
        #expect(trailers.first(name: "grpc-status") == "4" && ends)
    }

    @Test func aResetStreamIsForgottenAndItsHandlerCancelled() async throws {
        let (channel, _) = try await connection()
        try await channel.writeInbound(HTTP2Frame(streamID: 1, payload: headers(Self.forever)))
        _ = try await written(channel)  // headers
        _ = try await written(channel)  // "first"
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 1, reason: .cancel))
        // Its handler ends (cancelled), and nothing more is written for it.
        try await channel.writeInbound(HTTP2Frame(streamID: 3, payload: headers(Self.echo)))
        try await channel.writeInbound(HTTP2Frame(streamID: 3, payload: data([5])))
        let next = try await written(channel)
        #expect(next.streamID == 3)
    }
}
