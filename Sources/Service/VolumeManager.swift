import Foundation
import Logging

/// All volume logic of the node: names → volumes, options, idempotency, per-volume
/// serialisation and mount reference counts. The RPC handlers call only this.
public final class VolumeManager: Sendable {
    public struct Configuration: Sendable {
        public var defaultBacking: Backing
        /// Where relocatable volumes are mounted: `<mountRoot>/<name>`.
        public var mountRoot: String
        /// This node's name in volume status.
        public var nodeID: String

        public init(defaultBacking: Backing, mountRoot: String, nodeID: String) {
            self.defaultBacking = defaultBacking
            self.mountRoot = mountRoot
            self.nodeID = nodeID
        }
    }

    let configuration: Configuration
    let catalogue: Catalogue
    let block: any BlockBackend
    let shared: any SharedBackend
    let host: any NodeHost
    let logger: Logger
    let locks = KeyedLock()

    public init(
        configuration: Configuration, catalogue: Catalogue, block: any BlockBackend, shared: any SharedBackend,
        host: any NodeHost, logger: Logger
    ) {
        self.configuration = configuration
        self.catalogue = catalogue
        self.block = block
        self.shared = shared
        self.host = host
        self.logger = logger
    }

    /// Creates a volume, or returns it if it exists with the same options.
    public func create(name: String, options raw: [String: String]) async throws -> VolumeInfo {
        try VolumeName.validate(name)
        let options = try VolumeOptions(parsing: raw, defaultBacking: configuration.defaultBacking)
        return try await locks.withLock(name) {
            if let existing = catalogue.volume(named: name) {
                guard existing.options == options.dictionary else {
                    throw CloudstorError(
                        .alreadyExists,
                        "volume \(name) exists with options \(Self.describe(existing.options)), not \(Self.describe(options.dictionary))")
                }
                return try await info(existing)
            }
            let id: String
            switch options.backing {
            case .relocatable: id = try await block.create(name: name, options: options)
            case .shared: id = try await shared.create(name: name, options: options)
            }
            let record = VolumeRecord(
                name: name, backing: options.backing.rawValue, options: options.dictionary, cloudID: id,
                createdAt: Date().formatted(.iso8601))
            try catalogue.insert(record)
            logger.info("created volume", metadata: ["volume": "\(name)", "options": "\(Self.describe(record.options))"])
            return try await info(record)
        }
    }

    /// Removes a volume and its data. Refused while it is mounted.
    public func remove(name: String) async throws {
        try VolumeName.validate(name)
        try await locks.withLock(name) {
            let record = try existing(name)
            let holds = catalogue.holds(on: name).values.reduce(0, +)
            guard holds == 0 else {
                throw CloudstorError(
                    .failedPrecondition, "volume \(name) is in use: mounted \(holds) time(s) on \(configuration.nodeID); unmount it first")
            }
            switch try backing(of: record) {
            case .relocatable: try await block.remove(id: record.cloudID)
            case .shared: try await shared.remove(id: record.cloudID)
            }
            try catalogue.delete(named: name)
            logger.info("removed volume", metadata: ["volume": "\(name)"])
        }
    }

    public func get(name: String) async throws -> VolumeInfo {
        try VolumeName.validate(name)
        guard let (record, holds) = catalogue.volumeAndHolds(named: name) else { throw Self.notFound(name) }
        return try await info(record, holds: holds)
    }

    public func list() async throws -> [VolumeInfo] {
        let totals = catalogue.holdTotals()
        var result: [VolumeInfo] = []
        for record in catalogue.volumes() {
            result.append(try await info(record, holds: totals[record.name] ?? 0))
        }
        return result
    }

    /// The mount point if the volume is mounted on this node, else nil.
    public func path(name: String) async throws -> String? {
        let info = try await get(name: name)
        return info.state == .mounted ? info.mountpoint : nil
    }

    func existing(_ name: String) throws -> VolumeRecord {
        guard let record = catalogue.volume(named: name) else { throw Self.notFound(name) }
        return record
    }

    static func notFound(_ name: String) -> CloudstorError {
        CloudstorError(.notFound, "no such volume: \(name)")
    }

    func backing(of record: VolumeRecord) throws -> Backing {
        guard let backing = Backing(rawValue: record.backing) else {
            throw CloudstorError(.internalError, "volume \(record.name) has unknown backing \(record.backing) in the catalogue")
        }
        return backing
    }

    func mountpoint(of record: VolumeRecord) throws -> String {
        switch try backing(of: record) {
        case .relocatable: "\(configuration.mountRoot)/\(record.name)"
        case .shared: record.cloudID
        }
    }

    func info(_ record: VolumeRecord, holds: Int? = nil) async throws -> VolumeInfo {
        let count = holds ?? catalogue.holds(on: record.name).values.reduce(0, +)
        var info = VolumeInfo(record: record, state: .created, node: "", mountpoint: "", device: "", mountCount: count)
        if try backing(of: record) == .relocatable, let device = try await block.attachedDevice(id: record.cloudID) {
            info.state = .attached
            info.device = device
            info.node = configuration.nodeID
        }
        if count > 0 {
            info.state = .mounted
            info.node = configuration.nodeID
            info.mountpoint = try mountpoint(of: record)
        }
        return info
    }

    static func describe(_ options: [String: String]) -> String {
        options.keys.sorted().map { "\($0)=\(options[$0]!)" }.joined(separator: ",")
    }
}
