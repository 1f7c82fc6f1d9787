import CloudstorRPC
import CloudstorSupport
import Logging
import NIOPosix
import ServiceLifecycle

/// The daemon's long-running part: takes the socket (refusing if another daemon
/// holds it), serves gRPC while it restores the mounts of the last run, until a
/// graceful shutdown, which lets calls in flight finish. Runs in a ServiceGroup so
/// SIGTERM is handled from the first instant: the server takes a stop at any
/// moment of its start (RPCServer).
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

        // One event loop serves every connection, and handlers run on it: a call
        // needs no thread hops. Handlers that may block (mounts, the cloud, disk
        // syncs) move themselves to the global pool (VolumesService).
        try await MultiThreadedEventLoopGroup.withEventLoopGroup(numberOfThreads: 1) { loops in
            let router = RPCRouter(services: [VolumesService(manager: manager), HealthService(), try ReflectionService()])
            let server = RPCServer(listeningDescriptor: listener.handOff(), loop: loops.next(), router: router, logger: logger)
            try await withGracefulShutdownHandler {
                // Serving first, restoring the last run's mounts meanwhile: Docker's
                // calls at its own start must not wait for a listing of the stack.
                let recorded = await manager.reconcileHolds()
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await server.run { logger.info("serving", metadata: ["socket": "\(socketPath)"]) } }
                    await manager.reconcile(recorded: recorded)
                    logger.info("restored the last run's volumes")
                }
            } onGracefulShutdown: {
                server.beginGracefulShutdown()
            }
        }
    }
}
