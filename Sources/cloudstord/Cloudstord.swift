import ArgumentParser
import CloudstorService
import CloudstorSupport
import Foundation
import Logging

/// `cloudstord`: parses flags and runs the daemon. Every flag has an environment
/// variable; the flag wins.
@main
struct Cloudstord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudstord",
        abstract: "The Cloudstor daemon: persistent Docker volumes, served over gRPC on a unix socket.",
        discussion: "Every option may also be set by the environment variable named in its help; the option wins.")

    @Option(help: "gRPC unix socket to serve (env CLOUDSTOR_SOCKET; default /run/cloudstor/cloudstor.sock).")
    var socket: String?

    @Option(help: "State directory: catalogue, images (env CLOUDSTOR_STATE_DIR; default /var/lib/cloudstor).")
    var stateDir: String?

    @Option(help: "Where relocatable volumes are mounted (env CLOUDSTOR_MOUNT_ROOT; default STATE_DIR/mnt).")
    var mountRoot: String?

    @Option(help: "Root of the shared volumes' directories (env CLOUDSTOR_SHARED_ROOT; default STATE_DIR/shared).")
    var sharedRoot: String?

    @Option(help: "Backing of volumes created without backing=: relocatable or shared (env CLOUDSTOR_DEFAULT_BACKING; default relocatable).")
    var defaultBacking: String?

    @Option(help: "Storage provider: local or aws (env CLOUDSTOR_PROVIDER; default local).")
    var provider: String?

    @Option(help: "Stack id this daemon's volumes belong to (env CLOUDSTOR_STACK_ID).")
    var stackId: String?

    @Option(help: "This node's name in volume status (env CLOUDSTOR_NODE_ID; default the host name).")
    var nodeId: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env CLOUDSTOR_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(help: "text or json (env CLOUDSTOR_LOG_FORMAT; default text).")
    var logFormat: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        func pick(_ flag: String?, _ name: String) -> String? { flag ?? env[name].flatMap { $0.isEmpty ? nil : $0 } }

        let level = try parse(pick(logLevel, "CLOUDSTOR_LOG_LEVEL") ?? "info", as: Logger.Level.self, option: "--log-level")
        let format = try parse(pick(logFormat, "CLOUDSTOR_LOG_FORMAT") ?? "text", as: LogFormat.self, option: "--log-format")
        var config = DaemonConfiguration(nodeID: pick(nodeId, "CLOUDSTOR_NODE_ID") ?? ProcessInfo.processInfo.hostName)
        if let value = pick(socket, "CLOUDSTOR_SOCKET") { config.socketPath = value }
        if let value = pick(stateDir, "CLOUDSTOR_STATE_DIR") { config.stateDirectory = value }
        config.mountRoot = pick(mountRoot, "CLOUDSTOR_MOUNT_ROOT")
        config.sharedRoot = pick(sharedRoot, "CLOUDSTOR_SHARED_ROOT")
        if let value = pick(defaultBacking, "CLOUDSTOR_DEFAULT_BACKING") {
            config.defaultBacking = try parse(value == "local" ? "relocatable" : value, as: Backing.self, option: "--default-backing")
        }
        if let value = pick(provider, "CLOUDSTOR_PROVIDER") {
            config.provider = try parse(value, as: DaemonConfiguration.Provider.self, option: "--provider")
        }
        config.stackID = pick(stackId, "CLOUDSTOR_STACK_ID") ?? ""

        format.bootstrap(level: level)
        let logger = Logger(label: "cloudstord")
        do {
            try await Daemon.run(config, logger: logger)
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }

    private func parse<T: RawRepresentable & CaseIterable>(_ text: String, as: T.Type, option: String) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw ValidationError("\(option) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \(text)")
        }
        return value
    }
}

