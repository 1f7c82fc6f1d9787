import Logging
import ServiceLifecycle

/// Snapshots the volumes mounted here every `interval`, so that a move to another
/// zone later copies only what changed since. The filesystem is frozen only while
/// the snapshot starts (EBS fixes its content then); older snapshots are pruned.
public struct SnapshotScheduler: Service {
    let manager: VolumeManager
    let backend: any MovableBlockBackend
    let interval: Duration
    let retention: Int
    let logger: Logger

    public init(manager: VolumeManager, backend: any MovableBlockBackend, interval: Duration, retention: Int, logger: Logger) {
        self.manager = manager
        self.backend = backend
        self.interval = interval
        self.retention = retention
        self.logger = logger
    }

    public func run() async throws {
        guard interval > .zero else { return try await gracefulShutdown() }
        while !Task.isShuttingDownGracefully {
            // An hour's sleep must not hold up a stop.
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
            for name in manager.ledger.holdCounts().keys.sorted() {
                do {
                    let taken = try await manager.snapshot(name) { (record, path) async throws(CloudstorError) in
                        try await manager.host.frozen(path) { () async throws(CloudstorError) in
                            try await backend.periodicSnapshot(of: record)
                        }
                        // Thawed first: writes wait for the snapshot's start, not for this. The
                        // snapshot is taken whatever becomes of the pruning; the next one prunes again.
                        do { try await backend.prunePeriodicSnapshots(of: record, keep: max(retention, 1)) } catch {
                            logger.warning("cannot prune old background snapshots yet", metadata: ["volume": "\(name)", "error": "\(error)"])
                        }
                    }
                    if taken { DaemonMetrics.snapshotTaken(of: name) }
                } catch {
                    logger.warning("background snapshot failed", metadata: ["volume": "\(name)", "error": "\(error)"])
                }
            }
        }
    }
}
