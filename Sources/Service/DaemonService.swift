import CloudstorSupport
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import ServiceLifecycle

/// The daemon's long-running part: takes the socket (refusing if another daemon
/// holds it), restores the mounts of the last run, then serves gRPC until a
/// graceful shutdown, which lets calls in flight finish. Runs in a ServiceGroup so
/// SIGTERM is handled from the first instant.
struct DaemonService: Service {
    let socketPath: String
    let manager: VolumeManager
    let logger: Logger

    func run() async throws {
        let listener: UnixListener
        do {
            listener = try UnixListener(path: socketPath, mode: 0o660)
        } catch {
            throw CloudstorError(.failedPrecondition, error.description)
        }
        defer { listener.close() }

        await manager.reconcile()
        let server = GRPCServer(
            transport: .http2NIOPosix(listeningSocketDescriptor: Int(listener.descriptor), transportSecurity: .plaintext),
            services: [VolumesService(manager: manager), HealthService(), try ReflectionService()])
        try await withGracefulShutdownHandler {
            logger.info("serving", metadata: ["socket": "\(socketPath)"])
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
