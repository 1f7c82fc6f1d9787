import CloudstorAWS
import CloudstorService
import CloudstorSupport
import Crypto
import FoundationEssentials

/// How Cloudstor's facts are written on EBS volumes and snapshots: tags, so that
/// every node reads the same truth. A volume name can have several EBS volumes at
/// once while it moves; `live(_:)` says which one holds the volume now.
enum EBSTags {
    static let volume = "CloudstorVolume"
    static let stack = "StackID"
    static let generation = "CloudstorGeneration"
    static let backing = "CloudstorBacking"
    static let options = "CloudstorOptions"
    static let created = "CloudstorCreated"
    /// The instance whose filesystem holds the volume mounted; absent when none.
    static let holder = "CloudstorHolder"
    /// On the volume a move came from: the new volume that replaces it (the commit mark).
    static let superseded = "CloudstorSuperseded"
    /// On the volume a move made: the volume it was made from.
    static let movedFrom = "CloudstorMovedFrom"
    /// On the volume being moved: the claim (`MoveClaim.tag`) of the node moving it.
    static let moveClaim = MoveClaim.tagKey
    static let removal = MoveClaim.removalTagKey
    /// On a move's snapshot and the volume made from it: the id of the claimed attempt.
    static let moveID = "CloudstorMoveID"
    /// On snapshots Cloudstor made: move or periodic.
    static let kind = "CloudstorKind"
    /// On snapshots Cloudstor made: the volume it made them of.
    static let sourceVolume = "CloudstorSourceVolume"
    /// The kinds of snapshot whose lifetime Cloudstor manages (deleted with their
    /// volume, by retention or once their move is over). A backup is not one.
    static let snapshotKinds: Set<String> = ["move", "periodic"]
    /// When the modifications Cloudstor made of the volume began (the latest four,
    /// Unix seconds, comma-separated): what EC2's limit on modifications counts.
    static let modified = "CloudstorModified"
    /// On a backup: the label it was given.
    static let label = "CloudstorLabel"

    /// The description Cloudstor gives the snapshots it makes (no spaces: moto 5.2
    /// fails the signature of a body with one).
    static func snapshotDescription(kind: String, volume: String, stackHash: String) -> String {
        "cloudstor-\(kind)-of-\(volume)-stack-\(stackHash)"
    }

    /// Whether Cloudstor made this snapshot, and so may delete it. Tags alone do not
    /// say: AWS Backup and Data Lifecycle Manager copy a volume's tags onto the
    /// snapshots they take of it, and a copy of a snapshot may copy its tags. The
    /// description is set when a snapshot is made and copied by neither: ours names
    /// its kind, the volume it was taken of (which it must be) and the stack.
    static func isOurs(_ snapshot: EC2Snapshot, stackHash: String) -> Bool {
        guard let kind = snapshot.tags[kind], snapshotKinds.contains(kind), snapshot.tags[stack] == stackHash else { return false }
        return !snapshot.volumeID.isEmpty && snapshot.tags[sourceVolume] == snapshot.volumeID
            && snapshot.description == snapshotDescription(kind: kind, volume: snapshot.volumeID, stackHash: stackHash)
    }

    /// Whether Cloudstor made this snapshot as a backup of a volume of this stack
    /// (by the same proof as `isOurs`): the only snapshots `deleteBackup` deletes.
    static func isBackup(_ snapshot: EC2Snapshot, stackHash: String) -> Bool {
        snapshot.tags[kind] == "backup" && snapshot.tags[stack] == stackHash && !snapshot.volumeID.isEmpty
            && snapshot.tags[sourceVolume] == snapshot.volumeID
            && snapshot.description == snapshotDescription(kind: "backup", volume: snapshot.volumeID, stackHash: stackHash)
    }

    /// Lowercase hex MD5 of the stack id, as the original Cloudstor tagged volumes.
    static func stackHash(_ stackID: String) -> String { md5(stackID) }

    /// Lowercase hex MD5 (stack tags, client tokens).
    static func md5(_ text: String) -> String {
        Insecure.MD5.hash(data: Data(text.utf8)).map { $0.padded(2, radix: 16) }.joined()
    }

    /// The options as one tag value, without the backing (it has its own tag).
    static func encode(_ options: [String: String]) -> String {
        options.filter { $0.key != "backing" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    static func decode(_ text: String, backing: Backing) -> [String: String] {
        var out = ["backing": backing.rawValue]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0])] = String(parts[1]) }
        }
        return out
    }

    static func generation(of volume: EC2Volume) -> Int { Int(volume.tags[generation] ?? "") ?? 1 }

    static func isGone(_ volume: EC2Volume) -> Bool { volume.state == "deleting" || volume.state == "deleted" }

    /// The volume that holds the data of a name now: not superseded, not the
    /// uncommitted target of a move whose source still exists, the highest
    /// generation; of two made by a create race, the first made.
    static func live(_ volumes: [EC2Volume]) -> EC2Volume? {
        let present = volumes.filter { !isGone($0) }
        let ids = Dictionary(present.map { ($0.volumeID, $0) }, uniquingKeysWith: { a, _ in a })
        let candidates = present.filter { volume in
            if volume.tags[superseded] != nil, ids[volume.tags[superseded]!] != nil { return false }
            if let source = volume.tags[movedFrom].flatMap({ ids[$0] }), source.tags[superseded] != volume.volumeID { return false }
            return true
        }
        return candidates.min { a, b in
            let (ga, gb) = (generation(of: a), generation(of: b))
            if ga != gb { return ga > gb }
            if a.createTime != b.createTime { return a.createTime < b.createTime }
            return a.volumeID < b.volumeID
        }
    }

    static func record(of volume: EC2Volume) -> VolumeRecord? {
        guard let name = volume.tags[Self.volume] else { return nil }
        let backing = Backing(rawValue: volume.tags[Self.backing] ?? "relocatable") ?? .relocatable
        return VolumeRecord(
            name: name, backing: backing, options: decode(volume.tags[options] ?? "", backing: backing), cloudID: volume.volumeID,
            createdAt: volume.tags[created] ?? volume.createTime)
    }

    static func block(of volume: EC2Volume) -> BlockVolume {
        let attachment = volume.attachments.first { $0.state != "detached" }.map {
            BlockAttachment(node: $0.instanceID, device: $0.device, state: $0.state)
        }
        return BlockVolume(
            id: volume.volumeID, zone: volume.availabilityZone, state: volume.state, sizeGiB: volume.sizeGiB, attachment: attachment,
            holder: volume.tags[holder], movedFrom: volume.tags[movedFrom], claim: claim(of: volume),
            removal: volume.tags[removal].flatMap(MoveClaim.init(tag:)), modifiedAt: modifications(of: volume).last)
    }

    /// When the modifications Cloudstor made of the volume began, oldest first.
    static func modifications(of volume: EC2Volume) -> [Date] {
        (volume.tags[modified] ?? "").split(separator: ",").compactMap { Int($0) }.map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// The claim of the node moving the volume, if any.
    static func claim(of volume: EC2Volume) -> MoveClaim? {
        volume.tags[moveClaim].flatMap(MoveClaim.init(tag:))
    }
}
