/// What the daemon does to the node itself: filesystems and mounts. A protocol so
/// the volume logic is tested with a fake; `LinuxHost` is the real one.
public protocol NodeHost: Sendable {
    /// Whether the device holds a filesystem (of any type) already.
    func hasFilesystem(device: String) async throws -> Bool
    /// Makes an ext4 filesystem. Callers ask `hasFilesystem` first: never reformat.
    func makeFilesystem(device: String) async throws
    /// Mounts the device's ext4 filesystem at path, creating the directory.
    func mount(device: String, at path: String) async throws
    /// Flushes and unmounts path; succeeds if nothing is mounted there.
    func unmount(_ path: String) async throws
    /// Whether a filesystem is mounted exactly at path.
    func isMounted(_ path: String) throws -> Bool
}
