import ArgumentParser
import CloudstorClient
import CloudstorSupport
import FoundationEssentials
import CloudstorRPC

/// cloudstorctl's exit codes, one per class of error, so scripts can branch on them.
public enum ExitStatus {
    public static let failure: Int32 = 1
    public static let invalidArgument: Int32 = 2
    public static let notFound: Int32 = 3
    /// The volume's state forbids it (in use), or the name is taken with other options.
    public static let conflict: Int32 = 4
    /// Retryable: the daemon is unreachable or busy.
    public static let unavailable: Int32 = 5

    /// The one mapping from a failed call to what the user sees and the exit code.
    static func fail(_ error: any Error, socketPath: String) -> ExitCode {
        let message = DaemonClient.describe(error, socketPath: socketPath)
        printError("cloudstorctl: \(message)")
        guard let error = error as? RPCError else { return ExitCode(failure) }
        switch error.code {
        case .invalidArgument, .outOfRange: return ExitCode(invalidArgument)
        case .notFound: return ExitCode(notFound)
        case .failedPrecondition, .alreadyExists, .aborted: return ExitCode(conflict)
        case .unavailable, .deadlineExceeded, .resourceExhausted: return ExitCode(unavailable)
        default: return ExitCode(failure)
        }
    }
}

func printError(_ message: String) {
    var stderr = StandardError()
    print(message, to: &stderr)
}

