import ArgumentParser
import CloudstorClient
import CloudstorShim
import CloudstorSupport
import Foundation
import Logging
import ServiceLifecycle

/// `cloudstor-shim`: the Docker volume plugin endpoint. Parses flags and runs.
@main
struct CloudstorShimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudstor-shim",
        abstract: "Docker volume plugin endpoint for Cloudstor: turns Docker's plugin calls into cloudstord RPCs.",
        discussion: "Every option may also be set by the environment variable named in its help; the option wins.")

    @Option(help: "Plugin socket Docker calls (env CLOUDSTOR_SHIM_LISTEN; default /run/docker/plugins/cloudstor.sock).")
    var listen: String?

    @Option(help: "cloudstord's gRPC socket (env CLOUDSTOR_SOCKET; default /run/cloudstor/cloudstor.sock).")
    var serviceSocket: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env CLOUDSTOR_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(help: "text or json (env CLOUDSTOR_LOG_FORMAT; default text).")
    var logFormat: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        func pick(_ flag: String?, _ name: String) -> String? { flag ?? env[name].flatMap { $0.isEmpty ? nil : $0 } }
        let levelText = pick(logLevel, "CLOUDSTOR_LOG_LEVEL") ?? "info"
        let formatText = pick(logFormat, "CLOUDSTOR_LOG_FORMAT") ?? "text"
        guard let level = Logger.Level(rawValue: levelText) else { throw ValidationError("unknown --log-level \(levelText)") }
        guard let format = LogFormat(rawValue: formatText) else { throw ValidationError("--log-format must be text or json, not \(formatText)") }
        let listenPath = pick(listen, "CLOUDSTOR_SHIM_LISTEN") ?? "/run/docker/plugins/cloudstor.sock"
        let socketPath = pick(serviceSocket, "CLOUDSTOR_SOCKET") ?? DaemonClient.defaultSocketPath

        format.bootstrap(level: level)
        let logger = Logger(label: "cloudstor-shim")
        do {
            try FileManager.default.createDirectory(
                atPath: (listenPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let client = try DaemonClient.make(socketPath: socketPath)
            let handler = PluginHandler(client: client, socketPath: socketPath, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: GRPCClientService(client: client)),
                        .init(service: PluginServer(socketPath: listenPath, handler: handler, logger: logger)),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await group.run()
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

