import CloudstorSupport
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOPosix
import ServiceLifecycle

/// The daemon's long-running part: takes the socket (refusing if another daemon
/// holds it), restores the mounts of the last run, then serves gRPC until a
/// graceful shutdown, which lets calls in flight finish. Runs in a ServiceGroup so
/// SIGTERM is handled from the first instant: a stop before the server exists
/// means it is never made (the listener closes its descriptor); once made, the
/// server owns the descriptor and the gate holds the stop until it listens.
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

        let gate = ServerGate<HTTP2ServerTransport.Posix>()
        // One event loop serves every connection, and handlers run on it (the
        // task-executor preference) rather than on Swift's global pool: a call
        // needs no thread hops. Handlers that may block (mounts, the cloud, disk
        // syncs) move themselves to the global pool (VolumesService).
        try await MultiThreadedEventLoopGroup.withEventLoopGroup(numberOfThreads: 1) { loops in
            try await serve(listener, gate: gate, loops: loops, executor: EventLoopExecutor(loops.next()))
        }
    }

    private func serve(
        _ listener: UnixListener, gate: ServerGate<HTTP2ServerTransport.Posix>, loops: MultiThreadedEventLoopGroup,
        executor: EventLoopExecutor
    ) async throws {
        try await withGracefulShutdownHandler {
            await manager.reconcile()
            let services: [any RegistrableRPCService] = [VolumesService(manager: manager), HealthService(), try ReflectionService()]
            guard
                let server = gate.start({
                    GRPCServer(
                        transport: .http2NIOPosix(
                            listeningSocketDescriptor: Int(listener.handOff()), transportSecurity: .plaintext, eventLoopGroup: loops),
                        services: services)
                })
            else { return logger.info("stopped while starting") }
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await withTaskExecutorPreference(executor) { try await server.serve() } }
                let bound = (try? await server.listeningAddress) != nil
                gate.listening()
                if bound { logger.info("serving", metadata: ["socket": "\(socketPath)"]) }
            }
        } onGracefulShutdown: {
            gate.stop()
        }
    }
}
