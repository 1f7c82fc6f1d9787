#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Logging

/// Shared volumes: directories of a shared file system that every node mounts
/// (EFS on AWS; NFS, or a local directory for one machine), with their metadata
/// and every node's holds on the file system itself, so every node sees the same
/// volumes with no other store. `perfmode=maxio` volumes live on a second file
/// system when one is configured. The same code serves every provider: AWS only
/// finds and mounts the file systems.
public final class SharedBackend: Sendable {
    let general: SharedFileSystem
    let maxio: SharedFileSystem?
    /// This node, as its holds are recorded.
    public let node: String
    let logger: Logger
    /// How long a Create waits for another node's create of the same name before
    /// it takes on a directory that has no metadata.
    let adoptWait: Duration

    /// Opens (and lays out) the roots. `fileSystemID` names them in status (EFS).
    public init(
        root: String, fileSystemID: String? = nil, maxioRoot: String? = nil, maxioFileSystemID: String? = nil, node: String,
        logger: Logger, adoptWait: Duration = .seconds(10)
    ) throws(CloudstorError) {
        general = try SharedFileSystem(root: root, fileSystemID: fileSystemID, node: node)
        maxio = try maxioRoot.map { (root) throws(CloudstorError) in try SharedFileSystem(root: root, fileSystemID: maxioFileSystemID, node: node) }
        self.node = node
        self.logger = logger
        self.adoptWait = adoptWait
    }

    var fileSystems: [SharedFileSystem] { [general] + (maxio.map { [$0] } ?? []) }

    /// The volume of this name, read from the file system (another node may have made it).
    func volume(named name: String) async throws(CloudstorError) -> VolumeRecord? {
        try await FileSystemIO.run { () throws(CloudstorError) in
            for fs in self.fileSystems {
                if let metadata = try fs.metadata(name) { return self.record(metadata, on: fs) }
            }
            return nil
        }
    }

    /// Every shared volume, in name order; metadata that cannot be read is logged and left out.
    func volumes() async throws(CloudstorError) -> [VolumeRecord] {
        try await FileSystemIO.run { () throws(CloudstorError) in
            var records: [VolumeRecord] = []
            for fs in self.fileSystems {
                let found = try fs.allMetadata()
                for (name, problem) in found.unreadable {
                    self.logger.warning("left out of the list", metadata: ["volume": "\(name)", "error": "\(problem)"])
                }
                records += found.volumes.map { self.record($0, on: fs) }
            }
            return records.sorted { $0.name < $1.name }
        }
    }

    /// Makes the volume or returns the one of that name (which may have other options).
    func create(name: String, options: VolumeOptions) async throws(CloudstorError) -> VolumeRecord {
        let target = try fileSystem(for: options.perfMode ?? .generalpurpose)
        if let existing = try await volume(named: name) { return existing }
        let metadata = SharedMetadata(name: name, options: options.dictionary, createdBy: node, createdAt: Date().formatted(.iso8601))
        let made = try await target.create(
            metadata, uid: options.uid, gid: options.gid, mode: mode_t(options.mode ?? 0o755), adoptWait: adoptWait)
        return record(made, on: target)
    }

    /// Moves the shared volumes a node's database recorded (before their records
    /// lived on the shared file system) to the file system, and out of the database.
    public func adopt(_ store: LocalVolumeStore, logger: Logger) throws(CloudstorError) {
        for record in store.volumes() where record.backing == .shared {
            let fs = try fileSystem(of: record)
            try fs.adopt(SharedMetadata(name: record.name, options: record.options, createdBy: node, createdAt: record.createdAt))
            try store.delete(named: record.name)
            logger.notice("moved a shared volume's record to the shared file system", metadata: ["volume": "\(record.name)", "root": "\(fs.root)"])
        }
    }

    /// Moves the volume to the trash (refused while any node holds it); the
    /// files are deleted by `emptyTrash`.
    func remove(_ record: VolumeRecord) async throws(CloudstorError) {
        let fs = try fileSystem(of: record)
        if let entry = try await fs.remove(record.name) {
            logger.info("moved to the trash", metadata: ["volume": "\(record.name)", "entry": "\(fs.root)/.cloudstor/trash/\(entry)"])
        }
    }

    /// Records this node's hold for `mounts` containers and returns the directory containers see.
    func hold(_ record: VolumeRecord, mounts: Int, since: String = Date().formatted(.iso8601)) async throws(CloudstorError) -> String {
        try await fileSystem(of: record).hold(record.name, node: node, mounts: mounts, since: since)
    }

    func release(_ record: VolumeRecord) async throws(CloudstorError) {
        let fs = try fileSystem(of: record)
        try await FileSystemIO.run { () throws(CloudstorError) in try fs.release(record.name, node: self.node) }
    }

    /// The nodes holding the volume.
    func holders(_ record: VolumeRecord) async throws(CloudstorError) -> [String] {
        let fs = try fileSystem(of: record)
        return try await FileSystemIO.run { () throws(CloudstorError) in try fs.holders(record.name).map(\.node) }
    }

    func path(of record: VolumeRecord) -> String {
        ((try? fileSystem(of: record)) ?? general).path(record.name)
    }

    /// Removes the holds recorded for this node that its ledger does not have
    /// (left by a crash, or by a node that rebooted) and this node's
    /// half-written files. Returns the held volumes whose hold is still on
    /// record; the caller writes the others again with `hold`.
    func reconcile(held: Set<String>) async -> Set<String> {
        var recorded: Set<String> = []
        for fs in fileSystems {
            do {
                recorded.formUnion(
                    try await FileSystemIO.run { () throws(CloudstorError) -> Set<String> in
                        try fs.removeTemporaryFiles()
                        var recorded: Set<String> = []
                        for name in try fs.held(by: self.node) {
                            if held.contains(name) {
                                recorded.insert(name)
                                continue
                            }
                            self.logger.notice("clearing a hold this node no longer has", metadata: ["volume": "\(name)", "root": "\(fs.root)"])
                            try fs.release(name, node: self.node)
                        }
                        return recorded
                    })
            } catch {
                logger.error("cannot reconcile the holds", metadata: ["root": "\(fs.root)", "error": "\(error)"])
            }
        }
        return recorded
    }

    /// Forgets every hold of another node (one that died); returns the volumes it held.
    func clearHolds(of other: String) async throws(CloudstorError) -> [String] {
        try await FileSystemIO.run { () throws(CloudstorError) in
            var names: [String] = []
            for fs in self.fileSystems { names += try fs.clearHolds(of: other) }
            return names.sorted()
        }
    }

    /// Deletes removed volumes' files (one unlink per file).
    func emptyTrash(olderThan age: Duration) async {
        for fs in fileSystems {
            do {
                let removed = try await FileSystemIO.run { () throws(CloudstorError) in try fs.emptyTrash(olderThan: age) }
                if !removed.isEmpty { logger.info("emptied the trash", metadata: ["root": "\(fs.root)", "entries": "\(removed.count)"]) }
            } catch {
                logger.error("cannot empty the trash", metadata: ["root": "\(fs.root)", "error": "\(error)"])
            }
        }
    }

    private func fileSystem(for mode: PerfMode) throws(CloudstorError) -> SharedFileSystem {
        switch mode {
        case .generalpurpose: return general
        case .maxio:
            guard let maxio else {
                throw CloudstorError(
                    .failedPrecondition,
                    "perfmode=maxio needs a Max I/O file system, and none is configured: give --efs-maxio-filesystem-id (AWS) or --shared-maxio-root")
            }
            return maxio
        }
    }

    private func fileSystem(of record: VolumeRecord) throws(CloudstorError) -> SharedFileSystem {
        try fileSystem(for: record.options["perfmode"].flatMap(PerfMode.init(rawValue:)) ?? .generalpurpose)
    }

    private func record(_ metadata: SharedMetadata, on fs: SharedFileSystem) -> VolumeRecord {
        VolumeRecord(name: metadata.name, backing: .shared, options: metadata.options, cloudID: fs.cloudID(metadata.name), createdAt: metadata.createdAt)
    }
}
