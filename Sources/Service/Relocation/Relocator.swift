import CloudstorSupport
import Logging
import ServiceLifecycle
import Synchronization

/// Moves relocatable volumes into this node's zone, each as a resumable state
/// machine: observe what exists (tags), take the next step, repeat. Runs as a
/// Service, outside any volume's lock, so a move of minutes never queues other
/// calls; a second Mount of a moving volume joins the move in flight. Invariant:
/// the data is always on the source volume or on a completed snapshot and the
/// target made from it; nothing is deleted before the commit mark.
public final class Relocator: Service, Sendable {
    private struct Move {
        var progress: String
        var outcome: Result<Void, CloudstorError>?
    }

    let backend: any MovableBlockBackend
    let store: any VolumeStore
    let ledger: NodeLedger
    let logger: Logger
    let poll: Duration
    let takeoverWait: Duration
    private let moves = Mutex<[String: Move]>([:])
    private let requests: AsyncStream<VolumeRecord>
    private let submit: AsyncStream<VolumeRecord>.Continuation

    /// `takeoverWait`: how long a move waits for a running node that holds the
    /// volume to unmount it (a drain sends the new node's Mount while the old task
    /// is still stopping) before it fails naming that node.
    public init(
        backend: any MovableBlockBackend, store: any VolumeStore, ledger: NodeLedger, poll: Duration = .milliseconds(500),
        takeoverWait: Duration = .seconds(60), logger: Logger
    ) {
        self.backend = backend
        self.store = store
        self.ledger = ledger
        self.poll = poll
        self.takeoverWait = takeoverWait
        self.logger = logger
        (requests, submit) = AsyncStream.makeStream()
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await record in requests.cancelOnGracefulShutdown() {
                group.addTask { await self.drive(record) }
            }
        }
    }

    /// Whether a move of the volume is in flight here.
    public func isMoving(_ name: String) -> Bool {
        moves.withLock { $0[name].map { $0.outcome == nil } ?? false }
    }

    /// The volumes whose moves are in flight here.
    public func moving() -> Set<String> {
        moves.withLock { Set($0.filter { $0.value.outcome == nil }.keys) }
    }

    /// "moving v from us-east-1a to us-east-1b: snapshot 40%", while one is in flight.
    public func progress(of name: String) -> String? {
        moves.withLock { $0[name].flatMap { $0.outcome == nil ? $0.progress : nil } }
    }

    /// Starts a move unless one is in flight.
    func start(_ record: VolumeRecord) {
        let fresh = moves.withLock { moves in
            guard moves[record.name] == nil else { return false }
            moves[record.name] = Move(progress: "moving \(record.name) to \(backend.zone): starting")
            return true
        }
        if fresh { submit.yield(record) }
    }

    /// Starts (or joins) the move and waits for it at most `wait`; past that it
    /// answers a retryable error saying how far the move is.
    func move(_ record: VolumeRecord, wait: Duration) async throws(CloudstorError) {
        start(record)
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        while true {
            let state = moves.withLock { $0[record.name] }
            if let outcome = state?.outcome {
                moves.withLock { _ = $0.removeValue(forKey: record.name) }
                return try outcome.get()
            }
            if state == nil { return }  // finished and collected by another waiter
            guard clock.now < deadline else {
                throw CloudstorError(.unavailable, "\(state?.progress ?? "moving \(record.name)"); the move goes on, try again")
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    private func drive(_ record: VolumeRecord) async {
        let outcome: Result<Void, CloudstorError>
        do {
            try ledger.recordMove(of: record.name, to: backend.zone)
            try await steps(record)
            try ledger.finishMove(of: record.name)
            outcome = .success(())
            logger.info("moved volume", metadata: ["volume": "\(record.name)", "zone": "\(backend.zone)"])
        } catch {
            // A stop leaves the move in the ledger: the next start resumes it.
            if !Task.isCancelled {
                logger.error("move failed", metadata: ["volume": "\(record.name)", "error": "\(error)"])
                try? ledger.finishMove(of: record.name)
            }
            outcome = .failure(error)
        }
        moves.withLock { $0[record.name]?.outcome = outcome }
    }

    private func report(_ record: VolumeRecord, from zone: String, _ step: String) {
        moves.withLock { $0[record.name]?.progress = "moving \(record.name) from \(zone) to \(backend.zone): \(step)" }
    }

    /// Observe, act, repeat, until the target is committed and the rest cleaned up.
    /// Transient errors wait and observe again; others end the move.
    private func steps(_ record: VolumeRecord) async throws(CloudstorError) {
        var fromZone = "?"
        var waited = 0
        let clock = ContinuousClock()
        var heldSince: ContinuousClock.Instant?
        while true {
            var holderWait = false
            do throws(CloudstorError) {
                let state = try await backend.observeMove(of: record)
                if let source = state.source { fromZone = source.zone }
                if let target = state.target, state.committed || state.source == nil {
                    report(record, from: fromZone, "cleaning up")
                    try await store.save(VolumeRecord(
                        name: record.name, backing: record.backing, options: record.options, cloudID: target.id, createdAt: record.createdAt))
                    try await backend.cleanUpMove(source: state.source?.id, snapshot: state.snapshot?.id, target: target.id)
                    return
                }
                guard let source = state.source else {
                    throw CloudstorError(.notFound, "volume \(record.name): its storage \(record.cloudID) is gone and no moved copy exists")
                }
                if source.zone == backend.zone, state.target == nil, source.movedFrom == nil {
                    return  // nothing to move (another node moved it here, or it never left)
                }
                if let target = state.target {
                    if target.state == "available" {
                        if let attachment = source.attachment {
                            // Still detaching from where it was unmounted before the snapshot
                            // (a move resumed after a stop): finish that. Mounted there again
                            // since, its data would be newer than the snapshot's.
                            guard source.holder == nil else {
                                throw CloudstorError(.failedPrecondition, "volume \(record.name) was mounted on \(attachment.node) during its move; mount it again")
                            }
                            report(record, from: fromZone, "detaching from \(attachment.node)")
                            try await backend.detach(id: source.id, from: attachment.node, force: !(try await backend.isRunning(node: attachment.node)))
                            continue
                        }
                        report(record, from: fromZone, "switching to \(target.id)")
                        try await backend.supersede(source.id, by: target.id)
                        waited = 0
                        continue
                    }
                    report(record, from: fromZone, "creating \(target.id) in \(backend.zone)")
                } else if let snapshot = state.snapshot {
                    if snapshot.state == "completed" {
                        report(record, from: fromZone, "creating the volume in \(backend.zone)")
                        try await backend.createMoveTarget(of: record, from: snapshot.id)
                        waited = 0
                        continue
                    }
                    if snapshot.state == "error" {
                        throw CloudstorError(.internalError, "the snapshot \(snapshot.id) of \(record.name) failed; the volume is unchanged in \(fromZone)")
                    }
                    report(record, from: fromZone, "snapshot \(snapshot.percent)%")
                } else {
                    if let attachment = source.attachment {
                        let running = try await backend.isRunning(node: attachment.node)
                        if source.holder != nil, running {
                            let since = heldSince ?? clock.now
                            heldSince = since
                            guard clock.now - since < takeoverWait else {
                                throw CloudstorError(
                                    .failedPrecondition,
                                    "volume \(record.name) is in use on \(attachment.node) in \(source.zone), which is running and holds it mounted: stop the task using it there, then try again")
                            }
                            report(record, from: fromZone, "waiting for \(attachment.node) to unmount it")
                            holderWait = true
                        } else {
                            if let since = heldSince {
                                logger.info(
                                    "the other node let go",
                                    metadata: ["volume": "\(record.name)", "node": "\(attachment.node)", "waited_ms": "\((clock.now - since).milliseconds)"])
                                heldSince = nil
                            }
                            if running {
                                // Unmounted there, so its data is whole on the volume: the
                                // snapshot starts now and runs while the volume detaches.
                                report(record, from: fromZone, "snapshot 0%")
                                try await backend.startMoveSnapshot(of: record)
                                waited = 0
                            }
                            report(record, from: fromZone, "detaching from \(attachment.node)")
                            try await backend.detach(id: source.id, from: attachment.node, force: !running)
                            continue
                        }
                    } else {
                        report(record, from: fromZone, "snapshot 0%")
                        try await backend.startMoveSnapshot(of: record)
                        waited = 0
                        continue
                    }
                }
            } catch {
                guard error.code == .unavailable else { throw error }
                logger.notice("move waits on a transient error", metadata: ["volume": "\(record.name)", "error": "\(error)"])
            }
            // A step waits on EC2 for seconds to minutes: look again soon at first, then
            // every few seconds; an Unmount elsewhere is looked for every other poll.
            waited += 1
            do { try await Task.sleep(for: holderWait ? poll * 2 : poll * min(waited, 5)) } catch {
                throw CloudstorError(.unavailable, "the daemon is stopping; the move resumes at its next start")
            }
        }
    }
}
