import NIOCore
import Testing

@testable import CloudstorRPC

/// A call's state through its named transitions, with no channel.
@Suite struct RPCCallTests {
    func framed(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer.grpcMessage(ByteBuffer(bytes: bytes), allocator: .init())
    }

    @Test func aUnaryCallKeepsItsRequestUntilTheClientCloses() throws {
        let call = RPCCall(stream: 1, handler: .unary { $0 })
        #expect(call.state == .clientOpenServerIdle)
        try call.receive(framed([1, 2]), limit: 100)
        let request = try #require(try call.clientCloses())
        #expect(Array(request.readableBytesView) == [1, 2])
        #expect(call.state == .clientClosedServerIdle)
        #expect(call.serverOpens())
        #expect(!call.serverOpens())  // the headers go out once
        #expect(call.state == .clientClosedServerOpen)
    }

    @Test func aStreamingCallAnswersWhileTheClientStillSends() throws {
        let call = RPCCall(stream: 1, handler: .streaming { _, _ in })
        #expect(call.serverOpens())
        #expect(call.state == .clientOpenServerOpen)
        #expect(try call.clientCloses() == nil)
        #expect(call.state == .clientClosedServerOpen)
    }

    @Test func aStreamingCallsMessagesReachItsHandlerInOrderThenEnd() async throws {
        let call = RPCCall(stream: 1, handler: .streaming { _, _ in })
        let requests = call.startStreaming()
        var both = framed([1])
        var second = framed([2])
        both.writeBuffer(&second)
        try call.receive(both, limit: 100)
        _ = try call.clientCloses()
        var seen: [[UInt8]] = []
        for try await message in requests { seen.append(Array(message.readableBytesView)) }
        #expect(seen == [[1], [2]])
    }

    @Test func aUnaryRequestMustBeExactlyOneWholeMessage() throws {
        let two = RPCCall(stream: 1, handler: .unary { $0 })
        var both = framed([1])
        var second = framed([2])
        both.writeBuffer(&second)
        #expect(throws: RPCError(.internalError, "a unary call carries one request message, this one more")) {
            try two.receive(both, limit: 100)
        }
        let cut = RPCCall(stream: 3, handler: .unary { $0 })
        try cut.receive(framed([1, 2, 3]).getSlice(at: 0, length: 6)!, limit: 100)
        #expect(throws: RPCError(.internalError, "the request ended inside a message")) { try cut.clientCloses() }
        let none = RPCCall(stream: 5, handler: .unary { $0 })
        #expect(throws: RPCError(.internalError, "the request carried no message")) { try none.clientCloses() }
        #expect(throws: RPCError(.internalError, "data after the request ended")) { try none.receive(framed([1]), limit: 100) }
    }

    @Test func aRefusedCallRemembersWhetherTheClientHadEnded() {
        let call = RPCCall(stream: 1, handler: .unary { $0 })
        call.refused(clientClosed: true)
        #expect(call.state.clientClosed && !call.state.serverOpen)
    }
}
