import Foundation
import Testing

@testable import CloudstorService

/// Relocatable volumes on a cluster root, as several nodes see it: the holds and
/// leases that keep one writer per image (no loop device needed).
@Suite struct ClusterImageBackendTests {
    let root = TemporaryDirectory()

    func node(_ name: String, takeoverAfter: Duration? = nil) throws -> ClusterImageBackend {
        try ClusterImageBackend(root: root.path, node: name, takeoverAfter: takeoverAfter, logger: .quiet)
    }

    func volume(_ name: String, on backend: ClusterImageBackend) async throws {
        _ = try await backend.create(name: name, options: BlockOptions(values: ["size": "1"], sizeGiB: 1))
        try await ClusterVolumeStore(backend: backend).save(
            VolumeRecord(name: name, backing: .relocatable, options: ["size": "1"], cloudID: "", createdAt: "2026-12-07T00:00:00Z"))
    }

    @Test func ofTwoNodesTakingOneHoldAtOnceExactlyOneGetsIt() async throws {
        let nodes = [try node("a"), try node("b")]
        try await volume("v", on: nodes[0])
        for round in 0..<20 {
            let outcomes = try await withThrowingTaskGroup(of: (String, String?).self) { group in
                for backend in nodes {
                    group.addTask { (backend.node, try await backend.fs.holdAlone("v", node: backend.node, since: "now")) }
                }
                var all: [(String, String?)] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            let winners = outcomes.filter { $0.1 == nil }.map(\.0)
            #expect(winners.count == 1, "round \(round): \(outcomes)")
            let winner = try #require(winners.first)
            #expect(outcomes.filter { $0.1 != nil }.allSatisfy { $0.1 == winner })
            #expect(try nodes[0].fs.holders("v").map(\.node) == [winner])
            try await nodes.first { $0.node == winner }!.setHeld(id: nodes[0].fs.path("v"), false)
            #expect(try nodes[0].fs.holders("v").isEmpty)
        }
    }

    @Test func anotherNodesHoldShowsAsItsAttachmentWithItsLease() async throws {
        let a = try node("a")
        let b = try node("b")
        try await volume("v", on: a)
        #expect(try await a.fs.holdAlone("v", node: "a", since: "now") == nil)
        let seen = try #require(try await b.describe(id: b.fs.path("v"), fresh: true))
        #expect(seen.holder == "a")
        #expect(seen.attachment?.node == "a")
        #expect(seen.attachment?.note?.contains("lease was renewed 0 s ago") == true)
        #expect(seen.sizeGiB == 1)
        // Removal is refused while a holds it, naming a.
        await #expect(throws: CloudstorError.self) { try await b.remove(id: b.fs.path("v")) }
        #expect(try await b.clearHolds(of: "a") == ["v"])
        try await b.remove(id: b.fs.path("v"))
        #expect(try await b.describe(id: b.fs.path("v"), fresh: true) == nil)
    }

    @Test func aNodeIsRunningUntilAnOperatorSaysOtherwiseOrItsLeaseOutlivesTakeoverAfter() async throws {
        let a = try node("a")
        let patient = try node("b")
        let hasty = try node("c", takeoverAfter: .seconds(1))
        try await Task.sleep(for: .milliseconds(1100))
        // c has renewed its own lease for a second now; a renews its own.
        _ = try a.fs.renewLease()
        #expect(try await patient.isRunning(node: "a"))
        #expect(try await hasty.isRunning(node: "a"))
        let lease = "\(root.path)/.cloudstor/relocatable/leases/a"
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: lease)
        #expect(try await patient.isRunning(node: "a"))
        #expect(try await !hasty.isRunning(node: "a"))
        #expect(try await hasty.isRunning(node: "never-seen"))
        // A node that was itself just started (or away) takes nothing over yet.
        #expect(try await node("d", takeoverAfter: .seconds(1)).isRunning(node: "a"))
    }

    @Test func idsOutsideTheImagesDirectoryAreRefused() throws {
        let a = try node("a")
        for id in ["/etc/passwd", a.fs.path("../volumes/v"), a.fs.path("a/b"), a.fs.path(".hidden"), a.fs.path("")] {
            #expect(throws: CloudstorError.self) { try a.name(of: id) }
        }
        #expect(try a.name(of: a.fs.path("v")) == "v")
    }
}
