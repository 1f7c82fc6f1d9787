import FoundationEssentials
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One plain-HTTP/1.1 request to the instance-metadata service on a connection of
/// its own, on NIO's HTTP/1 codec. Not AsyncHTTPClient: version 1.37 stops the
/// process (a precondition) on a reply whose status is below 100 and has a body,
/// and this address is plain HTTP that anything on the link can answer (found by
/// fuzzing, Fuzz/regressions/imds). Metadata replies are small and rare (the
/// token and credentials are cached), so nothing here is pooled.
struct MetadataConnection {
    static let replyLimit = 1 << 20

    let host: String
    let port: Int

    /// The host and port of an `http://HOST[:PORT]` endpoint (IPv6 in brackets).
    init?(endpoint: String) {
        guard let url = URL(string: endpoint), url.scheme?.lowercased() == "http", let host = url.host, !host.isEmpty else {
            return nil
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? 80
    }

    /// The reply's status and body; throws on no connection within `connect`, no
    /// complete reply within `total`, or a body over `replyLimit`.
    func exchange(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)], connect: TimeAmount, total: TimeAmount
    ) async throws -> (status: Int, body: String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(connect)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let timedOut = NIOLockedValueBox(false)
        let deadline = channel.channel.eventLoop.scheduleTask(in: total) {
            timedOut.withLockedValue { $0 = true }
            channel.channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        let authority = host.contains(":" as Character) ? "[\(host)]" : host   // IPv6
        head.headers.add(name: "Host", value: port == 80 ? authority : "\(authority):\(port)")
        head.headers.add(name: "Connection", value: "close")
        if method == .PUT { head.headers.add(name: "Content-Length", value: "0") }
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        return try await channel.executeThenClose { inbound, outbound in
            // A server may answer and close before it reads the end of the request,
            // and a write then fails: the reply it sent still counts.
            var writeError: (any Error)?
            do { try await outbound.write(contentsOf: [.head(head), .end(nil)]) } catch { writeError = error }
            var status: Int?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let reply):
                    status = Int(reply.status.code)
                    body.clear()
                case .body(var bytes):
                    guard body.readableBytes + bytes.readableBytes <= Self.replyLimit else { throw MetadataReplyError.tooLarge }
                    body.writeBuffer(&bytes)
                case .end:
                    if let status { return (status, String(buffer: body)) }   // NIO drops 1xx heads
                }
            }
            if timedOut.withLockedValue({ $0 }) { throw MetadataReplyError.timedOut(total) }
            throw writeError ?? MetadataReplyError.incomplete
        }
    }
}

enum MetadataReplyError: Error, CustomStringConvertible {
    case tooLarge, incomplete, timedOut(TimeAmount)

    var description: String {
        switch self {
        case .tooLarge: "reply over \(MetadataConnection.replyLimit) bytes"
        case .incomplete: "connection closed before the reply ended"
        case .timedOut(let total): "no complete reply within \(total)"
        }
    }
}
