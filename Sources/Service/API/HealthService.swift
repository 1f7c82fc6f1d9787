import CloudstorProto
import CloudstorRPC

/// `grpc.health.v1.Health`: the daemon is SERVING as a whole ("") and for each of
/// its services once it answers at all.
public struct HealthService: Grpc_Health_V1_Health.Handler {
    static let services: Set<String> = ["", Cloudstor_V1_Volumes.name, Grpc_Health_V1_Health.name, Grpc_Reflection_V1alpha_ServerReflection.name]

    public init() {}

    public func check(_ request: Grpc_Health_V1_HealthCheckRequest) throws(RPCError) -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.services.contains(request.service) else {
            throw RPCError(.notFound, "unknown service \(request.service)")
        }
        return .with { $0.status = .serving }
    }

    /// Sends the status once, then keeps the stream open until the client goes away
    /// or the server shuts down (the status of a running daemon does not change).
    public func watch(
        _ requests: RPCMessages<Grpc_Health_V1_HealthCheckRequest>, _ response: RPCResponseWriter<Grpc_Health_V1_HealthCheckResponse>
    ) async throws {
        var iterator = requests.makeAsyncIterator()
        guard let request = try await iterator.next() else { throw RPCError(.internalError, "the request carried no message") }
        try await response.write(.with { $0.status = Self.services.contains(request.service) ? .serving : .serviceUnknown })
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
