import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import CloudstorAWS

/// A metadata service that answers every connection with the next of its canned
/// raw replies, whatever was asked, and closes it.
private final class CannedMetadataService: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let replies: NIOLockedValueBox<[String]>

    init(_ replies: [String]) { self.replies = NIOLockedValueBox(replies) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = replies.withLockedValue { $0.isEmpty ? "" : $0.removeFirst() }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply))).whenComplete { _ in context.close(promise: nil) }
    }

    /// Serves until `body` returns; hands it the endpoint.
    static func serving<T>(_ replies: [String], _ body: (String) async throws -> T) async throws -> T {
        let service = CannedMetadataService(replies)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.pipeline.addHandler(service) }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        return try await body("http://127.0.0.1:\(server.localAddress!.port!)")
    }
}

@Suite struct InstanceMetadataTests {
    static let token = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntok"

    @Test func aTokenThenTheValue() async throws {
        let zone = try await CannedMetadataService.serving([Self.token, "HTTP/1.1 200 OK\r\n\r\nus-east-1a"]) { endpoint in
            try await InstanceMetadataClient(endpoint: endpoint).availabilityZone()
        }
        #expect(zone == "us-east-1a")  // a body that ends with the connection
    }

    /// The service answers and closes once the request's first bytes arrive (the
    /// simulator did so under load in a fresh-clone run, before the request's end
    /// was written, and that write failed the call): the reply counts.
    @Test func aServiceThatClosesAtOnceIsStillHeard() async throws {
        for _ in 0..<200 {
            let zone = try await CannedMetadataService.serving([Self.token, "HTTP/1.1 200 OK\r\n\r\nus-east-1b"]) { endpoint in
                try await InstanceMetadataClient(endpoint: endpoint).availabilityZone()
            }
            #expect(zone == "us-east-1b")
        }
    }

    /// Found by fuzzing (Fuzz/regressions/imds): AsyncHTTPClient 1.37 stopped the
    /// process on a status below 100 with a body. Now it is an error like any other.
    @Test func aStatusBelow100IsAnErrorNotACrash() async throws {
        let error = try await CannedMetadataService.serving(["HTTP/1.1 000 OK\r\nContent-Length: 3\r\n\r\ntok"]) { endpoint in
            await #expect(throws: AWSError.self) { try await InstanceMetadataClient(endpoint: endpoint).instanceID() }
        }
        #expect(error?.code == "HTTP0" && error?.isRetryable == false)
    }

    @Test func repliesAreBoundedAndMustEnd() async throws {
        let huge = "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + String(repeating: "x", count: 2_000_000)
        let tooLarge = try await CannedMetadataService.serving([huge]) { endpoint in
            await #expect(throws: AWSError.self) { try await InstanceMetadataClient(endpoint: endpoint).instanceID() }
        }
        #expect(tooLarge?.code == "Transport" && "\(tooLarge!)".contains("reply over"))
        let cut = try await CannedMetadataService.serving(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ntok"]) { endpoint in
            await #expect(throws: AWSError.self) { try await InstanceMetadataClient(endpoint: endpoint).instanceID() }
        }
        #expect(cut?.code == "Transport" && cut?.isRetryable == true && cut?.isConnectionRefused == false)
    }

    @Test func nobodyThereIsRefusedAndAnHTTPSEndpointIsNotMetadata() async throws {
        let nobody = await #expect(throws: AWSError.self) { try await InstanceMetadataClient(endpoint: "http://127.0.0.1:9").instanceID() }
        #expect(nobody?.code == "Transport" && nobody?.isConnectionRefused == true)
        let https = await #expect(throws: AWSError.self) { try await InstanceMetadataClient(endpoint: "https://127.0.0.1").instanceID() }
        #expect(https?.code == "InvalidEndpoint" && https?.message.contains("http://HOST[:PORT]") == true)
    }
}
