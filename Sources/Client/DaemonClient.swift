import CloudstorProto
import CloudstorRPC
import NIOCore
import NIOPosix

/// How clients (the shim, cloudstorctl, the bench, tests) reach the daemon: gRPC
/// over its unix socket, one connection made on the first call and again after
/// the daemon restarted.
public struct DaemonClient: Sendable {
    public static let defaultSocketPath = "/run/cloudstor/cloudstor.sock"

    public let rpc: RPCClient
    public var socketPath: String { rpc.socketPath }

    /// A client whose connection lives on `loop`.
    public init(socketPath: String, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()) {
        rpc = RPCClient(socketPath: socketPath, loop: loop)
    }

    /// Runs body with a client and closes its connection afterwards.
    public static func with<Result: Sendable>(
        socketPath: String, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(),
        _ body: (DaemonClient) async throws -> Result
    ) async throws -> Result {
        let client = DaemonClient(socketPath: socketPath, loop: loop)
        do {
            let result = try await body(client)
            await client.rpc.close()
            return result
        } catch {
            await client.rpc.close()
            throw error
        }
    }

    public func create(_ request: Cloudstor_V1_CreateRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_CreateResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.create, request, timeout: timeout)
    }

    public func remove(_ request: Cloudstor_V1_RemoveRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_RemoveResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.remove, request, timeout: timeout)
    }

    public func get(_ request: Cloudstor_V1_GetRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_GetResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.get, request, timeout: timeout)
    }

    public func list(_ request: Cloudstor_V1_ListRequest = .init(), timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_ListResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.list, request, timeout: timeout)
    }

    public func mount(_ request: Cloudstor_V1_MountRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_MountResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.mount, request, timeout: timeout)
    }

    public func unmount(_ request: Cloudstor_V1_UnmountRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_UnmountResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.unmount, request, timeout: timeout)
    }

    public func path(_ request: Cloudstor_V1_PathRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_PathResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.path, request, timeout: timeout)
    }

    public func capabilities(timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_CapabilitiesResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.capabilities, Cloudstor_V1_CapabilitiesRequest(), timeout: timeout)
    }

    public func listOrphans(timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_ListOrphansResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.listOrphans, Cloudstor_V1_ListOrphansRequest(), timeout: timeout)
    }

    public func pruneOrphans(_ request: Cloudstor_V1_PruneOrphansRequest, timeout: Duration? = nil) async throws(RPCError)
        -> Cloudstor_V1_PruneOrphansResponse
    {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.pruneOrphans, request, timeout: timeout)
    }

    public func clearHolds(_ request: Cloudstor_V1_ClearHoldsRequest, timeout: Duration? = nil) async throws(RPCError)
        -> Cloudstor_V1_ClearHoldsResponse
    {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.clearHolds, request, timeout: timeout)
    }

    public func createSnapshot(_ request: Cloudstor_V1_CreateSnapshotRequest, timeout: Duration? = nil) async throws(RPCError)
        -> Cloudstor_V1_CreateSnapshotResponse
    {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.createSnapshot, request, timeout: timeout)
    }

    public func listSnapshots(_ request: Cloudstor_V1_ListSnapshotsRequest, timeout: Duration? = nil) async throws(RPCError)
        -> Cloudstor_V1_ListSnapshotsResponse
    {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.listSnapshots, request, timeout: timeout)
    }

    public func modify(_ request: Cloudstor_V1_ModifyRequest, timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_ModifyResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.modify, request, timeout: timeout)
    }

    public func node(timeout: Duration? = nil) async throws(RPCError) -> Cloudstor_V1_NodeResponse {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.node, Cloudstor_V1_NodeRequest(), timeout: timeout)
    }

    public func deleteSnapshot(_ request: Cloudstor_V1_DeleteSnapshotRequest, timeout: Duration? = nil) async throws(RPCError)
        -> Cloudstor_V1_DeleteSnapshotResponse
    {
        try await rpc.unary(Cloudstor_V1_Volumes.Method.deleteSnapshot, request, timeout: timeout)
    }

    /// `grpc.health.v1.Health/Check`.
    public func check(_ request: Grpc_Health_V1_HealthCheckRequest, timeout: Duration? = nil) async throws(RPCError)
        -> Grpc_Health_V1_HealthCheckResponse
    {
        try await rpc.unary(Grpc_Health_V1_Health.Method.check, request, timeout: timeout)
    }

    /// The message a person should see for a failed call: the daemon's own words,
    /// or, when it could not be reached, where it was looked for.
    public static func describe(_ error: any Error, socketPath: String) -> String {
        guard let status = error as? RPCError else { return "\(error)" }
        switch status.code {
        case .unavailable where status.message.hasPrefix("cannot connect") || status.message.hasPrefix("the connection"):
            return "the cloudstor daemon is not reachable at \(socketPath) (is cloudstord running?): \(status.message)"
        case .deadlineExceeded:
            return "the cloudstor daemon did not answer in time: \(status.message)"
        default:
            return status.message
        }
    }
}
