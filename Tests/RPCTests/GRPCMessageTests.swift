import NIOCore
import Testing

@testable import CloudstorRPC

/// gRPC's length-prefixed message, as both ends of a call write and read it.
@Suite struct GRPCMessageTests {
    let allocator = ByteBufferAllocator()

    @Test func aMessageReadsBackAsWritten() throws {
        for payload in [[UInt8](), [0x0A, 0x03, 0x61, 0x62, 0x63], [UInt8](repeating: 0xFF, count: 70_000)] {
            var framed = ByteBuffer.grpcMessage(ByteBuffer(bytes: payload), allocator: allocator)
            #expect(Array(framed.readableBytesView.prefix(5)) == [0] + withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init))
            let message = try #require(try framed.readGRPCMessage(limit: 1 << 20))
            #expect(!message.compressed)
            #expect(Array(message.bytes.readableBytesView) == payload)
            #expect(framed.readableBytes == 0)
        }
    }

    /// However DATA frames cut it, a message is read once whole, and nothing is
    /// read before.
    @Test func aMessageCutAnywhereIsReadOnceWhole() throws {
        let payload = (0..<40).map { UInt8($0) }
        let framed = Array(ByteBuffer.grpcMessage(ByteBuffer(bytes: payload), allocator: allocator).readableBytesView)
        for cut in 0..<framed.count {
            var buffer = ByteBuffer(bytes: framed[..<cut])
            #expect(try buffer.readGRPCMessage(limit: 100) == nil)
            #expect(buffer.readableBytes == cut)
            buffer.writeBytes(framed[cut...])
            let message = try #require(try buffer.readGRPCMessage(limit: 100))
            #expect(Array(message.bytes.readableBytesView) == payload)
        }
    }

    @Test func messagesBackToBackAreReadInTurn() throws {
        var buffer = ByteBuffer.grpcMessage(ByteBuffer(bytes: [1]), allocator: allocator)
        var second = ByteBuffer.grpcMessage(ByteBuffer(bytes: [2, 2]), allocator: allocator)
        buffer.writeBuffer(&second)
        #expect(try buffer.readGRPCMessage(limit: 10).map { Array($0.bytes.readableBytesView) } == [1])
        #expect(try buffer.readGRPCMessage(limit: 10).map { Array($0.bytes.readableBytesView) } == [2, 2])
        #expect(try buffer.readGRPCMessage(limit: 10) == nil)
    }

    @Test func aCompressedMessageIsReadWithItsFlag() throws {
        var buffer = ByteBuffer(bytes: [1, 0, 0, 0, 1, 0x61])
        let message = try #require(try buffer.readGRPCMessage(limit: 10))
        #expect(message.compressed)
        #expect(Array(message.bytes.readableBytesView) == [0x61])
    }

    @Test func aFlagOtherThanZeroOrOneIsRefused() {
        var buffer = ByteBuffer(bytes: [2, 0, 0, 0, 1, 0x61])
        #expect(throws: RPCError(.internalError, "a message whose compressed flag is 2, neither 0 nor 1")) {
            try buffer.readGRPCMessage(limit: 10)
        }
    }

    /// The length prefix alone tells: nothing of the message need arrive.
    @Test func aMessageOverTheLimitIsRefusedFromItsPrefix() {
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 11])
        do {
            _ = try buffer.readGRPCMessage(limit: 10)
            Issue.record("a message of 11 bytes was taken under a limit of 10")
        } catch {
            #expect(error.code == .resourceExhausted)
            #expect(error.message == "a message of 11 bytes is over the limit of 10")
        }
    }
}
