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
        let taken = try await withRecordLock(name) { () throws(CloudstorError) -> String? in
            try self.checkData(of: name)
            if let other = try self.holders(name).first(where: { $0.node != node }) { return other.node }
            try self.writeHold(name, node: node, mounts: 1, since: since)
            return nil
        }
        guard let taken else { throw CloudstorError(.notFound, "no such volume: \(name)") }
        return taken
    }

    /// Marks this node alive now, by the server's clock; returns the time it set.
    func renewLease() throws(CloudstorError) -> Double {
        guard let leases else { return 0 }
        do {
            try leases.touch(node)
            return try leases.entry(node)?.modified ?? 0
        } catch {
            throw failure("renew the lease of this node", error)
        }
    }

    /// When the node last renewed its lease (the server's clock), nil if it has none.
    func leaseRenewed(by other: String) throws(CloudstorError) -> Double? {
        guard let leases else { return nil }
        do { return try leases.entry(NodeFileName.encode(other))?.modified } catch { throw failure("read the lease of \(other)", error) }
    }

    /// Forgets a record whose image is gone (a removal interrupted between the two),
    /// never the record of a volume made again since.
    func forgetRecord(_ name: String) async throws(CloudstorError) {
        _ = try await withRecordLock(name) { () throws(CloudstorError) in
            guard try self.entry(name) == nil else { return }
            do throws(SystemError) { try self.volumes.unlink(name) } catch { throw self.failure("remove the record of \(name)", error) }
        }
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

    /// Makes the image at least `sizeGiB` long (sparse); never shrinks it. `creating`:
    /// makes it, or takes on one an interrupted create left (no record yet), but never
    /// resizes the image of a volume that exists (another node's create won).
    func growImage(_ name: String, to sizeGiB: Int, creating: Bool) throws(CloudstorError) {
        do throws(SystemError) {
            let fd: Int32
            do {
                fd = try top.openFile(name, flags: O_RDWR | (creating ? O_CREAT | O_EXCL : 0))
            } catch {
                guard creating, error.errno == EEXIST else { throw error }
                if try volumes.entry(name) != nil { return }
                fd = try top.openFile(name, flags: O_RDWR)
            }
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
