import FoundationEssentials
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a host tool (mkfs.ext4, fsfreeze, mount.nfs4) and collects its output,
/// through swift-subprocess: no thread of the cooperative pool waits on it, and
/// the child inherits none of the daemon's descriptors.
enum Command {
    struct Result: Sendable {
        var status: Int32
        /// Standard output and standard error together, trimmed.
        var output: String
    }

    /// What a tool may print: far more than any of ours does (past it, the call fails).
    static let outputLimit = 1 << 20

    static func run(_ executable: String, _ arguments: [String]) async throws(CloudstorError) -> Result {
        do {
            let outcome = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), input: .none,
                output: .string(limit: outputLimit), error: .combinedWithOutput)
            let status: Int32 =
                switch outcome.terminationStatus {
                case .exited(let code): code
                case .signaled(let signal): 128 + signal
                }
            return Result(status: status, output: outcome.standardOutput.trimmingWhitespace())
        } catch {
            throw CloudstorError(.internalError, "cannot run \(executable)", cause: error)
        }
    }

    /// Looks a tool up in the usual system directories, where a daemon's PATH may not reach.
    static func locate(_ name: String) -> String {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return "/usr/sbin/\(name)"
    }
}
