import CloudstorSupport
import Foundation
import Logging
import ServiceLifecycle

/// `cloudstord` as a library: sets up the state directory, the catalogue, the
/// provider's backends and the gRPC server on the unix socket, restores the mounts
/// of the last run, and serves until SIGTERM or SIGINT. Shutting down unmounts
/// nothing: containers keep their volumes across a daemon restart.
public enum Daemon {
    public static func run(_ config: DaemonConfiguration, logger: Logger) async throws {
        guard config.provider == .local else {
            throw CloudstorError(.invalidArgument, "provider \(config.provider.rawValue) is not available in this build; use --provider local")
        }
        for dir in [config.stateDirectory, config.imageDirectory, config.resolvedMountRoot, config.resolvedSharedRoot,
            (config.socketPath as NSString).deletingLastPathComponent]
        {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw CloudstorError(.internalError, "cannot create directory \(dir)", cause: error)
            }
        }
        // One daemon per state directory: two would mount the same images twice.
        let stateLock: FileLock
        do {
            stateLock = try FileLock(path: "\(config.stateDirectory)/cloudstord.lock", holder: "using the state directory \(config.stateDirectory)")
        } catch {
            throw CloudstorError(.failedPrecondition, error.description)
        }
        defer { stateLock.unlock() }
        let manager = VolumeManager(
            configuration: .init(defaultBacking: config.defaultBacking, mountRoot: config.resolvedMountRoot, nodeID: config.nodeID),
            catalogue: try Catalogue(path: config.cataloguePath),
            block: LoopImageBackend(directory: config.imageDirectory),
            shared: DirectoryBackend(root: config.resolvedSharedRoot),
            host: LinuxHost(),
            logger: logger)

        // The socket is bound inside the service group, once SIGTERM is handled:
        // a signal that arrives while starting up is a graceful shutdown too.
        let service = DaemonService(socketPath: config.socketPath, manager: manager, logger: logger)
        logger.info(
            "starting",
            metadata: [
                "socket": "\(config.socketPath)", "provider": "\(config.provider.rawValue)", "state": "\(config.stateDirectory)",
                "node": "\(config.nodeID)",
            ])
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Calls in flight get this long to finish; a client that holds an idle
        // connection open without reading (libcurl between calls) cannot stall a stop.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        logger.info("stopped")
    }
}
