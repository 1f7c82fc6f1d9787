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

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        func pick(_ flag: String?, _ variable: String) -> String? { Setting.pick(flag, variable) }
        var config = DaemonConfiguration(nodeID: pick(nodeId, "CLOUDSTOR_NODE_ID") ?? ProcessInfo.processInfo.hostName)
        if let value = pick(socket, "CLOUDSTOR_SOCKET") { config.socketPath = value }
        if let value = pick(stateDir, "CLOUDSTOR_STATE_DIR") { config.stateDirectory = value }
        config.mountRoot = pick(mountRoot, "CLOUDSTOR_MOUNT_ROOT")
        config.sharedRoot = pick(sharedRoot, "CLOUDSTOR_SHARED_ROOT")
        if let value = pick(defaultBacking, "CLOUDSTOR_DEFAULT_BACKING") {
            config.defaultBacking = try Setting.choice(value == "local" ? "relocatable" : value, of: Backing.self, option: "--default-backing")
        }
        if let value = pick(provider, "CLOUDSTOR_PROVIDER") {
            config.provider = try Setting.choice(value, of: DaemonConfiguration.Provider.self, option: "--provider")
        }
        config.stackID = pick(stackId, "CLOUDSTOR_STACK_ID") ?? ""

        let logger = try logging.bootstrap(label: "cloudstord")
        do {
            try await Daemon.run(config, logger: logger)
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
