import Synchronization
import Testing

@testable import CloudstorService

@Suite struct KeyedLockTests {
    @Test func oneKeyRunsOneAtATime() async throws {
        let lock = KeyedLock()
        let inside = Concurrency()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await lock.withLock("v") {
                        inside.enter()
                        await Task.yield()
                        inside.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(inside.most == 1)
    }

    @Test func aThrowingBodyReleasesTheLock() async throws {
        struct Boom: Error {}
        let lock = KeyedLock()
        await #expect(throws: Boom.self) { try await lock.withLock("v") { throw Boom() } }
        #expect(try await lock.withLock("v") { 42 } == 42)
    }
}

/// Counts how many tasks are inside a section at once.
final class Concurrency: Sendable {
    private let state = Mutex((current: 0, most: 0))

    func enter() { state.withLock { $0.current += 1; $0.most = max($0.most, $0.current) } }
    func leave() { state.withLock { $0.current -= 1 } }
    var most: Int { state.withLock { $0.most } }
}
