#if canImport(Glibc)
import Glibc
#endif
import Logging

extension VolumeManager {
    /// Mounts the volume on this node for one holder (a Docker mount id) and returns
    /// the mount point. The first holder attaches and mounts; later ones count.
    public func mount(name: String, id: String) async throws -> String {
        try VolumeName.validate(name)
        try Self.validateMountID(id)
        return try await locks.withLock(name) {
            let record = try existing(name)
            let path = try await ensureMounted(record)
            let total = try catalogue.addHold(on: name, id: id)
            logger.info("mounted volume", metadata: ["volume": "\(name)", "id": "\(id)", "holds": "\(total)"])
            return path
        }
    }

    /// Releases one hold by mount id; the last one unmounts and detaches. Releasing an
    /// id that holds nothing succeeds and changes nothing (Docker may repeat itself).
    public func unmount(name: String, id: String) async throws {
        try VolumeName.validate(name)
        try Self.validateMountID(id)
        try await locks.withLock(name) {
            let record = try existing(name)
            let holds = catalogue.holds(on: name)
            guard let held = holds[id] else {
                logger.notice("unmount by an id that holds nothing", metadata: ["volume": "\(name)", "id": "\(id)"])
                return
            }
            // The last hold goes only once the volume is unmounted, so the catalogue
            // never says unmounted while the kernel still has it mounted.
            if held == 1, holds.values.reduce(0, +) == 1 {
                try await release(record)
            }
            try catalogue.releaseHold(on: name, id: id)
            logger.info("unmounted volume", metadata: ["volume": "\(name)", "id": "\(id)"])
        }
    }

    /// Brings the node in line with the catalogue after a restart or a crash: held
    /// volumes are mounted again, unheld relocatable ones are unmounted and detached.
    public func reconcile() async {
        let totals = catalogue.holdTotals()
        for record in catalogue.volumes() {
            do {
                try await locks.withLock(record.name) {
                    if totals[record.name, default: 0] > 0 {
                        _ = try await ensureMounted(record)
                    } else if try backing(of: record) == .relocatable {
                        try await release(record)
                    }
                }
            } catch {
                logger.error("cannot restore volume", metadata: ["volume": "\(record.name)", "error": "\(error)"])
            }
        }
    }

    private func ensureMounted(_ record: VolumeRecord) async throws -> String {
        switch try backing(of: record) {
        case .shared:
            return try await shared.mount(id: record.cloudID)
        case .relocatable:
            let path = try mountpoint(of: record)
            if try host.isMounted(path) { return path }
            let attachment = try await block.attach(id: record.cloudID)
            if try await !host.hasFilesystem(device: attachment.device) {
                logger.info("making a filesystem", metadata: ["volume": "\(record.name)", "device": "\(attachment.device)"])
                try await host.makeFilesystem(device: attachment.device)
            }
            try await host.mount(device: attachment.device, at: path)
            return path
        }
    }

    private func release(_ record: VolumeRecord) async throws {
        guard try backing(of: record) == .relocatable else { return }
        let path = try mountpoint(of: record)
        try await host.unmount(path)
        try await block.detach(id: record.cloudID)
        // The empty mount point goes too; one that is not empty is left as found.
        rmdir(path)
    }

    static func validateMountID(_ id: String) throws {
        guard !id.isEmpty, id.utf8.count <= 1024 else {
            throw CloudstorError(.invalidArgument, "mount id must be 1 to 1024 characters long")
        }
    }
}
