import CloudstorSupport
import GRPCCore
import NIOCore
import Synchronization

/// A deadline for one plugin call's RPC: past it the call is cancelled (its stream
/// reset, so the daemon's handler is cancelled too) and DEADLINE_EXCEEDED thrown.
/// It does what `CallOptions.timeout` does, with one timer on the event loop in
/// place of grpc-swift's task group and sleeping child task, whose teardown the
/// reply waited for: 50–80 µs a call (`make bench`, BENCHMARKS.md).
struct CallDeadline {
    let timeout: Duration
    let loop: any EventLoop

    func run<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let expired = Flag()
        let call = Task(executorPreference: EventLoopExecutor(loop)) { try await body() }
        let timer = loop.scheduleTask(in: TimeAmount(timeout)) {
            expired.set()
            call.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await call.value
            } onCancel: {
                call.cancel()
            }
        } catch {
            guard expired.isSet else { throw error }
            throw RPCError(code: .deadlineExceeded, message: "no answer within \(timeout)")
        }
    }

    private final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }
}
