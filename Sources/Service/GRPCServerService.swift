import GRPCCore
import ServiceLifecycle

/// Runs a gRPC server as a swift-service-lifecycle service: graceful shutdown stops
/// accepting calls and lets those in flight finish.
struct GRPCServerService<Transport: ServerTransport>: Service {
    let server: GRPCServer<Transport>

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
