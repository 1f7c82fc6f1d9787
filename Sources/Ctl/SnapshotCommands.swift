import ArgumentParser
import CloudstorClient
import CloudstorProto

struct SnapshotCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Back up a relocatable volume: a snapshot kept until `snapshot rm`, even after the volume is removed; prints its id.",
        discussion: "Run it on the node where the volume is mounted (its filesystem is frozen while the snapshot starts), or on any node when it is not.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String
    @Option(help: "A label kept with the backup: up to 128 of A-Z a-z 0-9 . _ : / = + @ -.") var label = ""
    @Flag(help: "Print the snapshot as JSON.") var json = false

    func run() async throws {
        let reply = try await global.call { try await $0.createSnapshot(.with { $0.name = name; $0.label = label }) }
        print(json ? try Output.json(reply.snapshot) : reply.snapshot.id)
    }
}

struct SnapshotListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the snapshots Cloudstor made (backups, periodic, move), newest first.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name; none: every volume of the stack.") var name: String?
    @Flag(help: "Print a JSON array.") var json = false

    func run() async throws {
        let reply = try await global.call { try await $0.listSnapshots(.with { $0.name = name ?? "" }) }
        print(json ? "[" + (try reply.snapshots.map { try Output.json($0) }).joined(separator: ",\n") + "]" : Output.table(reply.snapshots))
    }
}

struct SnapshotRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete a backup (never a periodic or move snapshot, nor one Cloudstor did not make).", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Snapshot id (snap-…).") var id: String

    func run() async throws {
        _ = try await global.call { try await $0.deleteSnapshot(.with { $0.id = id }) }
        print(id)
    }
}
