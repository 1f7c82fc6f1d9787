import CloudstorClient
import GRPCCore
import ServiceLifecycle

/// Keeps the shim's connection to the daemon running beside the plugin server.
public struct GRPCClientService: Service {
    let client: GRPCClient<DaemonClient.Transport>

    public init(client: GRPCClient<DaemonClient.Transport>) {
        self.client = client
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await client.runConnections()
        } onGracefulShutdown: {
            client.beginGracefulShutdown()
        }
    }
}
