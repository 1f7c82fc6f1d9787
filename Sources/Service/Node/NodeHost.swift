/// What the daemon does to the node itself: devices, filesystems and mounts. A
/// protocol so the volume logic is tested with a fake; `LinuxHost` is the real one.
public protocol NodeHost: Sendable {
    /// The device node of an attached volume: the first of `names` (under the
    /// device directory unless absolute) that is a block device. Waits a while for
    /// the kernel to show it.
    func findDevice(_ names: [String]) async throws(CloudstorError) -> String
    /// The type of what the device (or the file behind it) holds ("ext4", "xfs",
    /// "swap", "dos", …: any filesystem, RAID member or partition table), nil if nothing.
    func filesystem(device: String) async throws(CloudstorError) -> String?
    /// Makes an ext4 filesystem. Callers ask `filesystem` first: never reformat.
    func makeFilesystem(device: String) async throws(CloudstorError)
    /// Grows the ext4 filesystem on the unmounted device to the device's size if it
    /// is smaller (a volume made larger than the snapshot it was restored from):
    /// checked first, as resize2fs requires. Whether it grew.
    func growFilesystem(device: String) async throws(CloudstorError) -> Bool
    /// Grows the mounted ext4 filesystem on the device to the device's size, online
    /// (needs CAP_SYS_RESOURCE: refused in a managed plugin); false if the device
    /// is not larger than its filesystem.
    func growMountedFilesystem(device: String) async throws(CloudstorError) -> Bool
    /// Mounts the device's ext4 filesystem at path, making the mount point.
    func mount(device: String, at path: String) async throws(CloudstorError)
    /// Flushes and unmounts path, then removes the mount point if it is empty;
    /// succeeds if nothing is mounted there.
    func unmount(_ path: String) async throws(CloudstorError)
    /// Mounts an NFS export (`server:/path`) at path with these mount options,
    /// making the mount point; the error says what mount(8) said.
    func mountNFS(_ source: String, at path: String, options: String) async throws(CloudstorError)
    /// Where filesystems are mounted now (read once for many paths).
    func mountPoints() throws(CloudstorError) -> Set<String>
    /// Whether a filesystem is mounted exactly at path.
    func isMounted(_ path: String) throws(CloudstorError) -> Bool
    /// Freezes the filesystem at path for the duration of body (a snapshot's start).
    func frozen<T: Sendable>(_ path: String, _ body: () async throws(CloudstorError) -> T) async throws(CloudstorError) -> T
    /// Thaws the filesystem at path if it is frozen (a daemon that died inside
    /// `frozen` left it so); whether it was.
    func thaw(_ path: String) async -> Bool
}

extension NodeHost {
    public func isMounted(_ path: String) throws(CloudstorError) -> Bool {
        try mountPoints().contains(path)
    }
}
