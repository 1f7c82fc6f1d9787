import CloudstorProto
import GRPCCore

/// `grpc.health.v1.Health`: the daemon is SERVING as a whole ("") and for each of
/// its services once it answers at all.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    static let services: Set<String> = ["", "cloudstor.v1.Volumes", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]

    public init() {}

    public func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.services.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \(request.service)")
        }
        return .with { $0.status = .serving }
    }

    /// Sends the status once, then keeps the stream open until the client goes away
    /// or the server shuts down (the status of a running daemon does not change).
    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext
    ) async throws {
        let status: Grpc_Health_V1_HealthCheckResponse.ServingStatus = Self.services.contains(request.service) ? .serving : .serviceUnknown
        try await response.write(.with { $0.status = status })
        try await context.cancellation.cancelled
    }
}
