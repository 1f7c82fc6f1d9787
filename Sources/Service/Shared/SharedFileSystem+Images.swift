#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// What only a cluster root's images need: a hold that one node at a time has,
/// and the leases that say how lately each node was seen.
extension SharedFileSystem {
    /// Records this node's hold on the image, alone: returns the node that holds it
    /// instead, if another does. The hold is taken under the record's exclusive lock,
    /// so of two nodes that try at once exactly one gets it.
    func holdAlone(_ name: String, node: String, since: String) async throws(CloudstorError) -> String? {
        let lock: LockedFile?
        do { lock = try await volumes.lock(name, exclusive: true, wait: lockWait) } catch { throw failure("lock volume \(name)", error) }
        guard let lock else { throw CloudstorError(.notFound, "no such volume: \(name)") }
        defer { withExtendedLifetime(lock) {} }
        switch try entry(name)?.kind {
        case .file?:
            break
        case nil:
            throw CloudstorError(.failedPrecondition, "volume \(name): its image \(path(name)) is missing; restore it there, or remove the volume")
        case _?:
            throw CloudstorError(.failedPrecondition, "volume \(name): \(path(name)) is not a regular file (a symbolic link?); it is never followed")
        }
        if let other = try holders(name).first(where: { $0.node != node }) { return other.node }
        let directory: DirectoryHandle
        do { directory = try holds.directory(NodeFileName.encode(node), create: true) } catch { throw failure("record the hold on \(name)", error) }
        try replace(SharedHold(node: node, volume: name, since: since, mounts: 1), as: name, in: directory)
        return nil
    }

    /// Marks this node alive now.
    func renewLease() throws(CloudstorError) {
        guard let leases else { return }
        do { try leases.touch(node) } catch { throw failure("renew the lease of this node", error) }
    }

    /// How long ago the node last renewed its lease, nil if it has none.
    func leaseAge(of other: String) throws(CloudstorError) -> Duration? {
        guard let leases else { return nil }
        let entry: DirectoryHandle.Entry?
        do { entry = try leases.entry(NodeFileName.encode(other)) } catch { throw failure("read the lease of \(other)", error) }
        guard let entry else { return nil }
        return .milliseconds(max(0, Int64((Date().timeIntervalSince1970 - entry.modified) * 1000)))
    }

    /// Flushes the image's data to the file system's server.
    func flush(_ name: String) throws(CloudstorError) {
        do throws(SystemError) {
            let fd = try top.openFile(name, flags: O_RDONLY)
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw SystemError(errno: errno, operation: "fsync \(path(name))") }
        } catch {
            throw failure("flush the image of \(name)", error)
        }
    }

    /// Makes the image at least `sizeGiB` long (sparse), making it if asked; never shrinks it.
    func growImage(_ name: String, to sizeGiB: Int, creating: Bool) throws(CloudstorError) {
        do throws(SystemError) {
            let fd = try top.openFile(name, flags: O_RDWR | (creating ? O_CREAT : 0))
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw SystemError(errno: errno, operation: "stat \(path(name))") }
            guard info.st_mode & S_IFMT == S_IFREG else { throw SystemError(errno: EINVAL, operation: "\(path(name)) is not a regular file") }
            let bytes = off_t(sizeGiB) << 30
            if info.st_size < bytes, ftruncate(fd, bytes) != 0 { throw SystemError(errno: errno, operation: "size \(path(name)) to \(sizeGiB) GiB") }
            guard fsync(fd) == 0 else { throw SystemError(errno: errno, operation: "fsync \(path(name))") }
        } catch {
            if error.errno == ENOSPC { throw CloudstorError(.unavailable, "cannot make the image of \(name) on \(root): \(error)") }
            throw failure("make the image of \(name)", error)
        }
    }
}
