import NIOCore
import SwiftProtobuf

/// What serves one method. Messages are their serialized bytes, without gRPC's
/// five-byte prefix; the connection frames them.
enum RPCHandler: Sendable {
    /// One message in, one out.
    case unary(@Sendable (ByteBuffer) async throws -> ByteBuffer)
    /// Any number of messages each way; the call ends with OK when the handler returns.
    case streaming(@Sendable (RPCRequestStream, RPCResponseSink) async throws -> Void)
}

/// The server's methods by their paths (`/package.Service/Method`), with
/// registration that decodes and encodes protobuf messages. Services register
/// through their generated `Handler` protocol.
public struct RPCRouter: Sendable {
    var methods: [String: RPCHandler] = [:]

    public init(services: [any RPCService] = []) {
        for service in services { service.register(in: &self) }
    }

    /// Serves a unary method.
    public mutating func unary<Request: Message, Response: Message>(
        _ method: RPCMethod<Request, Response>, _ handler: @escaping @Sendable (Request) async throws -> Response
    ) {
        let metrics = RPCMetrics(method: "\(method.service)/\(method.method)")
        methods[method.path] = .unary { bytes in
            let start = ContinuousClock.now
            do {
                let reply = try await handler(try Request.decoded(from: bytes)).encoded()
                metrics.record(error: nil, since: start)
                return reply
            } catch {
                metrics.record(error: RPCError(of: error), since: start)
                throw error
            }
        }
    }

    /// Serves a streaming method (server or bidirectional streaming).
    public mutating func streaming<Request: Message, Response: Message>(
        _ method: RPCMethod<Request, Response>,
        _ handler: @escaping @Sendable (RPCMessages<Request>, RPCResponseWriter<Response>) async throws -> Void
    ) {
        let metrics = RPCMetrics(method: "\(method.service)/\(method.method)")
        methods[method.path] = .streaming { requests, sink in
            let start = ContinuousClock.now
            do {
                try await handler(RPCMessages(raw: requests), RPCResponseWriter(sink: sink))
                metrics.record(error: nil, since: start)
            } catch {
                metrics.record(error: RPCError(of: error), since: start)
                throw error
            }
        }
    }
}

/// A gRPC service: registers its methods with a router.
public protocol RPCService: Sendable {
    func register(in router: inout RPCRouter)
}

extension Message {
    static func decoded(from buffer: ByteBuffer) throws(RPCError) -> Self {
        do {
            return try Self(serializedBytes: Array(buffer.readableBytesView))
        } catch {
            throw RPCError(.internalError, "the request is not a valid \(Self.protoMessageName)")
        }
    }

    func encoded() throws(RPCError) -> ByteBuffer {
        do {
            let bytes: [UInt8] = try serializedBytes()
            return ByteBuffer(bytes: bytes)
        } catch {
            throw RPCError(.internalError, "cannot encode the reply \(Self.protoMessageName)")
        }
    }
}

/// The request messages of a streaming call, as they arrive; ends when the client
/// ends its side.
public struct RPCRequestStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let stream: AsyncThrowingStream<ByteBuffer, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}

/// The decoded request messages of a streaming call.
public struct RPCMessages<Request: Message>: AsyncSequence, Sendable {
    public typealias Element = Request
    let raw: RPCRequestStream

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator

        public mutating func next() async throws -> Request? {
            guard let bytes = try await base.next() else { return nil }
            return try Request.decoded(from: bytes)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: raw.makeAsyncIterator())
    }
}

/// Sends the messages of a streaming call.
public struct RPCResponseWriter<Response: Message>: Sendable {
    let sink: RPCResponseSink

    public func write(_ message: Response) async throws {
        try await sink.send(try message.encoded())
    }
}
