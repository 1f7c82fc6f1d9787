import Foundation
import Testing

@testable import CloudstorService

@Suite struct CatalogueTests {
    let record = VolumeRecord(
        name: "v", backing: "relocatable", options: ["size": "1"], cloudID: "/img/v.img", createdAt: "2026-01-01T00:00:00Z")

    @Test func holdsCountRepeatsAndSurviveReopening() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("catalogue-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        do {
            let catalogue = try Catalogue(path: "\(dir)/c.sqlite")
            try catalogue.insert(record)
            #expect(try catalogue.addHold(on: "v", id: "a") == 1)
            #expect(try catalogue.addHold(on: "v", id: "a") == 2)
            #expect(try catalogue.addHold(on: "v", id: "b") == 3)
        }
        let reopened = try Catalogue(path: "\(dir)/c.sqlite")
        #expect(try reopened.volume(named: "v") == record)
        #expect(try reopened.holds(on: "v") == ["a": 2, "b": 1])
        #expect(try reopened.releaseHold(on: "v", id: "a"))
        #expect(try !reopened.releaseHold(on: "v", id: "nobody"))
        #expect(try reopened.holdTotals() == ["v": 2])
    }

    @Test func aHeldVolumeCannotBeDeleted() throws {
        let catalogue = try Catalogue(path: ":memory:")
        try catalogue.insert(record)
        try catalogue.addHold(on: "v", id: "a")
        #expect(throws: CloudstorError.self) { try catalogue.delete(named: "v") }
        try catalogue.releaseHold(on: "v", id: "a")
        try catalogue.delete(named: "v")
        #expect(try catalogue.volume(named: "v") == nil)
    }

    @Test func aHoldNeedsAVolume() throws {
        let catalogue = try Catalogue(path: ":memory:")
        #expect(throws: CloudstorError.self) { try catalogue.addHold(on: "ghost", id: "a") }
    }

    @Test func anUnopenableCatalogueSaysWhere() {
        let error = #expect(throws: CloudstorError.self) { try Catalogue(path: "/proc/no/such/dir/c.sqlite") }
        #expect(error?.message.contains("/proc/no/such/dir/c.sqlite") == true)
    }
}
