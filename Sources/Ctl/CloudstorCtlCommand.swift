import ArgumentParser
import CloudstorSupport

/// `cloudstorctl`: the operator's debugging client. Every RPC is a subcommand, and
/// `call` sends any RPC from its JSON form.
public struct CloudstorCtlCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cloudstorctl",
        abstract: "Debugging client for cloudstord.",
        discussion: """
            Exit codes: 0 success, 1 failure, 2 invalid argument, 3 not found, \
            4 conflict (in use, or exists with other options), 5 unavailable (retry), 64 usage.
            """,
        version: Release.version,
        subcommands: [VolumeCommand.self, SnapshotCommand.self, HealthCommand.self, CallCommand.self])

    /// Declared at every level so `--socket` may come before or after the subcommand.
    @OptionGroup var global: GlobalOptions

    public init() {}
}

struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Create, list, inspect, mount, unmount and remove volumes; list and prune orphans.",
        subcommands: [
            VolumeCreateCommand.self, VolumeListCommand.self, VolumeInspectCommand.self, VolumeModifyCommand.self, VolumeRemoveCommand.self,
            VolumeMountCommand.self, VolumeUnmountCommand.self, VolumePathCommand.self, VolumePruneCommand.self,
        ])
    @OptionGroup var global: GlobalOptions
}

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Back up relocatable volumes (snapshots kept until removed); list Cloudstor's snapshots; remove backups.",
        subcommands: [SnapshotCreateCommand.self, SnapshotListCommand.self, SnapshotRemoveCommand.self])
    @OptionGroup var global: GlobalOptions
}
