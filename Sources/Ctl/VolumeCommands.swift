import ArgumentParser
import CloudstorClient
import CloudstorProto
import SwiftProtobuf

struct VolumeCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a volume (idempotent).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String
    @Option(name: [.customShort("o"), .customLong("opt")], help: "An option as key=value: backing, size, ebstype, iops, throughput, snapshot, encrypted, kmskeyid, perfmode, uid, gid, mode.")
    var options: [String] = []
    @Flag(help: "Print the volume as JSON.") var json = false

    func run() async throws {
        var request = Cloudstor_V1_CreateRequest()
        request.name = name
        for option in options {
            guard let eq = option.firstIndex(of: "="), eq != option.startIndex else {
                throw ValidationError("option \(option) is not key=value")
            }
            request.options[String(option[..<eq])] = String(option[option.index(after: eq)...])
        }
        let reply = try await global.call { try await $0.create(request) }
        print(json ? try Output.json(reply.volume) : reply.volume.name)
    }
}

struct VolumeModifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modify", abstract: "Change a relocatable volume's size, type, IOPS or throughput in place; prints its options.",
        discussion: """
            The provider applies the change in the background (EBS: modifying, optimizing, completed; `volume inspect` shows it). \
            The filesystem grows where the volume is mounted, or at its next mount. A volume never shrinks; EC2 takes the next \
            modification of a volume once the last is completed, and at most four in 24 hours.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String
    @Option(help: "New size in GiB (never smaller).") var size: Int?
    @Option(help: "New EBS type: standard, gp2, gp3, io1, io2, st1, sc1.") var ebstype: String?
    @Option(help: "New provisioned IOPS (gp3, io1, io2).") var iops: Int?
    @Option(help: "New throughput in MiB/s (gp3).") var throughput: Int?
    @Flag(help: "Print the volume as JSON.") var json = false

    func validate() throws {
        guard size != nil || ebstype != nil || iops != nil || throughput != nil else {
            throw ValidationError("nothing to modify: give --size, --ebstype, --iops or --throughput")
        }
    }

    func run() async throws {
        var request = Cloudstor_V1_ModifyRequest()
        request.name = name
        if let size { request.options["size"] = String(size) }
        if let ebstype { request.options["ebstype"] = ebstype }
        if let iops { request.options["iops"] = String(iops) }
        if let throughput { request.options["throughput"] = String(throughput) }
        let reply = try await global.call { try await $0.modify(request) }
        let options = reply.volume.options.keys.sorted().map { "\($0)=\(reply.volume.options[$0]!)" }.joined(separator: ",")
        print(json ? try Output.json(reply.volume) : "\(reply.volume.name) \(options) \(reply.volume.status.modification)")
    }
}

struct VolumeListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print a JSON array.") var json = false
    @Flag(help: "List storage of this stack that no live volume uses (what moves left) instead.") var orphans = false

    func run() async throws {
        if orphans {
            let reply = try await global.call { try await $0.listOrphans() }
            print(json ? "[" + (try reply.orphans.map { try Output.json($0) }).joined(separator: ",\n") + "]" : Output.table(reply.orphans))
            return
        }
        let reply = try await global.call { try await $0.list() }
        if json {
            print("[" + (try reply.volumes.map { try Output.json($0) }).joined(separator: ",\n") + "]")
        } else {
            print(Output.table(reply.volumes))
        }
    }
}

struct VolumeInspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show one volume as JSON.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String

    func run() async throws {
        let reply = try await global.call { try await $0.get(.with { $0.name = name }) }
        print(try Output.json(reply.volume))
    }
}

struct VolumeRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a volume and its data.", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String

    func run() async throws {
        _ = try await global.call { try await $0.remove(.with { $0.name = name }) }
        print(name)
    }
}

struct VolumeMountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount", abstract: "Mount a volume on this node for one holder; prints the mount point.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String
    @Option(help: "The holder's mount id; unmount with the same id.") var id = "cloudstorctl"

    func run() async throws {
        let reply = try await global.call { try await $0.mount(.with { $0.name = name; $0.id = id }) }
        print(reply.mountpoint)
    }
}

struct VolumeUnmountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmount",
        abstract: "Release one holder's mount of a volume, or every hold a dead node left (shared volumes, a cluster root's).",
        usage: """
            cloudstorctl volume unmount NAME --id ID
            cloudstorctl volume unmount --node NODE --all
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String?
    @Option(help: "The holder's mount id, as given to mount.") var id: String?
    @Option(help: "A node that died holding volumes (with --all): its holds on shared volumes and on the cluster root are forgotten.") var node: String?
    @Flag(help: "Every hold of --node.") var all = false

    func validate() throws {
        switch (name, id, node, all) {
        case (_?, _?, nil, false), (nil, nil, _?, true): break
        default: throw ValidationError("give a volume NAME and --id ID, or --node NODE --all")
        }
    }

    func run() async throws {
        if let node {
            let reply = try await global.call { try await $0.clearHolds(.with { $0.node = node }) }
            for volume in reply.volumes { print(volume) }
            return
        }
        _ = try await global.call { try await $0.unmount(.with { $0.name = name!; $0.id = id! }) }
    }
}

struct VolumePathCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "path", abstract: "Print the mount point, if mounted on this node.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volume name.") var name: String

    func run() async throws {
        let reply = try await global.call { try await $0.path(.with { $0.name = name }) }
        print(reply.mountpoint)
    }
}

struct VolumePruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete storage of this stack that no live volume uses (see ls --orphans).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Orphan ids to delete; none: every orphan found now.") var ids: [String] = []
    @Flag(help: "Do not ask for confirmation.") var yes = false

    func run() async throws {
        if !yes {
            let found = try await global.call { try await $0.listOrphans() }.orphans
            let chosen = ids.isEmpty ? found : found.filter { ids.contains($0.id) }
            guard !chosen.isEmpty else {
                print("no orphans")
                return
            }
            print(Output.table(chosen))
            print("delete \(chosen.count) of them? [y/N] ", terminator: "")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                throw ValidationError("nothing deleted (answer y, or pass --yes)")
            }
        }
        let reply = try await global.call { try await $0.pruneOrphans(.with { $0.ids = ids }) }
        for id in reply.removed { print(id) }
    }
}
