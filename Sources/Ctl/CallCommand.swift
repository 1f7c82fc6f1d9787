import ArgumentParser
import CloudstorClient
import CloudstorProto
import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// `cloudstorctl call METHOD --json '{…}'`: any unary RPC from its JSON form, the
/// reply printed as JSON, like grpcurl.
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Send any RPC from its JSON form and print the JSON reply.",
        discussion: "Methods: " + RPCMethod.all.map(\.name).joined(separator: ", ")
            + ". The service may be left out (Get), and '.' may stand for '/'.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The method, e.g. cloudstor.v1.Volumes/Get or Get.") var method: String
    @Option(help: "The request message in proto JSON.") var json = "{}"

    func run() async throws {
        guard let rpc = RPCMethod.find(method) else {
            throw ValidationError("unknown method \(method); known: \(RPCMethod.all.map(\.name).joined(separator: ", "))")
        }
        let send: RPCMethod.Send
        do {
            send = try rpc.prepare(json)
        } catch {
            printError("cloudstorctl: invalid JSON for \(rpc.name): \(error)")
            throw ExitCode(ExitStatus.invalidArgument)
        }
        print(try await global.call(send))
    }
}

/// One unary method that `call` can send.
struct RPCMethod: Sendable {
    typealias Send = @Sendable (GRPCClient<DaemonClient.Transport>) async throws -> String

    let name: String
    /// Parses the request JSON and returns the call to make with it.
    let prepare: @Sendable (String) throws -> Send

    static let all: [RPCMethod] = [
        unary(Cloudstor_V1_Volumes.Method.Create.descriptor, Cloudstor_V1_CreateRequest.self, Cloudstor_V1_CreateResponse.self),
        unary(Cloudstor_V1_Volumes.Method.Remove.descriptor, Cloudstor_V1_RemoveRequest.self, Cloudstor_V1_RemoveResponse.self),
        unary(Cloudstor_V1_Volumes.Method.Get.descriptor, Cloudstor_V1_GetRequest.self, Cloudstor_V1_GetResponse.self),
        unary(Cloudstor_V1_Volumes.Method.List.descriptor, Cloudstor_V1_ListRequest.self, Cloudstor_V1_ListResponse.self),
        unary(Cloudstor_V1_Volumes.Method.Mount.descriptor, Cloudstor_V1_MountRequest.self, Cloudstor_V1_MountResponse.self),
        unary(Cloudstor_V1_Volumes.Method.Unmount.descriptor, Cloudstor_V1_UnmountRequest.self, Cloudstor_V1_UnmountResponse.self),
        unary(Cloudstor_V1_Volumes.Method.Path.descriptor, Cloudstor_V1_PathRequest.self, Cloudstor_V1_PathResponse.self),
        unary(
            Cloudstor_V1_Volumes.Method.Capabilities.descriptor, Cloudstor_V1_CapabilitiesRequest.self,
            Cloudstor_V1_CapabilitiesResponse.self),
        unary(
            Cloudstor_V1_Volumes.Method.ListOrphans.descriptor, Cloudstor_V1_ListOrphansRequest.self, Cloudstor_V1_ListOrphansResponse.self),
        unary(
            Cloudstor_V1_Volumes.Method.PruneOrphans.descriptor, Cloudstor_V1_PruneOrphansRequest.self,
            Cloudstor_V1_PruneOrphansResponse.self),
        unary(Cloudstor_V1_Volumes.Method.ClearHolds.descriptor, Cloudstor_V1_ClearHoldsRequest.self, Cloudstor_V1_ClearHoldsResponse.self),
        unary(Grpc_Health_V1_Health.Method.Check.descriptor, Grpc_Health_V1_HealthCheckRequest.self, Grpc_Health_V1_HealthCheckResponse.self),
    ]

    /// Accepts `pkg.Service/Method`, `pkg.Service.Method` and, for cloudstor.v1.Volumes, `Method`.
    static func find(_ name: String) -> RPCMethod? {
        let wanted = name.hasPrefix("/") ? String(name.dropFirst()) : name
        return all.first { method in
            method.name == wanted || method.name.replacingOccurrences(of: "/", with: ".") == wanted
                || (method.name.hasPrefix("cloudstor.v1.Volumes/") && method.name.dropFirst("cloudstor.v1.Volumes/".count) == wanted)
        }
    }

    static func unary<Request: SwiftProtobuf.Message & Sendable, Response: SwiftProtobuf.Message & Sendable>(
        _ descriptor: MethodDescriptor, _: Request.Type, _: Response.Type
    ) -> RPCMethod {
        RPCMethod(name: descriptor.fullyQualifiedMethod) { json in
            let request = try Request(jsonString: json)
            return { client in
                let response = try await client.unary(
                    request: ClientRequest(message: request), descriptor: descriptor, serializer: ProtobufSerializer<Request>(),
                    deserializer: ProtobufDeserializer<Response>(), options: .defaults
                ) { try $0.message }
                return try Output.json(response)
            }
        }
    }
}
