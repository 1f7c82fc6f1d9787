import CompressNIO
import NIOCore

/// A message encoding of gRPC's compression spec (`grpc-encoding`), through zlib.
/// The server takes requests in any of them and answers uncompressed, as gRPC
/// servers do unless configured otherwise; every response says which it takes
/// (`grpc-accept-encoding`).
enum RPCCompression: String, CaseIterable, Sendable {
    case identity
    case deflate
    case gzip

    /// `grpc-accept-encoding`, in the C core's order.
    static let acceptEncoding = allCases.map(\.rawValue).joined(separator: ", ")

    /// The encoding a request's `grpc-encoding` names; identity when it names none.
    /// nil for one this server does not take.
    init?(header: String?) {
        guard let header else {
            self = .identity
            return
        }
        self.init(rawValue: header)
    }

    /// A compressed message's bytes, decompressed; at most `limit` bytes of them.
    func decompress(_ message: ByteBuffer, limit: Int) throws(RPCError) -> ByteBuffer {
        var message = message
        let algorithm: CompressionAlgorithm
        switch self {
        case .identity:
            throw RPCError(.internalError, "a compressed message, but no compression was agreed (grpc-encoding)")
        case .deflate:
            algorithm = .zlib()  // HTTP's and gRPC's "deflate" is the zlib format (RFC 1950)
        case .gzip:
            algorithm = .gzip()
        }
        let invalid = RPCError(.internalError, "a message that is not valid \(rawValue)")
        // compress-nio sizes its output from the input's: none would never grow.
        guard message.readableBytes > 0 else { throw invalid }
        let whole: ByteBuffer
        do {
            whole = try message.decompress(with: algorithm, maxSize: limit + 1)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw RPCError(.resourceExhausted, "a \(rawValue) message that decompresses to over the limit of \(limit) bytes")
        } catch {
            throw invalid
        }
        guard whole.readableBytes <= limit else {
            throw RPCError(.resourceExhausted, "a \(rawValue) message that decompresses to over the limit of \(limit) bytes")
        }
        return whole
    }
}
