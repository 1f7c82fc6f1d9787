#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// One file system that every node mounts (an EFS file system, an NFS export, a
/// local directory), laid out for shared volumes (`Layout.directories`):
///
///     ROOT/NAME                         a volume's directory: what containers see
///     ROOT/.cloudstor/volumes/NAME      its metadata; the volume exists once this does
///     ROOT/.cloudstor/holds/NODE/NAME   a node's hold on it, while mounted there
///     ROOT/.cloudstor/trash/…           removed volumes, deleted in the background
///     ROOT/.cloudstor/tmp/…             files being written
///
/// or for relocatable volumes on a cluster root (`Layout.images`), each an image
/// file that one node at a time loop-mounts, the same files one level down:
///
///     ROOT/.cloudstor/relocatable/images/NAME   the volume's image
///     ROOT/.cloudstor/relocatable/volumes/NAME  its record
///     ROOT/.cloudstor/relocatable/holds/NODE/NAME, trash/, tmp/
///     ROOT/.cloudstor/relocatable/leases/NODE   renewed by the node while it runs
///
/// Volume names never start with a dot, so `.cloudstor` is never a volume. Every
/// entry is reached from the root's descriptor without following symbolic links;
/// files are published by `link` (exclusive, on NFS too) or `rename` (replacing),
/// so no other node ever reads half of one. Mount and Remove of one volume
/// serialise on a lock of its metadata file, which NFS extends to every node.
final class SharedFileSystem: Sendable {
    enum Layout: Sendable {
        /// Shared volumes: directories at the root.
        case directories
        /// Relocatable volumes: image files under `.cloudstor/relocatable/images`.
        case images
    }

    let root: String
    let layout: Layout
    /// The EFS file system id, when there is one.
    let fileSystemID: String?
    let top: DirectoryHandle
    let volumes: DirectoryHandle
    /// `.cloudstor` (images: `.cloudstor/relocatable`), where `holds` is opened anew.
    let control: DirectoryHandle
    let trash: DirectoryHandle
    let temporary: DirectoryHandle
    /// Images only: each node's lease, renewed while it runs.
    let leases: DirectoryHandle?
    /// How long a lock held by another node is waited for.
    let lockWait: Duration = .seconds(30)

    /// This node's name as it starts its temporary files.
    let node: String

    init(root: String, fileSystemID: String? = nil, node: String, layout: Layout = .directories) throws(CloudstorError) {
        self.root = root
        self.layout = layout
        self.fileSystemID = fileSystemID
        self.node = NodeFileName.encode(node)
        do {
            let rootHandle = try DirectoryHandle.open(root)
            var control = try rootHandle.directory(".cloudstor", create: true)
            switch layout {
            case .directories:
                top = rootHandle
                leases = nil
            case .images:
                control = try control.directory("relocatable", create: true)
                top = try control.directory("images", create: true, mode: 0o700)
                leases = try control.directory("leases", create: true)
            }
            self.control = control
            volumes = try control.directory("volumes", create: true)
            _ = try control.makeDirectory("holds")
            trash = try control.directory("trash", create: true, mode: 0o700)
            temporary = try control.directory("tmp", create: true, mode: 0o700)
        } catch {
            throw CloudstorError(
                .failedPrecondition,
                "cannot use \(root) for \(layout == .images ? "relocatable" : "shared") volumes: \(error)\(error.errno == ELOOP || error.errno == ENOTDIR ? " (a symbolic link where a directory belongs?)" : "")")
        }
    }

    /// Every node's holds, opened anew for each look: on NFS an open revalidates the
    /// directory (close-to-open), where a descriptor held open would list what the
    /// client cached, and miss a hold another node has just written.
    func holds() throws(SystemError) -> DirectoryHandle {
        try control.directory("holds")
    }

    /// The volume's directory (what containers see) or image.
    func path(_ name: String) -> String { "\(top.path)/\(name)" }

    /// What status shows as the volume's cloud id.
    func cloudID(_ name: String) -> String {
        fileSystemID.map { "\($0):/\(name)" } ?? path(name)
    }

    // MARK: Volumes

    func metadata(_ name: String) throws(CloudstorError) -> SharedMetadata? {
        let bytes: [UInt8]
        do {
            guard let read = try volumes.read(name) else { return nil }
            bytes = read
        } catch {
            throw Self.isAway(error.errno) ? failure("read the metadata of \(name)", error) : unreadable(name, error.description)
        }
        guard let metadata = try? JSONDecoder().decode(SharedMetadata.self, from: Data(bytes)), metadata.name == name else {
            throw unreadable(name, "not Cloudstor metadata of that volume")
        }
        return metadata
    }

    /// Every volume, and the names whose metadata cannot be read.
    func allMetadata() throws(CloudstorError) -> (volumes: [SharedMetadata], unreadable: [String: String]) {
        var found: [SharedMetadata] = []
        var bad: [String: String] = [:]
        for name in try list(volumes) {
            do {
                if let metadata = try metadata(name) { found.append(metadata) }
            } catch {
                bad[name] = error.message
            }
        }
        return (found, bad)
    }

    /// Makes the volume, or returns the metadata of the one that is there: made
    /// by another node a moment ago, or before. Only the node that makes the
    /// directory publishes the metadata, once the directory has its owner and
    /// mode, so no node ever sees a half-made volume. A directory without
    /// metadata (a create interrupted by a crash, or data from before Cloudstor)
    /// is taken on as the volume's after `adoptWait`, with its data.
    func create(_ metadata: SharedMetadata, uid: UInt32?, gid: UInt32?, mode: mode_t, adoptWait: Duration) async throws(CloudstorError)
        -> SharedMetadata
    {
        let name = metadata.name
        let (existing, made) = try await FileSystemIO.run { () throws(CloudstorError) -> (SharedMetadata?, Bool) in
            if let existing = try self.metadata(name) { return (existing, false) }
            do throws(SystemError) { return (nil, try self.top.makeDirectory(name, mode: 0o700)) } catch {
                throw self.failure("create the directory of \(name)", error)
            }
        }
        if let existing { return existing }
        if !made {
            let clock = ContinuousClock()
            let deadline = clock.now + adoptWait
            while clock.now < deadline {
                do { try await Task.sleep(for: .milliseconds(50)) } catch { throw CloudstorError(.unavailable, "cancelled: the daemon is stopping; try again") }
                if let existing = try await FileSystemIO.run({ () throws(CloudstorError) in try self.metadata(name) }) { return existing }
            }
        }
        return try await FileSystemIO.run { () throws(CloudstorError) -> SharedMetadata in
            if !made, try self.entry(name)?.kind != .directory {
                throw CloudstorError(.failedPrecondition, "\(self.path(name)) is there and is not a directory: move it away to create volume \(name)")
            }
            do throws(SystemError) {
                try self.top.setOwner(of: name, uid: uid, gid: gid, mode: mode)
            } catch {
                if made { try? self.top.removeEmptyDirectory(name) }  // never leave a directory without a volume
                throw self.failure("set the owner and mode of \(self.path(name))", error)
            }
            if let published = try self.publish(metadata, in: self.volumes) { return published }
            // Another node published first, after our wait: theirs is the volume.
            return try self.metadata(name) ?? metadata
        }
    }

    /// Publishes metadata for a volume whose directory is (or may be made) here:
    /// a shared volume from the time its record lived in a node's database.
    func adopt(_ metadata: SharedMetadata) throws(CloudstorError) {
        guard try self.metadata(metadata.name) == nil else { return }
        do { _ = try top.makeDirectory(metadata.name) } catch { throw failure("create the directory of \(metadata.name)", error) }
        _ = try publish(metadata, in: volumes)
    }

    /// Moves the volume's directory into the trash and its metadata away, unless
    /// a node holds it. Returns the trash entry, or nil if the volume was gone.
    func remove(_ name: String) async throws(CloudstorError) -> String? {
        try await withRecordLock(name) { () throws(CloudstorError) -> String in
            let holders = try self.holders(name)
            guard holders.isEmpty else {
                let places = holders.map { hold in hold.mounts.map { "\($0) time(s) on \(hold.node)" } ?? "on \(hold.node)" }.joined(separator: ", ")
                throw CloudstorError(
                    .failedPrecondition,
                    "volume \(name) is in use: mounted \(places): stop the tasks using it there first; a hold left by a node that is gone is cleared with `cloudstorctl volume unmount --node NODE --all`")
            }
            let entry = "\(Int(Date().timeIntervalSince1970))-\(String(UInt32.random(in: .min ... .max), radix: 16))-\(name.prefix(200))"
            do throws(SystemError) {
                if try self.top.entry(name) != nil { try self.top.rename(name, to: self.trash, as: entry) }
                try self.volumes.unlink(name)
            } catch {
                throw self.failure("remove volume \(name)", error)
            }
            return entry
        }
    }

    /// Runs body under the lock of the volume's record (exclusive, or shared with
    /// the other nodes' holds) on the blocking-I/O threads, as every call on the
    /// file system while it is locked: a server that stalls stalls this volume's
    /// call, never Swift's pool. Nil if there is no record. Waits up to `lockWait`
    /// for a lock held elsewhere.
    func withRecordLock<T: Sendable>(
        _ name: String, exclusive: Bool = true, _ body: @escaping @Sendable () throws(CloudstorError) -> T
    ) async throws(CloudstorError) -> T? {
        let clock = ContinuousClock()
        let deadline = clock.now + lockWait
        while true {
            let attempt = try await FileSystemIO.run { () throws(CloudstorError) -> LockedRun<T> in
                let attempt: DirectoryHandle.LockAttempt
                do throws(SystemError) { attempt = try self.volumes.tryLock(name, exclusive: exclusive) } catch { throw self.failure("lock volume \(name)", error) }
                switch attempt {
                case .missing: return .missing
                case .busy: return .busy
                case .locked(let file):
                    defer { withExtendedLifetime(file) {} }
                    return .ran(try body())
                }
            }
            switch attempt {
            case .missing: return nil
            case .ran(let value): return value
            case .busy: break
            }
            let waited = SystemError(errno: EWOULDBLOCK, operation: "lock \(volumes.path)/\(name)")
            guard clock.now < deadline else { throw failure("lock volume \(name)", waited) }
            do { try await Task.sleep(for: .milliseconds(20)) } catch {
                throw failure("lock volume \(name)", SystemError(errno: ECANCELED, operation: "lock \(volumes.path)/\(name)"))
            }
        }
    }

    // MARK: Files

    func entry(_ name: String) throws(CloudstorError) -> DirectoryHandle.Entry? {
        do { return try top.entry(name) } catch { throw failure("look at \(path(name))", error) }
    }

    func list(_ directory: DirectoryHandle) throws(CloudstorError) -> [String] {
        do { return try directory.names().filter { !$0.hasPrefix(".") }.sorted() } catch { throw failure("read \(directory.path)", error) }
    }

    private func encode<T: Encodable>(_ value: T) throws(CloudstorError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return Array(try encoder.encode(value)) + [0x0A] } catch { throw CloudstorError(.internalError, "cannot encode \(T.self)", cause: error) }
    }

    /// Writes a file under a temporary name and links it into place unless the
    /// name is taken; returns nil if it was.
    func publish(_ metadata: SharedMetadata, in directory: DirectoryHandle) throws(CloudstorError) -> SharedMetadata? {
        let temp = temporaryName()
        let bytes = try encode(metadata)
        defer { try? temporary.unlink(temp) }
        do {
            try temporary.writeNew(temp, bytes)
            return try temporary.link(temp, to: directory, as: metadata.name) ? metadata : nil
        } catch {
            throw failure("write the metadata of \(metadata.name)", error)
        }
    }

    /// Writes a file under a temporary name and renames it into place. Not
    /// flushed: what it says (a hold) is the ledger's to restore after a crash.
    func replace<T: Encodable>(_ value: T, as name: String, in directory: DirectoryHandle) throws(CloudstorError) {
        let temp = temporaryName()
        let bytes = try encode(value)
        do {
            try temporary.writeNew(temp, bytes, durable: false)
            try temporary.rename(temp, to: directory, as: name)
        } catch {
            try? temporary.unlink(temp)
            throw failure("write \(directory.path)/\(name)", error)
        }
    }

    private func temporaryName() -> String {
        "\(node).\(getpid()).\(String(UInt64.random(in: .min ... .max), radix: 16))"
    }

    private func unreadable(_ name: String, _ why: String) -> CloudstorError {
        CloudstorError(
            .failedPrecondition,
            "the metadata of volume \(name) cannot be read (\(why)): fix or remove \(volumes.path)/\(name)")
    }

    /// A failed call on the file system: retryable where the file system is busy
    /// or away (an NFS server that stopped answering, an unmounted export).
    func failure(_ what: String, _ error: SystemError) -> CloudstorError {
        if error.errno == EWOULDBLOCK { return CloudstorError(.unavailable, "cannot \(what) on \(root): \(error)") }
        if Self.isAway(error.errno) {
            return CloudstorError(
                .unavailable, "cannot \(what) on \(root): \(error): is the file system mounted and its server reachable? try again")
        }
        return CloudstorError(.internalError, "cannot \(what) on \(root): \(error)")
    }

    /// Errors of a file system whose server is away or gone, not of what it holds.
    static func isAway(_ errno: Int32) -> Bool {
        [ESTALE, EIO, ENOTCONN, ETIMEDOUT, EHOSTDOWN, EHOSTUNREACH, ENODEV, ENXIO].contains(errno)
    }
}

/// What one try at a record's lock came to.
private enum LockedRun<T: Sendable>: Sendable {
    case missing, busy
    case ran(T)
}
