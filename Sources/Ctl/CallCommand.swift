import ArgumentParser
import CloudstorClient
import CloudstorProto
import CloudstorRPC
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
    typealias Send = @Sendable (DaemonClient) async throws -> String

    let name: String
    /// Parses the request JSON and returns the call to make with it.
    let prepare: @Sendable (String) throws -> Send

    static let all: [RPCMethod] = [
        unary("cloudstor.v1.Volumes", "Create", Cloudstor_V1_CreateRequest.self, Cloudstor_V1_CreateResponse.self),
        unary("cloudstor.v1.Volumes", "Remove", Cloudstor_V1_RemoveRequest.self, Cloudstor_V1_RemoveResponse.self),
        unary("cloudstor.v1.Volumes", "Get", Cloudstor_V1_GetRequest.self, Cloudstor_V1_GetResponse.self),
        unary("cloudstor.v1.Volumes", "List", Cloudstor_V1_ListRequest.self, Cloudstor_V1_ListResponse.self),
        unary("cloudstor.v1.Volumes", "Mount", Cloudstor_V1_MountRequest.self, Cloudstor_V1_MountResponse.self),
        unary("cloudstor.v1.Volumes", "Unmount", Cloudstor_V1_UnmountRequest.self, Cloudstor_V1_UnmountResponse.self),
        unary("cloudstor.v1.Volumes", "Path", Cloudstor_V1_PathRequest.self, Cloudstor_V1_PathResponse.self),
        unary(
            "cloudstor.v1.Volumes", "Capabilities", Cloudstor_V1_CapabilitiesRequest.self,
            Cloudstor_V1_CapabilitiesResponse.self),
        unary(
            "cloudstor.v1.Volumes", "ListOrphans", Cloudstor_V1_ListOrphansRequest.self, Cloudstor_V1_ListOrphansResponse.self),
        unary(
            "cloudstor.v1.Volumes", "PruneOrphans", Cloudstor_V1_PruneOrphansRequest.self,
            Cloudstor_V1_PruneOrphansResponse.self),
        unary("cloudstor.v1.Volumes", "ClearHolds", Cloudstor_V1_ClearHoldsRequest.self, Cloudstor_V1_ClearHoldsResponse.self),
        unary("grpc.health.v1.Health", "Check", Grpc_Health_V1_HealthCheckRequest.self, Grpc_Health_V1_HealthCheckResponse.self),
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
        _ service: String, _ method: String, _: Request.Type, _: Response.Type
    ) -> RPCMethod {
        RPCMethod(name: "\(service)/\(method)") { json in
            let request = try Request(jsonString: json)
            return { client in
                let response = try await client.rpc.unary(service, method, request, as: Response.self)
                return try Output.json(response)
            }
        }
    }
}
