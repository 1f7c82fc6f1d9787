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
        discussion: "Methods: " + CallableMethod.all.map(\.name).joined(separator: ", ")
            + ". The service may be left out (Get), and '.' may stand for '/'.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The method, e.g. cloudstor.v1.Volumes/Get or Get.") var method: String
    @Option(help: "The request message in proto JSON.") var json = "{}"

    func run() async throws {
        guard let rpc = CallableMethod.find(method) else {
            throw ValidationError("unknown method \(method); known: \(CallableMethod.all.map(\.name).joined(separator: ", "))")
        }
        let send: CallableMethod.Send
        do {
            send = try rpc.prepare(json)
        } catch {
            printError("cloudstorctl: invalid JSON for \(rpc.name): \(error)")
            throw ExitCode(ExitStatus.invalidArgument)
        }
        print(try await global.call(send))
    }
}

/// One unary method that `call` can send: every unary method of the services the
/// daemon serves, from their generated method tables.
struct CallableMethod: Sendable {
    typealias Send = @Sendable (DaemonClient) async throws -> String

    let name: String
    /// Parses the request JSON and returns the call to make with it.
    let prepare: @Sendable (String) throws -> Send

    static let all: [CallableMethod] = {
        var collector = Collector()
        Cloudstor_V1_Volumes.visitMethods(&collector)
        Grpc_Health_V1_Health.visitMethods(&collector)
        return collector.methods
    }()

    /// Accepts `pkg.Service/Method`, `pkg.Service.Method` and, for cloudstor.v1.Volumes, `Method`.
    static func find(_ name: String) -> CallableMethod? {
        let wanted = name.hasPrefix("/") ? String(name.dropFirst()) : name
        let volumes = Cloudstor_V1_Volumes.name + "/"
        return all.first { method in
            method.name == wanted || method.name.replacing("/", with: ".") == wanted
                || (method.name.hasPrefix(volumes) && method.name.dropFirst(volumes.count) == wanted)
        }
    }

    private struct Collector: RPCMethodVisitor {
        var methods: [CallableMethod] = []

        mutating func visit<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(_ method: RPCMethod<Request, Response>) {
            guard method.kind == .unary else { return }
            methods.append(
                CallableMethod(name: method.name) { json in
                    let request = try Request(jsonString: json)
                    return { client in try Output.json(try await client.rpc.unary(method, request)) }
                })
        }
    }
}
