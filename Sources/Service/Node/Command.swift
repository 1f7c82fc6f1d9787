import Dispatch
import Foundation

/// Runs a host tool (mkfs.ext4, fsfreeze, mount.nfs4) off the cooperative thread pool and
/// collects its output.
enum Command {
    struct Result: Sendable {
        var status: Int32
        /// Standard output and standard error together.
        var output: String
    }

    static func run(_ executable: String, _ arguments: [String]) async throws(CloudstorError) -> Result {
        let outcome: Swift.Result<Result, CloudstorError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = pipe
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(returning: .failure(CloudstorError(.internalError, "cannot run \(executable)", cause: error)))
                    return
                }
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                let output = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                continuation.resume(returning: .success(Result(status: process.terminationStatus, output: output)))
            }
        }
        return try outcome.get()
    }

    /// Looks a tool up in the usual system directories, where a daemon's PATH may not reach.
    static func locate(_ name: String) -> String {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return "/usr/sbin/\(name)"
    }
}
