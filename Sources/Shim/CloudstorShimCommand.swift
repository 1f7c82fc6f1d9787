import ArgumentParser
import CloudstorClient
import CloudstorSupport
import FoundationEssentials
import Logging
import NIOPosix
import ServiceLifecycle

/// `cloudstor-shim`: the Docker volume plugin endpoint. Parses flags and runs.
public struct CloudstorShimCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cloudstor-shim",
        abstract: "Docker volume plugin endpoint for Cloudstor: turns Docker's plugin calls into cloudstord RPCs.",
        discussion: "Every option may also be set by the environment variable named in its help; the option wins.",
        version: Release.version)

    @Option(help: "Plugin socket Docker calls (env CLOUDSTOR_SHIM_LISTEN; default /run/docker/plugins/cloudstor.sock).")
    var listen: String?

    @Option(help: "cloudstord's gRPC socket (env CLOUDSTOR_SOCKET; default /run/cloudstor/cloudstor.sock).")
    var serviceSocket: String?

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let listenPath = Setting.pick(listen, "CLOUDSTOR_SHIM_LISTEN") ?? "/run/docker/plugins/cloudstor.sock"
        let socketPath = Setting.pick(serviceSocket, "CLOUDSTOR_SOCKET") ?? DaemonClient.defaultSocketPath
        // Answered without the daemon, from the settings the two share (the managed
        // plugin's environment, cloudstor.env): Docker asks while the daemon starts.
        let global = Setting.pick(nil, "CLOUDSTOR_PROVIDER") == "aws" || Setting.pick(nil, "CLOUDSTOR_CLUSTER_ROOT") != nil
        let logger = try logging.bootstrap(label: "cloudstor-shim")
        do {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: listenPath).deletingLastPathComponent().path, withIntermediateDirectories: true)
            // One event loop for Docker's connections and the daemon's: no call crosses threads.
            try await MultiThreadedEventLoopGroup.withEventLoopGroup(numberOfThreads: 1) { loops in
                let loop = loops.next()
                let client = DaemonClient(socketPath: socketPath, loop: loop)
                let handler = PluginHandler(client: client, scope: global ? "global" : "local", logger: logger)
                var configuration = ServiceGroupConfiguration(
                    services: [.init(service: PluginServer(socketPath: listenPath, handler: handler, loop: loop, logger: logger))],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger)
                // Calls in flight get this long to finish before the shim stops anyway.
                configuration.maximumGracefulShutdownDuration = .seconds(10)
                try await ServiceGroup(configuration: configuration).run()
                await client.rpc.close()
            }
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

