import CloudstorProto
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOPosix

/// How clients (the shim, cloudstorctl, tests) reach the daemon: gRPC over its
/// unix socket.
public enum DaemonClient {
    public typealias Transport = HTTP2ClientTransport.Posix
    public typealias Volumes = Cloudstor_V1_Volumes.Client<Transport>

    public static let defaultSocketPath = "/run/cloudstor/cloudstor.sock"

    /// A client for a long-lived process; run `runConnections()` beside it. Its
    /// connection lives on one of `eventLoopGroup`'s loops.
    public static func make(socketPath: String, eventLoopGroup: any EventLoopGroup) throws -> GRPCClient<Transport> {
        GRPCClient(transport: try transport(socketPath: socketPath, eventLoopGroup: eventLoopGroup))
    }

    /// Runs body with a connected client and shuts it down afterwards.
    public static func with<Result: Sendable>(
        socketPath: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (GRPCClient<Transport>) async throws -> Result
    ) async throws -> Result {
        try await withGRPCClient(transport: try transport(socketPath: socketPath, eventLoopGroup: eventLoopGroup)) { client in
            try await body(client)
        }
    }

    static func transport(socketPath: String, eventLoopGroup: any EventLoopGroup) throws -> Transport {
        // The daemon is local: after a restart, reconnect within a second rather than
        // backing off for minutes as one would from a remote server.
        var config = HTTP2ClientTransport.Posix.Config.defaults
        config.backoff = .init(initial: .milliseconds(50), max: .seconds(1), multiplier: 2, jitter: 0.2)
        return try .http2NIOPosix(
            target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext, config: config, eventLoopGroup: eventLoopGroup)
    }

    /// The message a person should see for a failed call: the daemon's own words,
    /// or, when it could not be reached, where it was looked for.
    public static func describe(_ error: any Error, socketPath: String) -> String {
        guard let error = error as? RPCError else { return "\(error)" }
        if error.code == .unavailable, isTransportFailure(error) {
            return "the cloudstor daemon is not reachable at \(socketPath) (is cloudstord running?): \(error.message)"
        }
        if error.code == .deadlineExceeded {
            return "the cloudstor daemon did not answer in time: \(error.message)"
        }
        return error.message
    }

    /// Whether an UNAVAILABLE came from the connection rather than from the daemon's handlers.
    static func isTransportFailure(_ error: RPCError) -> Bool {
        error.cause != nil || error.message.localizedCaseInsensitiveContains("connect")
            || error.message.localizedCaseInsensitiveContains("transport")
    }
}
