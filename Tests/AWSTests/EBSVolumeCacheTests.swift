import Testing

@testable import CloudstorAWS
@testable import CloudstorAWSProvider

extension SimulatorTests {
    /// A stack of more than one page: once the fill is stale a name is looked up
    /// alone, and a name found missing that way is missing for `negativeLifetime`
    /// only (another node may make it at any time), not for all of `lifetime`.
    @Test func aNameFoundMissingAloneIsLookedUpAgainSoon() async throws {
        try await withSimulator { _, transport in
            let ec2 = EC2Client(transport: transport)
            let stack = EBSTags.stackHash("cache-test")
            func make(_ name: String) async throws {
                _ = try await ec2.createVolume(
                    .init(
                        availabilityZone: "us-east-1a", sizeGiB: 1, volumeType: "gp3",
                        tags: [AWSTag(EBSTags.volume, name), AWSTag(EBSTags.stack, stack)], clientToken: "cs-\(name)"))
            }
            for i in 0..<6 { try await make("v\(i)") }
            let cache = EBSVolumeCache(ec2: ec2, stackHash: stack, lifetime: .seconds(2), negativeLifetime: .milliseconds(100), pageSize: 5)
            #expect(try await cache.all().count == 6)  // a fill of two pages
            try await Task.sleep(for: .milliseconds(2100))  // stale: from now on names are looked up alone

            #expect(try await cache.volumes(named: "late").isEmpty)
            try await make("late")  // by another node
            try await Task.sleep(for: .milliseconds(300))  // past negativeLifetime; a stall past lifetime would only refill
            #expect(try await cache.volumes(named: "late").count == 1)
            #expect(await cache.known(named: "late")?.count == 1)
        }
    }
}
