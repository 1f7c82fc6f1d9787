import CloudstorProto
import CloudstorRPC

/// The `cloudstor.v1.Volumes` handlers: decode, call the manager, encode. The
/// manager throws only CloudstorErrors, which map themselves to statuses.
///
/// Reads (Get, List, Path, Capabilities) answer on the event loop that received
/// the call. Everything that may block a thread (mount(2), fsync, mkfs, waiting
/// for the cloud) runs on the global pool instead, so that a slow Mount never
/// delays another client's Get.
public struct VolumesService: Cloudstor_V1_Volumes.Handler {
    let manager: VolumeManager

    public init(manager: VolumeManager) {
        self.manager = manager
    }

    public func create(_ request: Cloudstor_V1_CreateRequest) async throws -> Cloudstor_V1_CreateResponse {
        try await offLoop {
            let info = try await manager.create(name: request.name, options: request.options)
            return .with { $0.volume = Cloudstor_V1_Volume(info) }
        }
    }

    public func remove(_ request: Cloudstor_V1_RemoveRequest) async throws -> Cloudstor_V1_RemoveResponse {
        try await offLoop {
            try await manager.remove(name: request.name)
            return Cloudstor_V1_RemoveResponse()
        }
    }

    public func get(_ request: Cloudstor_V1_GetRequest) async throws -> Cloudstor_V1_GetResponse {
        let info = try await manager.get(name: request.name)
        return .with { $0.volume = Cloudstor_V1_Volume(info) }
    }

    public func list(_ request: Cloudstor_V1_ListRequest) async throws -> Cloudstor_V1_ListResponse {
        let infos = try await manager.list()
        return .with { $0.volumes = infos.map(Cloudstor_V1_Volume.init) }
    }

    public func mount(_ request: Cloudstor_V1_MountRequest) async throws -> Cloudstor_V1_MountResponse {
        try await offLoop {
            let path = try await manager.mount(name: request.name, id: request.id)
            return .with { $0.mountpoint = path }
        }
    }

    public func unmount(_ request: Cloudstor_V1_UnmountRequest) async throws -> Cloudstor_V1_UnmountResponse {
        try await offLoop {
            try await manager.unmount(name: request.name, id: request.id)
            return Cloudstor_V1_UnmountResponse()
        }
    }

    public func path(_ request: Cloudstor_V1_PathRequest) async throws -> Cloudstor_V1_PathResponse {
        let path = try await manager.path(name: request.name)
        return .with { $0.mountpoint = path ?? "" }
    }

    public func capabilities(_ request: Cloudstor_V1_CapabilitiesRequest) async throws -> Cloudstor_V1_CapabilitiesResponse {
        .with { $0.scope = manager.configuration.scope.rawValue }
    }

    public func listOrphans(_ request: Cloudstor_V1_ListOrphansRequest) async throws -> Cloudstor_V1_ListOrphansResponse {
        try await offLoop {
            let orphans = try await manager.orphans()
            return .with {
                $0.orphans = orphans.map { orphan in
                    .with {
                        $0.id = orphan.id
                        $0.kind = orphan.kind
                        $0.name = orphan.name
                        $0.zone = orphan.zone
                        $0.reason = orphan.reason
                        $0.createdAt = orphan.createdAt
                    }
                }
            }
        }
    }

    public func pruneOrphans(_ request: Cloudstor_V1_PruneOrphansRequest) async throws -> Cloudstor_V1_PruneOrphansResponse {
        try await offLoop {
            let removed = try await manager.pruneOrphans(ids: request.ids)
            return .with { $0.removed = removed }
        }
    }

    public func clearHolds(_ request: Cloudstor_V1_ClearHoldsRequest) async throws -> Cloudstor_V1_ClearHoldsResponse {
        try await offLoop {
            let volumes = try await manager.clearHolds(of: request.node)
            return .with { $0.volumes = volumes }
        }
    }

    public func createSnapshot(_ request: Cloudstor_V1_CreateSnapshotRequest) async throws -> Cloudstor_V1_CreateSnapshotResponse {
        try await offLoop {
            let made = try await manager.backup(name: request.name, label: request.label)
            return .with { $0.snapshot = Cloudstor_V1_Snapshot(made) }
        }
    }

    public func listSnapshots(_ request: Cloudstor_V1_ListSnapshotsRequest) async throws -> Cloudstor_V1_ListSnapshotsResponse {
        try await offLoop {
            let all = try await manager.snapshots(of: request.name.isEmpty ? nil : request.name)
            return .with { $0.snapshots = all.map(Cloudstor_V1_Snapshot.init) }
        }
    }

    public func modify(_ request: Cloudstor_V1_ModifyRequest) async throws -> Cloudstor_V1_ModifyResponse {
        try await offLoop {
            let info = try await manager.modify(name: request.name, options: request.options)
            return .with { $0.volume = Cloudstor_V1_Volume(info) }
        }
    }

    public func node(_ request: Cloudstor_V1_NodeRequest) async throws -> Cloudstor_V1_NodeResponse {
        let use = await manager.attachmentUse()
        return .with {
            $0.node = manager.node
            $0.zone = manager.zone
            if let use {
                $0.attached = UInt32(clamping: use.attached)
                $0.attachmentLimit = UInt32(clamping: use.limit)
                $0.attachmentLimitSource = use.source
            }
        }
    }

    public func deleteSnapshot(_ request: Cloudstor_V1_DeleteSnapshotRequest) async throws -> Cloudstor_V1_DeleteSnapshotResponse {
        try await offLoop {
            try await manager.deleteBackup(id: request.id)
            return Cloudstor_V1_DeleteSnapshotResponse()
        }
    }
}

/// Runs body on Swift's global pool, off the event loop.
private func offLoop<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(globalConcurrentExecutor, operation: body)
}

extension Cloudstor_V1_Volume {
    init(_ info: VolumeInfo) {
        self.init()
        name = info.record.name
        backing = info.record.backing == .shared ? .shared : .relocatable
        options = info.record.options
        createdAt = info.record.createdAt
        status = .with {
            switch info.state {
            case .created: $0.state = .created
            case .attached: $0.state = .attached
            case .mounted: $0.state = .mounted
            }
            $0.node = info.node
            $0.mountpoint = info.mountpoint
            $0.cloudID = info.record.cloudID
            $0.device = info.device
            $0.mountCount = UInt32(clamping: info.mountCount)
            $0.zone = info.zone
            $0.attachmentState = info.attachmentState
            $0.move = info.move
            $0.holders = info.holders
            $0.modification = info.modification
        }
    }
}

extension Cloudstor_V1_Snapshot {
    init(_ snapshot: BlockSnapshot) {
        self.init()
        id = snapshot.id
        volume = snapshot.volume
        kind = snapshot.kind.rawValue
        label = snapshot.label
        state = snapshot.state
        progress = snapshot.progress
        sizeGib = UInt64(clamping: snapshot.sizeGiB)
        createdAt = snapshot.createdAt
    }
}
