import CloudstorSupport
import FoundationEssentials
import Logging
import ServiceLifecycle

/// What a provider gives the daemon: where records live and the backends.
public struct Provider: Sendable {
    /// The relocatable volumes' records.
    public var store: any VolumeStore
    public var block: any BlockBackend
    /// The options relocatable volumes take, with their rules.
    public var options: any BlockOptionRules
    /// nil when there is no shared file system.
    public var shared: SharedBackend?
    /// The backing of a volume created without `backing=`, unless the operator chose.
    public var defaultBacking: Backing
    /// Whether a volume is the same on every node (`global`: relocatable volumes
    /// follow their task) or only on the node that has it (`local`), as Docker's
    /// Capabilities say.
    public var scope: VolumeScope
    /// Releases the provider's connections when the daemon stops.
    public var shutdown: @Sendable () async -> Void

    public init(
        store: any VolumeStore, block: any BlockBackend, options: any BlockOptionRules, shared: SharedBackend?,
        defaultBacking: Backing = .relocatable, scope: VolumeScope = .global,
        shutdown: @escaping @Sendable () async -> Void = {}
    ) {
        self.scope = scope
        self.store = store
        self.block = block
        self.options = options
        self.shared = shared
        self.defaultBacking = defaultBacking
        self.shutdown = shutdown
    }

    /// The embedded provider: relocatable volumes as loop-mounted images, in the
    /// node's state directory with their records in its database, or on a cluster
    /// root every node mounts (then they follow their task); shared volumes on the
    /// shared root, which several nodes may mount (NFS).
    public static func local(
        _ config: DaemonConfiguration, database: StateDatabase, node: String, options: any BlockOptionRules, logger: Logger
    ) throws(CloudstorError) -> Provider {
        let roots = [config.resolvedSharedRoot] + (config.sharedMaxioRoot.map { [$0] } ?? [])
        for root in roots {
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            } catch {
                throw CloudstorError(.internalError, "cannot create directory \(root)", cause: error)
            }
        }
        let local = try LocalVolumeStore(database: database)
        let shared = try SharedBackend(root: config.resolvedSharedRoot, maxioRoot: config.sharedMaxioRoot, node: node, logger: logger)
        try shared.adopt(local, logger: logger)
        guard let clusterRoot = config.clusterRoot else {
            return Provider(
                store: local, block: LoopImageBackend(directory: config.imageDirectory, node: node), options: options, shared: shared, scope: .local)
        }
        // Never a volume that vanishes from sight: images of this node's own are not moved.
        let stranded = local.volumes().filter { $0.backing == .relocatable }.map(\.name)
        guard stranded.isEmpty else {
            throw CloudstorError(
                .failedPrecondition,
                "this node has relocatable volumes in its state directory (\(stranded.joined(separator: ", "))), which a cluster root would hide: copy their data off and remove them, or run without --cluster-root")
        }
        let block = try ClusterImageBackend(root: clusterRoot, node: node, takeoverAfter: config.takeoverAfter, logger: logger)
        return Provider(store: ClusterVolumeStore(backend: block), block: block, options: options, shared: shared, scope: .global)
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
        provider makeProvider: (StateDatabase, any NodeHost) async throws(CloudstorError) -> Provider
    ) async throws(CloudstorError) {
        for dir in [config.stateDirectory, config.imageDirectory, config.resolvedMountRoot, URL(fileURLWithPath: config.socketPath).deletingLastPathComponent().path]
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
        let ledger = try NodeLedger(database: database, boot: LinuxHost.bootID())
        if !ledger.releasedAtBoot.isEmpty {
            logger.notice(
                "the node restarted since the last run: released the holds of the previous boot",
                metadata: ["volumes": "\(ledger.releasedAtBoot.keys.sorted().joined(separator: ","))"])
        }
        // Before the provider: its AWS clients take the metrics factory when made.
        let registry = config.metricsListen.map { _ in DaemonMetrics.bootstrap() }
        let host = LinuxHost(deviceDirectory: config.deviceDirectory)
        let provider = try await makeProvider(database, host)

        var settings = VolumeManager.Configuration(
            defaultBacking: config.defaultBacking ?? provider.defaultBacking, mountRoot: config.resolvedMountRoot)
        settings.trashDelay = config.trashDelay
        settings.scope = provider.scope
        settings.takeoverWait = config.takeoverWait
        settings.mountWait = config.mountWait
        settings.detachDelay = config.detachDelay ?? (config.provider == .local ? .zero : .seconds(30))
        let relocator = (provider.block as? any MovableBlockBackend).map {
            Relocator(backend: $0, store: provider.store, ledger: ledger, takeoverWait: config.takeoverWait, logger: logger)
        }
        let manager = VolumeManager(
            configuration: settings, store: provider.store, ledger: ledger, block: provider.block, rules: provider.options, shared: provider.shared,
            host: host, relocator: relocator, logger: logger)

        // The socket is bound inside the service group, once SIGTERM is handled:
        // a signal that arrives while starting up is a graceful shutdown too.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: DaemonService(socketPath: config.socketPath, manager: manager, logger: logger)),
            .init(service: PeriodicService { await manager.detachDue() }),
            .init(service: PeriodicService { await manager.emptyTrashIfDue() }),
            .init(service: PeriodicService { await manager.followModifications() }),
        ]
        if provider.block is any LeasedHolds {
            services.append(.init(service: PeriodicService { await manager.renewLease() }))
        }
        if let relocator {
            services.append(.init(service: relocator))
            services.append(.init(service: SnapshotScheduler(
                manager: manager, backend: relocator.backend, interval: config.snapshotInterval, retention: config.snapshotRetention,
                logger: logger)))
        }
        if let address = config.metricsListen, let registry {
            services.append(.init(service: MetricsEndpoint(
                address: address, registry: registry,
                refresh: { await DaemonMetrics.refresh(manager: manager, ledger: ledger, relocator: relocator) }, logger: logger)))
        }
        logger.info(
            "starting",
            metadata: [
                "socket": "\(config.socketPath)", "provider": "\(config.provider.rawValue)", "state": "\(config.stateDirectory)",
                "node": "\(provider.block.node)", "zone": "\(provider.block.zone)",
                "shared": "\(provider.shared.map { $0.fileSystems.map(\.root).joined(separator: ",") } ?? "none")",
            ])
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Calls in flight get this long to finish, then they are cancelled: Docker
        // SIGKILLs a managed plugin 10 s after its SIGTERM. A client that holds an idle
        // connection open without reading (libcurl between calls) cannot stall a stop.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(7)
        let group = ServiceGroup(configuration: groupConfiguration)
        let outcome: Result<Void, any Error>
        do { outcome = .success(try await group.run()) } catch { outcome = .failure(error) }
        let left = await manager.pendingDetaches()
        if !left.isEmpty {
            logger.notice("stopping: detaches left to the next start", metadata: ["volumes": "\(left.joined(separator: ","))"])
        }
        await provider.shutdown()
        if case .failure(let error) = outcome {
            throw error as? CloudstorError ?? CloudstorError(.internalError, "the daemon failed", cause: error)
        }
        logger.info("stopped")
    }
}

/// Runs housekeeping twice a second (detaches whose delay passed, the trash)
/// until the daemon stops. A stop ends its sleep at once: the services stop one
/// after another, the gRPC server last, and its GOAWAY waits for them.
struct PeriodicService: Service {
    let work: @Sendable () async -> Void

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) } } catch { return }
            await work()
        }
    }
}
