import CloudstorProto
import CloudstorRPC

/// The `cloudstor.v1.Volumes` handlers: decode, call the manager, encode. The
/// manager throws only CloudstorErrors, which map themselves to statuses.
///
/// Reads (Get, List, Path, Capabilities) answer on the event loop that received
/// the call. Everything that may block a thread (mount(2), fsync, mkfs, waiting
/// for the cloud) runs on the global pool instead, so that a slow Mount never
/// delays another client's Get.
public struct VolumesService: RPCService {
    static let name = "cloudstor.v1.Volumes"
    let manager: VolumeManager

    public init(manager: VolumeManager) {
        self.manager = manager
    }

    public func register(in router: inout RPCRouter) {
        let manager = manager
        router.unary(Self.name, "Create") { (request: Cloudstor_V1_CreateRequest) in
            try await offLoop {
                let info = try await manager.create(name: request.name, options: request.options)
                return Cloudstor_V1_CreateResponse.with { $0.volume = Cloudstor_V1_Volume(info) }
            }
        }
        router.unary(Self.name, "Remove") { (request: Cloudstor_V1_RemoveRequest) in
            try await offLoop {
                try await manager.remove(name: request.name)
                return Cloudstor_V1_RemoveResponse()
            }
        }
        router.unary(Self.name, "Get") { (request: Cloudstor_V1_GetRequest) in
            let info = try await manager.get(name: request.name)
            return Cloudstor_V1_GetResponse.with { $0.volume = Cloudstor_V1_Volume(info) }
        }
        router.unary(Self.name, "List") { (_: Cloudstor_V1_ListRequest) in
            let infos = try await manager.list()
            return Cloudstor_V1_ListResponse.with { $0.volumes = infos.map(Cloudstor_V1_Volume.init) }
        }
        router.unary(Self.name, "Mount") { (request: Cloudstor_V1_MountRequest) in
            try await offLoop {
                let path = try await manager.mount(name: request.name, id: request.id)
                return Cloudstor_V1_MountResponse.with { $0.mountpoint = path }
            }
        }
        router.unary(Self.name, "Unmount") { (request: Cloudstor_V1_UnmountRequest) in
            try await offLoop {
                try await manager.unmount(name: request.name, id: request.id)
                return Cloudstor_V1_UnmountResponse()
            }
        }
        router.unary(Self.name, "Path") { (request: Cloudstor_V1_PathRequest) in
            let path = try await manager.path(name: request.name)
            return Cloudstor_V1_PathResponse.with { $0.mountpoint = path ?? "" }
        }
        router.unary(Self.name, "Capabilities") { (_: Cloudstor_V1_CapabilitiesRequest) in
            Cloudstor_V1_CapabilitiesResponse.with { $0.scope = "global" }
        }
        router.unary(Self.name, "ListOrphans") { (_: Cloudstor_V1_ListOrphansRequest) in
            try await offLoop {
                let orphans = try await manager.orphans()
                return Cloudstor_V1_ListOrphansResponse.with {
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
        router.unary(Self.name, "PruneOrphans") { (request: Cloudstor_V1_PruneOrphansRequest) in
            try await offLoop {
                let removed = try await manager.pruneOrphans(ids: request.ids)
                return Cloudstor_V1_PruneOrphansResponse.with { $0.removed = removed }
            }
        }
        router.unary(Self.name, "ClearHolds") { (request: Cloudstor_V1_ClearHoldsRequest) in
            try await offLoop {
                let volumes = try await manager.clearHolds(of: request.node)
                return Cloudstor_V1_ClearHoldsResponse.with { $0.volumes = volumes }
            }
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
        }
    }
}
