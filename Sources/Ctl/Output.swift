import CloudstorClient
import CloudstorProto
import SwiftProtobuf

/// How cloudstorctl prints volumes: a table for people, proto JSON for scripts.
enum Output {
    static func json(_ message: some SwiftProtobuf.Message) throws -> String {
        var options = JSONEncodingOptions()
        options.alwaysPrintEnumsAsInts = false
        options.preserveProtoFieldNames = true
        return try message.jsonString(options: options)
    }

    static func table(_ volumes: [Cloudstor_V1_Volume]) -> String {
        var rows = [["NAME", "BACKING", "STATE", "MOUNTS", "MOUNTPOINT"]]
        for volume in volumes {
            rows.append([
                volume.name, volume.backing.displayName, volume.status.move.isEmpty ? volume.status.state.displayName : "moving",
                String(volume.status.mountCount), volume.status.mountpoint,
            ])
        }
        return render(rows)
    }

    private static func render(_ rows: [[String]]) -> String {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }

    static func table(_ snapshots: [Cloudstor_V1_Snapshot]) -> String {
        render(
            [["ID", "VOLUME", "KIND", "LABEL", "STATE", "SIZE", "CREATED"]]
                + snapshots.map { [$0.id, $0.volume, $0.kind, $0.label, $0.state == "pending" ? "pending \($0.progress)" : $0.state, "\($0.sizeGib) GiB", $0.createdAt] })
    }

    static func table(_ orphans: [Cloudstor_V1_Orphan]) -> String {
        render([["ID", "KIND", "NAME", "ZONE", "REASON"]] + orphans.map { [$0.id, $0.kind, $0.name, $0.zone, $0.reason] })
    }
}
