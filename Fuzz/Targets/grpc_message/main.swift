// gRPC request bodies as the daemon's connection reads them: DATA frames of any
// size appended to a call (RPCCall.receive, then clientCloses), each length-prefixed message cut
// out (ByteBuffer.readGRPCMessage), decompressed when flagged
// (RPCCompression.decompress, deflate or gzip), then decoded as the method's
// protobuf message (Message.decoded, as RPCRouter does; replies too, as
// RPCClient decodes them in the shim and cloudstorctl). Also the grpc-timeout
// header (RPCTimeout.parse) and grpc-status/grpc-message trailers (RPCError).
//
// Input: byte 0 = the call's grpc-encoding (low 2 bits) and DATA frame size
// (high 6 bits; 0 = one frame); byte 1 = the message type; byte 2 = length of
// a grpc-timeout value that follows; then the DATA bytes.
@testable import CloudstorRPC
import CloudstorProto
import FuzzSupport
import NIOCore
import SwiftProtobuf

let messageTypes: [any Message.Type] = [
    Cloudstor_V1_CreateRequest.self, Cloudstor_V1_RemoveRequest.self, Cloudstor_V1_GetRequest.self, Cloudstor_V1_ListRequest.self,
    Cloudstor_V1_MountRequest.self, Cloudstor_V1_UnmountRequest.self, Cloudstor_V1_PathRequest.self,
    Cloudstor_V1_CapabilitiesRequest.self, Cloudstor_V1_ClearHoldsRequest.self, Cloudstor_V1_ListOrphansRequest.self,
    Cloudstor_V1_PruneOrphansRequest.self, Grpc_Health_V1_HealthCheckRequest.self, Grpc_Reflection_V1alpha_ServerReflectionRequest.self,
    Cloudstor_V1_CreateResponse.self, Cloudstor_V1_GetResponse.self, Cloudstor_V1_ListResponse.self, Cloudstor_V1_MountResponse.self,
    Cloudstor_V1_PathResponse.self, Cloudstor_V1_CapabilitiesResponse.self, Cloudstor_V1_ListOrphansResponse.self,
    Cloudstor_V1_PruneOrphansResponse.self, Cloudstor_V1_ClearHoldsResponse.self, Grpc_Health_V1_HealthCheckResponse.self,
    Grpc_Reflection_V1alpha_ServerReflectionResponse.self,
]

/// Decodes as the router does, and checks that what decodes encodes and decodes to itself.
func roundTrip<M: Message>(_ type: M.Type, _ bytes: ByteBuffer) {
    guard let message = try? M.decoded(from: bytes) else { return }
    guard let again = try? message.encoded() else { return fuzzCheck(false, "\(M.protoMessageName) decoded but does not encode") }
    let back = try? M.decoded(from: again)
    fuzzCheck(back?.isEqualTo(message: message) == true, "\(M.protoMessageName) does not survive encode and decode")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGRPCMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput.bytes(data, size)
    guard input.count >= 3 else { return 0 }
    let encoding = [RPCCompression.identity, .deflate, .gzip, RPCCompression(header: nil)!][Int(input[0] & 3)]
    let frameSize = Int(input[0] >> 2)
    let type = messageTypes[Int(input[1]) % messageTypes.count]
    let timeoutLength = min(Int(input[2]), input.count - 3)
    if timeoutLength > 0 {
        let text = String(decoding: input[3..<3 + timeoutLength], as: UTF8.self)
        _ = RPCTimeout.parse(text)
        // The same bytes as trailers a client reads, and a message the server sends.
        _ = RPCError(status: text, encodedMessage: text)
        let sent = RPCError(.internalError, text)
        let read = RPCError(status: String(sent.code.rawValue), encodedMessage: sent.encodedMessage)
        fuzzCheck(read == sent, "grpc-message \(text.debugDescription) reads back as \(String(describing: read?.message).debugDescription)")
    }
    let stream = Array(input[(3 + timeoutLength)...])

    // A streaming call hands every whole message on, so all of them can be checked.
    let call = RPCCall(stream: 1, handler: .streaming { _, _ in }, encoding: encoding)
    let requests = call.startStreaming()
    var offset = 0
    repeat {
        let end = frameSize == 0 ? stream.count : min(stream.count, offset + frameSize)
        do {
            try call.receive(ByteBuffer(bytes: stream[offset..<end]), limit: RPCConnection.messageLimit)
        } catch {
            _ = error.encodedMessage
            return 0  // the call fails with this error
        }
        offset = end
    } while offset < stream.count
    let ended: Bool
    do {
        _ = try call.clientCloses()
        ended = true
    } catch {
        ended = false  // the request ended inside a message: the call fails, its requests end
        call.cancel()
    }
    let whole: [ByteBuffer] = fuzzWait {
        var messages: [ByteBuffer] = []
        do { for try await message in requests { messages.append(message) } } catch {}
        return messages
    }
    for message in whole {
        fuzzCheck(message.readableBytes <= RPCConnection.messageLimit, "a message over the limit was taken")
        roundTrip(type, message)
    }
    if encoding == .identity {
        // Uncompressed, the messages framed again are exactly the bytes they came from.
        var framed: [UInt8] = []
        for message in whole { framed += ByteBuffer.grpcMessage(message, allocator: .init()).readableBytesView }
        let consumed = framed.count
        fuzzCheck(framed == Array(stream[..<min(consumed, stream.count)]), "messages re-framed differ from the bytes read")
        if ended { fuzzCheck(consumed == stream.count, "the request ended whole, but \(stream.count - consumed) bytes were not read") }
    }
    return 0
}
