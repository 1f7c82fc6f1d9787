import NIOCore

/// gRPC's length-prefixed message on the wire: a compressed flag, a 4-byte
/// big-endian length, then the message's bytes. Both sides of a call read and
/// write it here.
extension ByteBuffer {
    /// `message` framed as one uncompressed gRPC message.
    static func grpcMessage(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var framed = allocator.buffer(capacity: 5 + message.readableBytes)
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(message.readableBytes))
        framed.writeImmutableBuffer(message)
        return framed
    }

    /// Reads the next whole message and whether its compressed flag is set; nil,
    /// reading nothing, while part of it is still to come. Throws for a message
    /// over `limit` bytes, which its length prefix tells before its bytes arrive.
    mutating func readGRPCMessage(limit: Int) throws(RPCError) -> (compressed: Bool, bytes: ByteBuffer)? {
        guard let flag = getInteger(at: readerIndex, as: UInt8.self), let length = getInteger(at: readerIndex + 1, as: UInt32.self) else {
            return nil
        }
        guard length <= limit else {
            throw RPCError(.resourceExhausted, "a message of \(length) bytes is over the limit of \(limit)")
        }
        guard flag <= 1 else {
            throw RPCError(.internalError, "a message whose compressed flag is \(flag), neither 0 nor 1")
        }
        guard readableBytes >= 5 + Int(length) else { return nil }
        moveReaderIndex(forwardBy: 5)
        return (flag == 1, readSlice(length: Int(length))!)
    }
}
