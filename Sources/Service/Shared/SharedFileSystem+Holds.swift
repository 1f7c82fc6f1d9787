#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// Every node's holds on the volumes of a shared file system, and the
/// housekeeping of what removes and crashes leave there.
extension SharedFileSystem {
    // MARK: Holds

    /// Records this node's hold on the volume for `mounts` containers and returns
    /// its directory, after checking that the volume still exists and its directory
    /// is one (never a symbolic link).
    func hold(_ name: String, node: String, mounts: Int, since: String) async throws(CloudstorError) -> String {
        let held = try await withRecordLock(name, exclusive: false) { () throws(CloudstorError) -> String in
            try self.checkData(of: name)
            try self.writeHold(name, node: node, mounts: mounts, since: since)
            return self.path(name)
        }
        guard let held else { throw CloudstorError(.notFound, "no such volume: \(name)") }
        return held
    }

    /// Checks that the volume's directory (images: its image) is there and is one,
    /// never a symbolic link, which is never followed.
    func checkData(of name: String) throws(CloudstorError) {
        let (wanted, what, kind): (DirectoryHandle.Kind, String, String) =
            layout == .directories ? (.directory, "directory", "a directory") : (.file, "image", "a regular file")
        switch try entry(name)?.kind {
        case wanted?:
            return
        case nil:
            throw CloudstorError(.failedPrecondition, "volume \(name): its \(what) \(path(name)) is missing; restore it there, or remove the volume")
        case _?:
            throw CloudstorError(.failedPrecondition, "volume \(name): \(path(name)) is not \(kind) (a symbolic link?); it is never followed")
        }
    }

    /// Writes the node's hold on the volume; the caller holds the record's lock.
    func writeHold(_ name: String, node: String, mounts: Int, since: String) throws(CloudstorError) {
        let directory: DirectoryHandle
        do throws(SystemError) { directory = try holds().directory(NodeFileName.encode(node), create: true) } catch {
            throw failure("record the hold on \(name)", error)
        }
        try replace(SharedHold(node: node, volume: name, since: since, mounts: mounts), as: name, in: directory)
    }

    func release(_ name: String, node: String) throws(CloudstorError) {
        do {
            let holds = try holds()
            guard try holds.entry(NodeFileName.encode(node)) != nil else { return }
            try holds.directory(NodeFileName.encode(node)).unlink(name)
        } catch {
            throw failure("remove the hold on \(name)", error)
        }
    }

    /// The nodes that hold the volume, with how many containers each (nil when its
    /// hold does not say), in name order.
    func holders(_ name: String) throws(CloudstorError) -> [(node: String, mounts: Int?)] {
        var found: [(node: String, mounts: Int?)] = []
        do {
            let holds = try holds()
            for file in try holds.names() {
                guard let node = NodeFileName.decode(file), try holds.entry(file)?.kind == .directory else { continue }
                let directory = try holds.directory(file)
                guard try directory.entry(name) != nil else { continue }
                let hold = try directory.read(name).flatMap { try? JSONDecoder().decode(SharedHold.self, from: Data($0)) }
                found.append((node, hold?.mounts))
            }
        } catch {
            throw failure("read the holds on \(name)", error)
        }
        return found.sorted { $0.node < $1.node }
    }

    /// The volumes the node holds here.
    func held(by node: String) throws(CloudstorError) -> [String] {
        let directory: DirectoryHandle
        do {
            let holds = try holds()
            guard try holds.entry(NodeFileName.encode(node))?.kind == .directory else { return [] }
            directory = try holds.directory(NodeFileName.encode(node))
        } catch {
            throw failure("read the holds of \(node)", error)
        }
        return try list(directory)
    }

    /// Forgets every hold of the node; returns the volumes it held.
    func clearHolds(of node: String) throws(CloudstorError) -> [String] {
        let names = try held(by: node)
        do { try holds().removeTree(NodeFileName.encode(node)) } catch { throw failure("clear the holds of \(node)", error) }
        return names
    }

    // MARK: Housekeeping

    /// Deletes the trash entries older than `age`; returns how many went. Slow
    /// for large volumes (every file is one unlink): callers run it off the
    /// request path.
    func emptyTrash(olderThan age: Duration) throws(CloudstorError) -> [String] {
        let now = Int(Date().timeIntervalSince1970)
        var removed: [String] = []
        do {
            for entry in try trash.names() {
                guard let stamp = entry.split(separator: "-", maxSplits: 1).first.flatMap({ Int($0) }),
                    Duration.seconds(now - stamp) >= age
                else { continue }
                try trash.removeTree(entry)
                removed.append(entry)
            }
        } catch {
            throw failure("empty the trash", error)
        }
        return removed
    }

    /// Deletes what this node left half-written (it crashed while writing).
    func removeTemporaryFiles() throws(CloudstorError) {
        let prefix = node + "."
        do {
            for name in try temporary.names() where name.hasPrefix(prefix) {
                try temporary.removeTree(name)
            }
        } catch {
            throw failure("clean up \(temporary.path)", error)
        }
    }
}
