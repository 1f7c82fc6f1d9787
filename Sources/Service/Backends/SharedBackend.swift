/// Storage for shared volumes: a directory that every node sees at once. The local
/// provider's is `DirectoryBackend`; AWS's is a directory of an EFS file system.
public protocol SharedBackend: Sendable {
    /// Creates the volume's directory (idempotent) and returns its path.
    func create(name: String, options: VolumeOptions) async throws(CloudstorError) -> String
    /// Deletes the directory and everything in it; succeeds if it is gone.
    func remove(id: String) async throws(CloudstorError)
    /// Makes sure the directory is usable on this node and returns the path containers see.
    func mount(id: String) async throws(CloudstorError) -> String
}
