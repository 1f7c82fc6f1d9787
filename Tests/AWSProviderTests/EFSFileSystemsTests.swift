@testable import CloudstorService
import Foundation
import Logging
import Synchronization
import Testing

@testable import CloudstorAWS
@testable import CloudstorAWSProvider

/// The NFS mounts the daemon makes for EFS, seen by a host that records them.
@Suite struct EFSFileSystemsTests {
    final class RecordingHost: NodeHost {
        let mounted = Mutex<Set<String>>([])
        let nfs = Mutex<[[String]]>([])
        let failure: String?

        init(mounted: Set<String> = [], failure: String? = nil) {
            self.mounted.withLock { $0 = mounted }
            self.failure = failure
        }

        func findDevice(_ names: [String]) async throws(CloudstorError) -> String { "" }
        func filesystem(device: String) async throws(CloudstorError) -> String? { "ext4" }
        func makeFilesystem(device: String) async throws(CloudstorError) {}
        func growFilesystem(device: String) async throws(CloudstorError) -> Bool { false }
        func growMountedFilesystem(device: String) async throws(CloudstorError) -> Bool { false }
        func mount(device: String, at path: String) async throws(CloudstorError) {}
        func unmount(_ path: String) async throws(CloudstorError) {}
        func mountPoints() throws(CloudstorError) -> Set<String> { mounted.withLock { $0 } }
        func frozen<T: Sendable>(_ path: String, _ body: () async throws(CloudstorError) -> T) async throws(CloudstorError) -> T { try await body() }
        func thaw(_ path: String) async -> Bool { false }
        func mountNFS(_ source: String, at path: String, options: String) async throws(CloudstorError) {
            if let failure { throw CloudstorError(.failedPrecondition, failure) }
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)  // as mount(8) needs
            nfs.withLock { $0.append([source, path, options]) }
            mounted.withLock { _ = $0.insert(path) }
        }
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// An EFS client with nowhere to go: these paths make no call unless a mount fails.
    func withEFS(_ body: (EFSClient) async throws -> Void) async throws {
        let transport = AWSTransport(
            credentials: EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"]),
            endpoints: AWSEndpoints(region: "eu-west-1", global: "http://127.0.0.1:9"), retry: .init(maxAttempts: 1),
            logger: Self.quiet)
        do {
            try await body(EFSClient(transport: transport))
        } catch {
            try await transport.shutdown()
            throw error
        }
        try await transport.shutdown()
    }

    @Test func bothFileSystemsAreMountedWithEFSsOptionsWhereNothingIsMounted() async throws {
        let state = TemporaryState()
        var config = DaemonConfiguration()
        config.stateDirectory = state.path
        config.efsFileSystemID = "fs-0123"
        config.efsMaxioFileSystemID = "fs-0456"
        config.sharedRoot = "\(state.path)/efs"
        let host = RecordingHost()
        try await withEFS { efs in
            let shared = try await AWSProvider.sharedVolumes(
                config, efs: efs, stackHash: "h", node: "i-1", region: "eu-west-1", zone: "eu-west-1a", host: host, logger: Self.quiet)
            #expect(shared != nil)
        }
        let options = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
        #expect(host.nfs.withLock { $0 } == [
            ["fs-0123.efs.eu-west-1.amazonaws.com:/", "\(state.path)/efs", options],
            ["fs-0456.efs.eu-west-1.amazonaws.com:/", "\(state.path)/shared-maxio", options],
        ])
    }

    @Test func aRootThatIsMountedAlreadyIsUsedAsItIs() async throws {
        let state = TemporaryState()
        var config = DaemonConfiguration()
        config.stateDirectory = state.path
        config.efsFileSystemID = "fs-0123"
        try FileManager.default.createDirectory(atPath: config.resolvedSharedRoot, withIntermediateDirectories: true)
        let host = RecordingHost(mounted: [config.resolvedSharedRoot])
        try await withEFS { efs in
            let shared = try await AWSProvider.sharedVolumes(
                config, efs: efs, stackHash: "h", node: "i-1", region: "eu-west-1", zone: "eu-west-1a", host: host, logger: Self.quiet)
            #expect(shared?.fileSystems.map { $0.cloudID("v") } == ["fs-0123:/v"])
        }
        #expect(host.nfs.withLock { $0 }.isEmpty)
    }

    @Test func aFailedMountSaysWhatFailedAndWhatToCheck() async throws {
        let state = TemporaryState()
        var config = DaemonConfiguration()
        config.stateDirectory = state.path
        config.efsFileSystemID = "fs-0123"
        let host = RecordingHost(failure: "mount.nfs4: Connection timed out")
        try await withEFS { efs in
            let error = await #expect(throws: CloudstorError.self) {
                try await AWSProvider.sharedVolumes(
                    config, efs: efs, stackHash: "h", node: "i-1", region: "eu-west-1", zone: "eu-west-1a", host: host, logger: Self.quiet)
            }
            #expect(error?.message.contains("cannot mount EFS file system fs-0123 at \(state.path)/shared") == true)
            #expect(error?.message.contains("Connection timed out") == true)
        }
    }
}

/// A state directory of its own, removed afterwards.
final class TemporaryState: Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cloudstor-test-\(UUID().uuidString)").path
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
