import CloudstorSupport
import Logging
import ServiceLifecycle
import Synchronization

/// Moves relocatable volumes into this node's zone: runs `MovePlan` (observe what
/// exists, take the next step, repeat). Runs as a Service, outside any volume's
/// lock, so a move of minutes never queues other calls; a second Mount of a moving
/// volume joins the move in flight. A stop leaves the move and its claim as they
/// are: the next start resumes it.
public final class Relocator: Service, Sendable {
    private struct Move {
        var progress: String
        var phase = "starting"
        var started = ContinuousClock.now
        var outcome: Result<Void, CloudstorError>?
        /// Mounts waiting for the outcome, by waiter number.
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private struct State {
        var moves: [String: Move] = [:]
        var lastWaiter = 0
    }

    let backend: any MovableBlockBackend
    let store: any VolumeStore
    let ledger: NodeLedger
    let logger: Logger
    let poll: Duration
    let takeoverWait: Duration
    private let state = Mutex(State())
    private let requests: AsyncStream<VolumeRecord>
    private let submit: AsyncStream<VolumeRecord>.Continuation

    /// `takeoverWait`: how long a move waits for a running node that holds the
    /// volume to unmount it (a drain sends the new node's Mount while the old task
    /// is still stopping) before it gives up its claim and fails naming that node.
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
            // Stopping: the moves in flight stop where they are; the next start resumes them.
            group.cancelAll()
        }
    }

    /// Whether a move of the volume is in flight here.
    public func isMoving(_ name: String) -> Bool {
        state.withLock { $0.moves[name].map { $0.outcome == nil } ?? false }
    }

    /// The volumes whose moves are in flight here.
    public func moving() -> Set<String> {
        state.withLock { Set($0.moves.filter { $0.value.outcome == nil }.keys) }
    }

    /// The moves in flight here by phase (`MoveStep.phase`).
    public func movesByPhase() -> [String: Int] {
        state.withLock { state in
            state.moves.values.filter { $0.outcome == nil }.reduce(into: [:]) { $0[$1.phase, default: 0] += 1 }
        }
    }

    /// How long the oldest move in flight has been going; zero when none is.
    public func oldestMove() -> Duration {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.moves.values.filter { $0.outcome == nil }.map { now - $0.started }.max() ?? .zero
        }
    }

    /// "moving v from us-east-1a to us-east-1b: snapshot 40%", while one is in flight.
    public func progress(of name: String) -> String? {
        state.withLock { $0.moves[name].flatMap { $0.outcome == nil ? $0.progress : nil } }
    }

    /// Starts a move unless one is in flight.
    func start(_ record: VolumeRecord) {
        let fresh = state.withLock { state in
            guard state.moves[record.name] == nil else { return false }
            state.moves[record.name] = Move(progress: "moving \(record.name) to \(backend.zone): starting")
            return true
        }
        if fresh { submit.yield(record) }
    }

    /// Starts (or joins) the move and waits for its outcome at most `wait`; past
    /// that it answers a retryable error saying how far the move is.
    func move(_ record: VolumeRecord, wait: Duration) async throws(CloudstorError) {
        start(record)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.settled(record.name) }
            group.addTask { try? await Task.sleep(for: wait) }
            await group.next()
            group.cancelAll()
        }
        let move = state.withLock { state in
            let move = state.moves[record.name]
            if move?.outcome != nil { state.moves[record.name] = nil }
            return move
        }
        guard let move else { return }  // finished and collected by another waiter
        if let outcome = move.outcome { return try outcome.get() }
        if Task.isCancelled { throw CloudstorError(.unavailable, "the call was cancelled; the move of \(record.name) goes on") }
        throw CloudstorError(.unavailable, "\(move.progress); the move goes on, try again")
    }

    /// Returns once the move of `name` has an outcome (or there is none), or the task is cancelled.
    private func settled(_ name: String) async {
        let waiter = state.withLock { state in
            state.lastWaiter += 1
            return state.lastWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    guard !Task.isCancelled, state.moves[name] != nil, state.moves[name]?.outcome == nil else { return true }
                    state.moves[name]?.waiters[waiter] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.moves[name]?.waiters.removeValue(forKey: waiter) }?.resume()
        }
    }

    private func drive(_ record: VolumeRecord) async {
        let started = ContinuousClock.now
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
        let result = switch outcome {
        case .success: "ok"
        case .failure: Task.isCancelled ? "stopped" : "failed"
        }
        DaemonMetrics.moveFinished(kind: "zone", outcome: result, since: started)
        let waiters = state.withLock { state in
            state.moves[record.name]?.outcome = outcome
            defer { state.moves[record.name]?.waiters = [:] }
            return state.moves[record.name]?.waiters.values.map { $0 } ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    func report(_ record: VolumeRecord, from zone: String, _ step: MoveStep, _ text: String) {
        state.withLock { state in
            state.moves[record.name]?.progress = "moving \(record.name) from \(zone) to \(backend.zone): \(text)"
            state.moves[record.name]?.phase = step.phase
        }
    }
}
