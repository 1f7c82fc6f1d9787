import Testing

@testable import CloudstorAWS
@testable import CloudstorAWSProvider
import CloudstorService

/// Which EBS volume holds a name's data, at every step of a move and after a create race.
@Suite struct EBSTagsTests {
    func volume(_ id: String, generation: Int = 1, created: String = "2026-01-01T00:00:00Z", state: String = "available",
        tags extra: [String: String] = [:]) -> EC2Volume
    {
        var tags = [EBSTags.volume: "v", EBSTags.stack: "s", EBSTags.generation: String(generation)]
        tags.merge(extra) { $1 }
        return EC2Volume(
            volumeID: id, sizeGiB: 1, availabilityZone: "us-east-1a", state: state, volumeType: "gp2", iops: nil, throughput: nil, encrypted: false, kmsKeyID: nil, snapshotID: nil,
            createTime: created, attachments: [], tags: tags)
    }

    @Test func theSourceStaysLiveUntilTheCommitMark() {
        let source = volume("vol-a")
        let target = volume("vol-b", generation: 2, tags: [EBSTags.movedFrom: "vol-a"])
        #expect(EBSTags.live([source])?.volumeID == "vol-a")
        #expect(EBSTags.live([source, target])?.volumeID == "vol-a")
        let committed = volume("vol-a", tags: [EBSTags.superseded: "vol-b"])
        #expect(EBSTags.live([committed, target])?.volumeID == "vol-b")
        #expect(EBSTags.live([target])?.volumeID == "vol-b")  // the source deleted
    }

    @Test func aCommitMarkNamingAVolumeThatIsGoneIsIgnored() {
        let source = volume("vol-a", tags: [EBSTags.superseded: "vol-gone"])
        #expect(EBSTags.live([source])?.volumeID == "vol-a")
        #expect(EBSTags.live([source, volume("vol-gone", generation: 2, state: "deleting", tags: [EBSTags.movedFrom: "vol-a"])])?.volumeID == "vol-a")
    }

    @Test func ofACreateRaceTheFirstMadeWins() {
        let first = volume("vol-z", created: "2026-01-01T00:00:00Z")
        let second = volume("vol-a", created: "2026-01-01T00:00:01Z")
        #expect(EBSTags.live([second, first])?.volumeID == "vol-z")
        #expect(EBSTags.live([first, second])?.volumeID == "vol-z")
    }

    @Test func deletedVolumesAreNeverLive() {
        #expect(EBSTags.live([volume("vol-a", state: "deleting"), volume("vol-b", state: "deleted")]) == nil)
    }

    @Test func optionsRoundTripWithoutTheBacking() {
        let encoded = EBSTags.encode(["backing": "relocatable", "size": "10", "ebstype": "io1", "iops": "500"])
        #expect(encoded == "ebstype=io1,iops=500,size=10")
        #expect(EBSTags.decode(encoded, backing: .relocatable) == ["backing": "relocatable", "size": "10", "ebstype": "io1", "iops": "500"])
    }

    @Test func theStackTagIsTheLowercaseHexMD5OfTheStackID() {
        #expect(EBSTags.stackHash("stack-1") == "88ebda5fb2e532e3180dd46dbf88a31a")
        #expect(EBSTags.stackHash("") == "d41d8cd98f00b204e9800998ecf8427e")
    }

    /// A snapshot Cloudstor made, and what AWS Backup, DLM or a user may make of it.
    @Test func onlySnapshotsCloudstorMadeAreItsOwn() {
        func snapshot(_ volume: String, _ description: String, _ tags: [String: String]) -> EC2Snapshot {
            EC2Snapshot(
                snapshotID: "snap-1", volumeID: volume, state: "completed", progress: "100%", volumeSizeGiB: 1, startTime: "", description: description,
                tags: tags)
        }
        let marks = [EBSTags.volume: "v", EBSTags.stack: "s", EBSTags.kind: "periodic", EBSTags.sourceVolume: "vol-a"]
        let ours = snapshot("vol-a", EBSTags.snapshotDescription(kind: "periodic", volume: "vol-a", stackHash: "s"), marks)
        #expect(EBSTags.isOurs(ours, stackHash: "s"))
        #expect(!EBSTags.isOurs(ours, stackHash: "other-stack"))
        // AWS Backup / DLM with "copy tags from volume": the volume's tags, no kind
        #expect(!EBSTags.isOurs(snapshot("vol-a", "This snapshot is created by the AWS Backup service.", [EBSTags.volume: "v", EBSTags.stack: "s"]), stackHash: "s"))
        // every tag copied, but a description of its own (a copy, or one taken by hand)
        #expect(!EBSTags.isOurs(snapshot("vol-a", "[Copied snap-1 from us-east-1]", marks), stackHash: "s"))
        // a copy of ours: taken of no volume of ours (EC2 gives copies vol-ffffffff)
        #expect(!EBSTags.isOurs(snapshot("vol-ffffffff", ours.description, marks), stackHash: "s"))
        // a kind Cloudstor never makes
        var other = marks
        other[EBSTags.kind] = "backup"
        #expect(!EBSTags.isOurs(snapshot("vol-a", EBSTags.snapshotDescription(kind: "backup", volume: "vol-a", stackHash: "s"), other), stackHash: "s"))
    }

    @Test func aVolumesClaimIsReadFromItsTag() {
        let claimed = volume("vol-a", tags: [EBSTags.moveClaim: "i-1/us-east-1b/abc"])
        #expect(EBSTags.block(of: claimed).claim == MoveClaim(node: "i-1", zone: "us-east-1b", id: "abc"))
        #expect(EBSTags.block(of: volume("vol-a", tags: [EBSTags.moveClaim: "garbage"])).claim == nil)
        #expect(EBSTags.block(of: volume("vol-a")).claim == nil)
    }
}
