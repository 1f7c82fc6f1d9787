import NIOPosix

/// Runs calls on a file system every node mounts (NFS, EFS) on NIO's blocking-I/O
/// threads: a file system that stalls (its server away) stalls its own calls,
/// never the event loop that answers every other call, nor Swift's pool.
enum FileSystemIO {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(CloudstorError) -> T) async throws(CloudstorError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive { try body() }
        } catch let error as CloudstorError {
            throw error
        } catch {
            throw CloudstorError(.unavailable, "the daemon is stopping; try again", cause: error)
        }
    }
}
