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

    @Test func imdsAddressComesFromTheEnvironment() async {
        let custom = InstanceMetadataClient(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338/"])
        #expect(await custom.endpoint == "http://127.0.0.1:1338")
        let standard = InstanceMetadataClient(environment: [:])
        #expect(await standard.endpoint == "http://169.254.169.254")
    }
}

@Suite struct RegionTests {
    @Test func environmentFirstThenMetadata() async throws {
        let nobody = InstanceMetadataClient(endpoint: "http://127.0.0.1:9")
        #expect(try await AWSRegion.resolve(environment: ["AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "x"], metadata: nobody) == "eu-west-3")
        #expect(try await AWSRegion.resolve(environment: ["AWS_DEFAULT_REGION": "ap-south-1"], metadata: nobody) == "ap-south-1")
        let error = await #expect(throws: AWSError.self) { try await AWSRegion.resolve(environment: [:], metadata: nobody) }
        #expect(error?.code == "NoRegion" && error?.message.contains("AWS_REGION") == true)
    }
}
