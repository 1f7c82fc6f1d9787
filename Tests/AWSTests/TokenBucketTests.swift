import Testing

@testable import CloudstorAWS

@Suite struct TokenBucketTests {
    @Test func aFullBucketLetsItsCapacityThroughThenMakesCallersWait() async throws {
        // Refilling one token every ~17 minutes: after the burst, nobody gets through.
        let bucket = TokenBucket(capacity: 3, rate: 0.001)
        for _ in 0..<3 { try await bucket.acquire() }
        let waiter = Task { try await bucket.acquire() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }

    @Test func tokensComeBackAtTheRefillRate() async throws {
        let bucket = TokenBucket(capacity: 1, rate: 200)
        for _ in 0..<5 { try await bucket.acquire() }  // each after a ~5 ms refill
    }

    @Test func imdsAddressComesFromTheEnvironment() async throws {
        let custom = InstanceMetadataClient(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338/"])
        #expect(await custom.endpoint == "http://127.0.0.1:1338")
        let standard = InstanceMetadataClient(environment: [:])
        #expect(await standard.endpoint == "http://169.254.169.254")
        try await custom.shutdown()
        try await standard.shutdown()
    }
}
