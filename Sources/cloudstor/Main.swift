import CloudstorDaemon
import CloudstorShim
import CloudstorSupport

#if canImport(Glibc)
import Glibc
#endif

/// One executable for the daemon and the shim, run by the name it is started
/// under (`cloudstord`, `cloudstor-shim`: links to this file): they share most
/// of their code, and the managed plugin carries it once.
@main
enum Main {
    static func main() async {
        let name = CommandLine.arguments.first.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? ""
        switch name {
        case "cloudstor-shim": await CloudstorShimCommand.main()
        case "cloudstord": await CloudstordCommand.main()
        case _ where CommandLine.arguments.dropFirst().first == "--version":
            print(Release.version)
        default:
            var error = StandardError()
            print("cloudstor: run as cloudstord (the daemon) or cloudstor-shim (the Docker plugin endpoint), links to this file", to: &error)
            exit(64)
        }
    }
}

