import CloudstorAWS
import CloudstorService
import Logging

/// The stack's EFS file systems: found by their `StackID` tag when not given,
/// and mounted on this node where they are not yet.
enum EFSFileSystems {
    struct Found: Equatable {
        var general: String?
        var maxio: String?
    }

    /// What EFS's own mount helper uses, for throughput and for a server that
    /// fails over: large transfers, hard mounts, a new source port on reconnect.
    static let mountOptions = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"

    static func mountSource(_ id: String, region: String) -> String {
        "\(id).efs.\(region).amazonaws.com:/"
    }

    /// The available file systems tagged `StackID` = the stack's hash, by
    /// performance mode; more than one of a mode is refused (say which by flag).
    static func discover(_ efs: EFSClient, stackHash: String, logger: Logger) async throws(CloudstorError) -> Found {
        var general: [String] = []
        var maxio: [String] = []
        var marker: String?
        repeat {
            let page: (systems: [EFSFileSystem], next: String?)
            do {
                let reply = try await efs.describeFileSystems(marker: marker)
                page = (reply.0, reply.next)
            } catch {
                if error.code.hasPrefix("AccessDenied") {
                    logger.notice("may not list EFS file systems; shared volumes need --efs-filesystem-id", metadata: ["error": "\(error)"])
                    return Found()
                }
                throw CloudstorError(error, "cannot list the EFS file systems to find this stack's")
            }
            for system in page.systems
            where system.Tags?.contains(EFSTag(Key: EBSTags.stack, Value: stackHash)) == true && (system.LifeCycleState ?? "available") == "available" {
                if system.PerformanceMode == "maxIO" { maxio.append(system.FileSystemId) } else { general.append(system.FileSystemId) }
            }
            marker = page.next
        } while marker != nil
        for (ids, mode, flag) in [(general, "generalPurpose", "--efs-filesystem-id"), (maxio, "maxIO", "--efs-maxio-filesystem-id")] where ids.count > 1 {
            throw CloudstorError(
                .failedPrecondition,
                "several \(mode) EFS file systems carry this stack's tag StackID=\(stackHash) (\(ids.sorted().joined(separator: ", "))): say which with \(flag)")
        }
        return Found(general: general.first, maxio: maxio.first)
    }

    /// Mounts the file system at root unless something is mounted there already
    /// (the operator's own mount, or this daemon's from an earlier run).
    static func mount(
        _ id: String, at root: String, region: String, zone: String, host: any NodeHost, efs: EFSClient, logger: Logger
    ) async throws(CloudstorError) {
        if try host.isMounted(root) { return }
        let source = mountSource(id, region: region)
        do {
            try await host.mountNFS(source, at: root, options: mountOptions)
            logger.info("mounted EFS", metadata: ["filesystem": "\(id)", "at": "\(root)"])
        } catch {
            throw CloudstorError(
                .failedPrecondition,
                "cannot mount EFS file system \(id) at \(root): \(error.message); \(await advice(id, zone: zone, efs: efs))")
        }
    }

    /// What to check when a mount failed, from the file system's mount targets.
    private static func advice(_ id: String, zone: String, efs: EFSClient) async -> String {
        guard let targets = try? await efs.describeMountTargets(fileSystemID: id).0 else {
            return "check that \(id) exists in this region and that the daemon may call elasticfilesystem:DescribeMountTargets"
        }
        guard targets.contains(where: { $0.AvailabilityZoneName == zone }) else {
            return "\(id) has no mount target in \(zone): create one there (aws efs create-mount-target)"
        }
        return "check that nfs-common (mount.nfs4) is installed and that the mount target's security group allows NFS (TCP 2049) from this instance"
    }
}
