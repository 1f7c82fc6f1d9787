import ArgumentParser
import CloudstorProto
import CloudstorRPC

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask the daemon's grpc.health.v1 service; exit 0 when SERVING. Then, for the daemon as a whole, its node, zone and attachments.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The service to ask about; empty for the daemon as a whole.") var service = ""

    func run() async throws {
        let reply = try await global.call { try await $0.check(.with { $0.service = service }) }
        let status = reply.status == .serving ? "SERVING" : "\(reply.status)".uppercased()
        print(status)
        if reply.status != .serving { throw ExitCode(ExitStatus.unavailable) }
        guard service.isEmpty else { return }
        // A daemon of an earlier release has no Node call: its health is all there is.
        let answer = try await global.call { (client) async throws -> Cloudstor_V1_NodeResponse? in
            do throws(RPCError) {
                return try await client.node()
            } catch {
                if error.code == .unimplemented { return nil }
                throw error
            }
        }
        guard let node = answer else { return }
        print("node \(node.node) in \(node.zone)")
        if node.attachmentLimit > 0 {
            print("attachments \(node.attached) of \(node.attachmentLimit) (\(node.attachmentLimitSource))")
        }
    }
}
