import CloudstorSupport
import Foundation
import Logging
import ServiceLifecycle

/// What a provider gives the daemon: where records live and the backends.
public struct Provider: Sendable {
    public var store: any VolumeStore
    public var block: any BlockBackend
    public var shared: any SharedBackend
    /// Releases the provider's connections when the daemon stops.
    public var shutdown: @Sendable () async -> Void

    public init(store: any VolumeStore, block: any BlockBackend, shared: any SharedBackend, shutdown: @escaping @Sendable () async -> Void = {}) {
        self.store = store
        self.block = block
        self.shared = shared
        self.shutdown = shutdown
    }

    /// The embedded provider: volume records in the node's database, loop-mounted
    /// images and directories, on one node.
    public static func local(_ config: DaemonConfiguration, database: StateDatabase, node: String) throws(CloudstorError) -> Provider {
        Provider(
            store: try LocalVolumeStore(database: database), block: LoopImageBackend(directory: config.imageDirectory, node: node),
            shared: DirectoryBackend(root: config.resolvedSharedRoot))
    }
}

/// `cloudstord` as a library: sets up the state directory and database, the
/// provider's parts and the gRPC server on the unix socket, restores the mounts of
/// the last run, and serves until SIGTERM or SIGINT. Shutting down unmounts
/// nothing: containers keep their volumes across a daemon restart. The provider is
/// chosen by the executable: this library knows no cloud.
public enum Daemon {
    public static func run(
        _ config: DaemonConfiguration, logger: Logger,
        provider makeProvider: (StateDatabase) async throws(CloudstorError) -> Provider
    ) async throws(CloudstorError) {
        for dir in [config.stateDirectory, config.imageDirectory, config.resolvedMountRoot, config.resolvedSharedRoot,
            (config.socketPath as NSString).deletingLastPathComponent]
        {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw CloudstorError(.internalError, "cannot create directory \(dir)", cause: error)
            }
        }
        // One daemon per state directory: two would mount the same volumes twice.
        let stateLock: FileLock
        do {
            stateLock = try FileLock(path: "\(config.stateDirectory)/cloudstord.lock", holder: "using the state directory \(config.stateDirectory)")
        } catch {
            throw CloudstorError(.failedPrecondition, error.description)
        }
        defer { stateLock.unlock() }
        let database = try StateDatabase(path: config.databasePath)
        let ledger = try NodeLedger(database: database)
        let provider = try await makeProvider(database)

        var settings = VolumeManager.Configuration(defaultBacking: config.defaultBacking, mountRoot: config.resolvedMountRoot)
        settings.takeoverWait = config.takeoverWait
        settings.mountWait = config.mountWait
        settings.detachDelay = config.detachDelay ?? (config.provider == .local ? .zero : .seconds(30))
        let relocator = (provider.block as? any MovableBlockBackend).map {
            Relocator(backend: $0, store: provider.store, ledger: ledger, logger: logger)
        }
        let manager = VolumeManager(
            configuration: settings, store: provider.store, ledger: ledger, block: provider.block, shared: provider.shared,
            host: LinuxHost(deviceDirectory: config.deviceDirectory), relocator: relocator, logger: logger)

        // The socket is bound inside the service group, once SIGTERM is handled:
        // a signal that arrives while starting up is a graceful shutdown too.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: DaemonService(socketPath: config.socketPath, manager: manager, logger: logger)),
            .init(service: DetachService(manager: manager)),
        ]
        if let relocator {
            services.append(.init(service: relocator))
            services.append(.init(service: SnapshotScheduler(
                manager: manager, backend: relocator.backend, interval: config.snapshotInterval, retention: config.snapshotRetention,
                logger: logger)))
        }
        logger.info(
            "starting",
            metadata: [
                "socket": "\(config.socketPath)", "provider": "\(config.provider.rawValue)", "state": "\(config.stateDirectory)",
                "node": "\(provider.block.node)", "zone": "\(provider.block.zone)",
            ])
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Calls in flight get this long to finish; a client that holds an idle
        // connection open without reading (libcurl between calls) cannot stall a stop.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        let outcome: Result<Void, any Error>
        do { outcome = .success(try await group.run()) } catch { outcome = .failure(error) }
        await provider.shutdown()
        if case .failure(let error) = outcome {
            throw error as? CloudstorError ?? CloudstorError(.internalError, "the daemon failed", cause: error)
        }
        logger.info("stopped")
    }
}

/// Detaches volumes whose detach delay has passed, twice a second.
struct DetachService: Service {
    let manager: VolumeManager

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await Task.sleep(for: .milliseconds(500)) } catch { return }  // cancelled: the group stops
            await manager.detachDue()
        }
    }
}
