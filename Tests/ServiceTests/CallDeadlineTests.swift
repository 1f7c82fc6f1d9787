import GRPCCore
import NIOPosix
import Synchronization
import Testing

@testable import CloudstorShim

@Suite struct CallDeadlineTests {
    let loop = MultiThreadedEventLoopGroup.singleton.any()

    @Test func aCallThatAnswersInTimeGivesItsAnswer() async throws {
        let answer = try await CallDeadline(timeout: .seconds(5), loop: loop).run { "answered" }
        #expect(answer == "answered")
    }

    /// The call itself is cancelled (its stream would be reset), not only waited for.
    @Test func aCallPastItsDeadlineIsCancelledAndSaysSo() async throws {
        let cancelled = Atomic(false)
        let error = await #expect(throws: RPCError.self) {
            try await CallDeadline(timeout: .milliseconds(50), loop: loop).run { () async throws -> String in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.store(true, ordering: .relaxed)
                    throw error
                }
                return "too late"
            }
        }
        #expect(error?.code == .deadlineExceeded)
        #expect(error?.message == "no answer within 0.05 seconds")
        let sawCancel = cancelled.load(ordering: .relaxed)
        #expect(sawCancel)
    }

    @Test func theCallsOwnErrorComesOutAsItIs() async throws {
        let error = await #expect(throws: RPCError.self) {
            try await CallDeadline(timeout: .seconds(5), loop: loop).run { () async throws -> Int in
                throw RPCError(code: .notFound, message: "no such volume: v")
            }
        }
        #expect(error?.code == .notFound)
        #expect(error?.message == "no such volume: v")
    }

    @Test func cancellingTheCallerCancelsTheCall() async throws {
        let deadline = CallDeadline(timeout: .seconds(60), loop: loop)
        let caller = Task {
            try await deadline.run { () async throws -> String in
                try await Task.sleep(for: .seconds(30))
                return "too late"
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
    }
}
