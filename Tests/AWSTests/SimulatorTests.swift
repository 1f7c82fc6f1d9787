import Foundation
import Logging
import Metrics
import MetricsTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import CloudstorAWS

/// The AWS layer against moto behind tools/ec2sim, which enforces SigV4 and AWS's
/// rules, makes states last and injects faults. Needs root (the simulator attaches
/// loop devices) and python3 with moto (scripts/install-deps.sh).
@Suite(.serialized, .enabled(if: getuid() == 0, "ec2sim plays the EBS data plane with loop devices: run as root"))
struct SimulatorTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let fastRetry = RetryPolicy(maxAttempts: 10, base: .milliseconds(5), throttlingBase: .milliseconds(10), cap: .milliseconds(200))

    /// Runs body with a fresh simulator and a transport signed with the given key.
    func withSimulator(
        secret: String? = nil, metrics: (any MetricsFactory)? = nil,
        _ body: (Simulator, AWSTransport) async throws -> Void
    ) async throws {
        let sim = try await Simulator.start()
        do {
            let (id, realSecret) = try await sim.credentials()
            let transport = AWSTransport(
                credentials: EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": id, "AWS_SECRET_ACCESS_KEY": secret ?? realSecret]),
                endpoints: AWSEndpoints(region: "us-east-1", global: sim.url), retry: Self.fastRetry,
                metrics: metrics ?? TestMetrics(), logger: Self.quiet)
            do {
                try await body(sim, transport)
            } catch {
                try await transport.shutdown()
                throw error
            }
            try await transport.shutdown()
        } catch {
            try await sim.stop()
            throw error
        }
        try await sim.stop()
    }

    func waitFor(_ what: String, _ check: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for \(what)")
        throw SimulatorError("timed out waiting for \(what)")
    }

    /// The AWS error code the body fails with, nil if it succeeds.
    func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as AWSError {
            return error.code
        } catch {
            return "not an AWSError: \(error)"
        }
    }

    @Test func signaturesAreAcceptedAndAWrongSecretIsRejected() async throws {
        try await withSimulator { _, transport in
            let page = try await EC2Client(transport: transport).describeVolumes()
            #expect(page.items.isEmpty)
        }
        try await withSimulator(secret: "not-the-secret") { _, transport in
            let error = await code { _ = try await EC2Client(transport: transport).describeVolumes() }
            #expect(error == "AuthFailure")
        }
    }

    @Test func volumeLifecycleFollowsAWSRules() async throws {
        try await withSimulator { sim, transport in
            let ec2 = EC2Client(transport: transport)
            let a = try await sim.addNode(zone: "us-east-1a")
            let a2 = try await sim.addNode(zone: "us-east-1a")
            let b = try await sim.addNode(zone: "us-east-1b")
            let tags = [AWSTag("CloudstorVolume", "data"), AWSTag("StackID", "0cc175b9c0f1b6a831c399e269772661")]

            let created = try await ec2.createVolume(
                .init(availabilityZone: "us-east-1a", sizeGiB: 1, volumeType: "gp3", iops: 3000, tags: tags, clientToken: "cs-data-1"))
            #expect(created.state == "creating" && created.sizeGiB == 1 && created.tags["CloudstorVolume"] == "data")
            let again = try await ec2.createVolume(
                .init(availabilityZone: "us-east-1a", sizeGiB: 1, volumeType: "gp3", iops: 3000, tags: tags, clientToken: "cs-data-1"))
            #expect(again.volumeID == created.volumeID)
            #expect(await code {
                _ = try await ec2.createVolume(.init(availabilityZone: "us-east-1a", sizeGiB: 2, volumeType: "gp3", clientToken: "cs-data-1"))
            } == "IdempotentParameterMismatch")

            let id = created.volumeID
            #expect(await code { _ = try await ec2.attachVolume(volumeID: id, instanceID: a.instance_id, device: "/dev/xvdf") } == "IncorrectState")
            try await waitFor("available") { try await ec2.describeVolumes(ids: [id]).items.first?.state == "available" }

            let listed = try await ec2.describeAllVolumes(filters: [.tag("StackID", "0cc175b9c0f1b6a831c399e269772661")])
            #expect(listed.map(\.volumeID) == [id])

            #expect(await code { _ = try await ec2.attachVolume(volumeID: id, instanceID: b.instance_id, device: "/dev/xvdf") } == "InvalidVolume.ZoneMismatch")
            let attaching = try await ec2.attachVolume(volumeID: id, instanceID: a.instance_id, device: "/dev/xvdf")
            #expect(attaching.state == "attaching")
            #expect(await code { _ = try await ec2.attachVolume(volumeID: id, instanceID: a2.instance_id, device: "/dev/xvdg") } == "VolumeInUse")
            #expect(await code { try await ec2.deleteVolume(volumeID: id) } == "VolumeInUse")
            try await waitFor("attached") { try await ec2.describeVolumes(ids: [id]).items.first?.attachments.first?.state == "attached" }
            // The data plane: the device appears on node a only.
            let link = "\(a.device_dir)/nvme-Amazon_Elastic_Block_Store_\(id.replacingOccurrences(of: "-", with: ""))"
            #expect(FileManager.default.fileExists(atPath: link))

            let instances = try await ec2.describeInstances(ids: [a.instance_id])
            #expect(instances.first?.availabilityZone == "us-east-1a" && instances.first?.state == "running")

            _ = try await ec2.detachVolume(volumeID: id, instanceID: a.instance_id)
            try await waitFor("detached") { try await ec2.describeVolumes(ids: [id]).items.first?.state == "available" }
            #expect(!FileManager.default.fileExists(atPath: link))
            #expect(await code { _ = try await ec2.detachVolume(volumeID: id, instanceID: a.instance_id) } == "IncorrectState")

            let snapshot = try await ec2.createSnapshot(volumeID: id, tags: tags)
            #expect(snapshot.state == "pending")
            try await waitFor("snapshot completed") {
                try await ec2.describeSnapshots(ids: [snapshot.snapshotID]).items.first?.state == "completed"
            }
            let moved = try await ec2.createVolume(
                .init(availabilityZone: "us-east-1b", sizeGiB: nil, volumeType: "gp3", snapshotID: snapshot.snapshotID,
                    tags: tags + [AWSTag("CloudstorGeneration", "2")], clientToken: "cs-data-2"))
            #expect(moved.snapshotID == snapshot.snapshotID && moved.availabilityZone == "us-east-1b")

            try await ec2.createTags(resourceIDs: [id], tags: [AWSTag("CloudstorSuperseded", "true")])
            #expect(try await ec2.describeVolumes(ids: [id]).items.first?.tags["CloudstorSuperseded"] == "true")
            try await ec2.deleteTags(resourceIDs: [id], keys: ["CloudstorSuperseded"])
            #expect(try await ec2.describeVolumes(ids: [id]).items.first?.tags["CloudstorSuperseded"] == nil)

            try await ec2.deleteVolume(volumeID: id)
            try await waitFor("new volume available") { try await ec2.describeVolumes(ids: [moved.volumeID]).items.first?.state == "available" }

            // A node that died with the volume attached: only a forced detach frees it.
            _ = try await ec2.attachVolume(volumeID: moved.volumeID, instanceID: b.instance_id, device: "/dev/xvdf")
            try await waitFor("attached to b") {
                try await ec2.describeVolumes(ids: [moved.volumeID]).items.first?.attachments.first?.state == "attached"
            }
            _ = try await sim.call("POST", "instances/\(b.instance_id)/stop", body: ["force": true])
            #expect(try await ec2.describeInstances(ids: [b.instance_id]).first?.state == "stopped")
            _ = try await ec2.detachVolume(volumeID: moved.volumeID, instanceID: b.instance_id, force: true)
            try await waitFor("force-detached") { try await ec2.describeVolumes(ids: [moved.volumeID]).items.first?.state == "available" }
            try await ec2.deleteVolume(volumeID: moved.volumeID)
            try await ec2.deleteSnapshot(snapshotID: snapshot.snapshotID)
            #expect(await code { _ = try await ec2.describeVolumes(ids: [id]) } == "InvalidVolume.NotFound")
            #expect(await code { try await ec2.deleteSnapshot(snapshotID: snapshot.snapshotID) } == "InvalidSnapshot.NotFound")
        }
    }

    @Test func describeVolumesFollowsEveryPage() async throws {
        try await withSimulator { _, transport in
            let ec2 = EC2Client(transport: transport)
            for i in 0..<7 {
                _ = try await ec2.createVolume(
                    .init(availabilityZone: "us-east-1a", sizeGiB: 1, volumeType: "standard", tags: [AWSTag("StackID", "s")], clientToken: "page-\(i)"))
            }
            let first = try await ec2.describeVolumes(filters: [.tag("StackID", "s")], maxResults: 5)
            #expect(first.items.count == 5 && first.nextToken != nil)
            #expect(try await ec2.describeAllVolumes(filters: [.tag("StackID", "s")], pageSize: 5).count == 7)
        }
    }

    @Test func throttlingIsRetriedAndCounted() async throws {
        let metrics = TestMetrics()
        try await withSimulator(metrics: metrics) { sim, transport in
            try await sim.fault(["type": "throttle", "rate": 0.3, "actions": ["CreateVolume"]])
            let ec2 = EC2Client(transport: transport)
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await ec2.createVolume(
                            .init(availabilityZone: "us-east-1a", sizeGiB: 1, volumeType: "standard", clientToken: "batch-\(i)")
                        ).volumeID
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(ids.count == 20)
            let retries = metrics.counters(label: "cloudstor_aws_retries_total").map(\.totalValue).reduce(0, +)
            let throttled = metrics.counters(label: "cloudstor_aws_requests_total", dimensions: [
                ("service", "ec2"), ("action", "CreateVolume"), ("outcome", "RequestLimitExceeded"),
            ]).map(\.totalValue).reduce(0, +)
            let succeeded = metrics.counters(label: "cloudstor_aws_requests_total", dimensions: [
                ("service", "ec2"), ("action", "CreateVolume"), ("outcome", "ok"),
            ]).map(\.totalValue).reduce(0, +)
            #expect(retries > 0 && retries == throttled)
            #expect(succeeded == 20)
            // The simulator saw as many throttled answers as the client counted.
            let stats = try await sim.stats()
            #expect("\(stats)".contains("throttle"))
        }
    }

    @Test func serverErrorsAndDroppedConnectionsAreRetriedClientErrorsAreNot() async throws {
        let metrics = TestMetrics()
        try await withSimulator(metrics: metrics) { sim, transport in
            let ec2 = EC2Client(transport: transport)
            try await sim.fault(["type": "error", "status": 503, "count": 2, "actions": ["DescribeVolumes"]])
            try await sim.fault(["type": "drop", "count": 1, "actions": ["DescribeSnapshots"]])
            _ = try await ec2.describeVolumes()
            _ = try await ec2.describeSnapshots()
            let outcomes = metrics.counters(label: "cloudstor_aws_requests_total").map { counter in
                (counter.dimensions.first { $0.0 == "outcome" }?.1 ?? "", counter.totalValue)
            }
            #expect(outcomes.contains { $0.0 == "Transport" && $0.1 == 1 })
            #expect(outcomes.contains { $0.1 == 2 && $0.0 != "ok" && $0.0 != "Transport" })
            let before = metrics.counters(label: "cloudstor_aws_retries_total").map(\.totalValue).reduce(0, +)
            #expect(await code { try await ec2.deleteVolume(volumeID: "vol-0000000000000dead") } == "InvalidVolume.NotFound")
            #expect(metrics.counters(label: "cloudstor_aws_retries_total").map(\.totalValue).reduce(0, +) == before)
        }
    }

    @Test func instanceMetadataAndRoleCredentials() async throws {
        try await withSimulator { sim, transport in
            let node = try await sim.addNode(zone: "us-east-1c")
            let metadata = InstanceMetadataClient(endpoint: node.imds_url)
            #expect(try await metadata.instanceID() == node.instance_id)
            #expect(try await metadata.availabilityZone() == "us-east-1c")
            #expect(try await metadata.region() == "us-east-1")
            #expect(try await AWSRegion.resolve(environment: [:], metadata: metadata) == "us-east-1")
            // The role's session credentials sign requests moto accepts.
            let role = try #require(try await InstanceRoleCredentialsProvider(metadata: metadata).credentials())
            #expect(role.sessionToken != nil && role.expiration != nil)
            let roleTransport = AWSTransport(
                credentials: CredentialsChain.standard(environment: ["HOME": "/nonexistent"], metadata: metadata),
                endpoints: AWSEndpoints(region: "us-east-1", global: sim.url), retry: Self.fastRetry, metrics: TestMetrics(),
                logger: Self.quiet)
            _ = try await EC2Client(transport: roleTransport).describeInstances(ids: [node.instance_id])
            try await roleTransport.shutdown()
        }
    }

    @Test func efsAccessPoints() async throws {
        try await withSimulator { _, transport in
            let efs = EFSClient(transport: transport)
            // CreateFileSystem is not something Cloudstor does; the test makes one directly.
            let made = try await transport.send(
                AWSRequest(
                    service: "elasticfilesystem", action: "CreateFileSystem", protocol: .restJSON, method: "POST",
                    path: "/2015-02-01/file-systems", headers: [("Content-Type", "application/json")],
                    body: Array(#"{"CreationToken":"cloudstor-test","PerformanceMode":"generalPurpose"}"#.utf8), mutating: true))
            let fsID = try #require((try JSONSerialization.jsonObject(with: Data(made.body)) as? [String: Any])?["FileSystemId"] as? String)

            let (systems, _) = try await efs.describeFileSystems(fileSystemID: fsID)
            #expect(systems.map(\.FileSystemId) == [fsID])
            let (targets, _) = try await efs.describeMountTargets(fileSystemID: fsID)
            #expect(targets.isEmpty)
            let point = try await efs.createAccessPoint(
                .init(clientToken: "cs-shared-1", fileSystemID: fsID, path: "/cloudstor/shared-1", tags: [EFSTag(Key: "CloudstorVolume", Value: "shared-1")]))
            #expect(point.FileSystemId == fsID)
            let (points, _) = try await efs.describeAccessPoints(fileSystemID: fsID)
            #expect(points.map(\.AccessPointId) == [point.AccessPointId])
            #expect(points.first?.RootDirectory?.Path == "/cloudstor/shared-1")
            try await efs.deleteAccessPoint(id: point.AccessPointId)
            #expect(try await efs.describeAccessPoints(fileSystemID: fsID).0.isEmpty)
            #expect(await code { _ = try await efs.describeFileSystems(fileSystemID: "fs-00000000") } == "FileSystemNotFound")
        }
    }
}
