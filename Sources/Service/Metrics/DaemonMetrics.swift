import CloudstorSupport
import FoundationEssentials
import Metrics
import Prometheus
import Synchronization

/// The daemon's own metrics (RPCs and AWS calls are counted where they happen,
/// in Sources/RPC and Sources/AWS), through swift-metrics: nothing is kept
/// unless `--metrics-listen` bootstraps the Prometheus registry.
public enum DaemonMetrics {
    /// Makes swift-metrics record into a Prometheus registry, once per process,
    /// and sets what is known from the start.
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // RPCs take a millisecond; a move takes minutes.
        factory.durationHistogramBuckets = [
            "cloudstor_rpc_duration_seconds": [.microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
                .milliseconds(500), .seconds(2), .seconds(10), .seconds(30)],
            "cloudstor_move_duration_seconds": [.seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
                .seconds(600), .seconds(1800)],
        ]
        MetricsSystem.bootstrap(factory)
        Gauge(label: "process_start_time_seconds").record(Date().timeIntervalSince1970)
        Gauge(label: "cloudstor_build_info", dimensions: [("version", Release.version)]).record(1)
        return registry
    }

    /// A move finished: `kind` is `zone` (a snapshot into this zone) or `node`
    /// (the volume taken over in its zone); `outcome` ok, failed or stopped.
    static func moveFinished(kind: String, outcome: String, since start: ContinuousClock.Instant) {
        Counter(label: "cloudstor_moves_total", dimensions: [("kind", kind), ("outcome", outcome)]).increment()
        Timer(label: "cloudstor_move_duration_seconds", dimensions: [("kind", kind)]).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }

    /// The volumes with a last-snapshot series: a scrape drops those no longer
    /// mounted here, or an alert on the snapshots' age would fire for them.
    private static let snapshotted = Mutex(Set<String>())

    /// A background snapshot of `volume` was taken: when, for an alert on its age.
    static func snapshotTaken(of volume: String) {
        snapshotted.withLock { _ = $0.insert(volume) }
        snapshotGauge(volume).record(Date().timeIntervalSince1970)
    }

    private static func snapshotGauge(_ volume: String) -> CoreMetrics.Gauge {
        Gauge(label: "cloudstor_snapshot_last_success_timestamp_seconds", dimensions: [("volume", volume)])
    }

    /// What is read off the daemon's state at each scrape, without I/O: the
    /// relocatable volumes as the store holds them in memory (on AWS, the stack's
    /// volumes as of the cache's last look), and the shared volumes this node
    /// holds (the others are on the shared file system, which a scrape does not read).
    static func refresh(manager: VolumeManager, ledger: NodeLedger, relocator: Relocator?) async {
        let holds = ledger.holdCounts().filter { $0.value > 0 }
        let moving = relocator?.moving() ?? []
        // A relocatable volume this node holds is always in the store's memory: it
        // was looked up to be mounted. What the ledger holds beyond those is shared.
        let relocatable = Set(await manager.store.knownVolumes().filter { $0.backing == .relocatable }.map(\.name))
        let shared = holds.keys.filter { !relocatable.contains($0) }
        var states = ["created": 0, "mounted": 0, "moving": 0]
        for name in relocatable {
            states[moving.contains(name) ? "moving" : holds[name] != nil ? "mounted" : "created"]! += 1
        }
        for (state, count) in states {
            Gauge(label: "cloudstor_volumes", dimensions: [("backing", "relocatable"), ("state", state)]).record(count)
        }
        Gauge(label: "cloudstor_volumes", dimensions: [("backing", "shared"), ("state", "mounted")]).record(shared.count)
        Gauge(label: "cloudstor_holds", dimensions: [("backing", "relocatable")]).record(
            holds.filter { relocatable.contains($0.key) }.values.reduce(0, +))
        Gauge(label: "cloudstor_holds", dimensions: [("backing", "shared")]).record(shared.map { holds[$0]! }.reduce(0, +))
        let gone = snapshotted.withLock { names in
            let gone = names.filter { holds[$0] == nil || !relocatable.contains($0) }
            names.subtract(gone)
            return gone
        }
        for name in gone { snapshotGauge(name).destroy() }
        let phases = relocator?.movesByPhase() ?? [:]
        for phase in MoveStep.phases {
            Gauge(label: "cloudstor_moves_in_flight", dimensions: [("step", phase)]).record(phases[phase] ?? 0)
        }
        Gauge(label: "cloudstor_move_oldest_seconds").record(Double((relocator?.oldestMove() ?? .zero).milliseconds) / 1000)
        Gauge(label: "cloudstor_detaches_pending").record(await manager.pendingDetaches().count)
    }
}
