import ArgumentParser
import CloudstorClient
import CloudstorSupport

struct GlobalOptions: ParsableArguments {
    @Option(help: "cloudstord's gRPC socket (env CLOUDSTOR_SOCKET; default /run/cloudstor/cloudstor.sock).")
    var socket: String?

    var socketPath: String {
        Setting.pick(socket, "CLOUDSTOR_SOCKET") ?? DaemonClient.defaultSocketPath
    }

    /// Runs body against the daemon; a failure prints the daemon's message and exits
    /// with the code of its class.
    func call<T: Sendable>(_ body: (DaemonClient) async throws -> T) async throws -> T {
        do {
            return try await DaemonClient.with(socketPath: socketPath, body)
        } catch {
            throw ExitStatus.fail(error, socketPath: socketPath)
        }
    }
}
