import CloudstorService
import Testing

@testable import CloudstorAWSProvider

/// Volume options as the core parses them with EBS's rules (the AWS provider's, and
/// the local provider's but for snapshots and keys).
@Suite struct EBSOptionRulesTests {
    func parse(_ raw: [String: String], default backing: Backing = .relocatable, rules: EBSOptionRules = EBSOptionRules(cloud: true)) throws
        -> VolumeOptions
    {
        try VolumeOptions(parsing: raw, defaultBacking: backing, rules: rules)
    }

    /// The relocatable options, typed as the EBS backend reads them.
    func ebs(_ raw: [String: String]) throws -> EBSOptions {
        EBSOptions(try #require(try parse(raw).block))
    }

    func refusal(_ raw: [String: String], default backing: Backing = .relocatable) -> String {
        let error = #expect(throws: CloudstorError.self) { try parse(raw, default: backing) }
        #expect(error?.code == .invalidArgument)
        return error?.message ?? ""
    }

    @Test func relocatableDefaultsToStandard() throws {
        let options = try parse(["size": "1"])
        #expect(try ebs(["size": "1"]) == EBSOptions(sizeGiB: 1, type: .standard))
        #expect(options.dictionary == ["backing": "relocatable", "size": "1", "ebstype": "standard"])
    }

    @Test func localIsAnAliasOfRelocatable() throws {
        #expect(try parse(["backing": "local", "size": "2"]).backing == .relocatable)
    }

    @Test func sharedDefaultsToGeneralPurpose() throws {
        #expect(try parse([:], default: .shared) == VolumeOptions(backing: .shared, perfMode: .generalpurpose))
        #expect(try parse(["backing": "shared", "perfmode": "maxio"]).perfMode == .maxio)
    }

    @Test func valuesAreCaseInsensitive() throws {
        #expect(try ebs(["backing": "Relocatable", "ebstype": "GP3", "size": "10"]).type == .gp3)
    }

    @Test func aSnapshotMakesTheSizeOptional() throws {
        let options = try parse(["snapshot": "snap-0123456789abcdef0", "ebstype": "gp2"])
        #expect(options.block?.sizeGiB == nil && options.block?.values["snapshot"] == "snap-0123456789abcdef0")
        #expect(options.dictionary == ["backing": "relocatable", "ebstype": "gp2", "snapshot": "snap-0123456789abcdef0"])
        #expect(try ebs(["snapshot": "snap-01234567", "size": "5"]).sizeGiB == 5)
    }

    @Test(arguments: ["snap-", "snap-0123456", "snap-0123456789ABCDEF0", "vol-0123456789abcdef0", "snap-01234567/../x", "snap-0123456789abcdef"])
    func aSnapshotIdIsChecked(_ id: String) {
        #expect(refusal(["snapshot": id]).contains("snap- and 8 or 17 hexadecimal digits"))
    }

    @Test func aSnapshotsSizeIsCheckedAgainstTheOptions() throws {
        let given = try ebs(["snapshot": "snap-01234567", "size": "5"])
        #expect(throws: Never.self) { try given.check(snapshotSizeGiB: 5) }
        let smaller = #expect(throws: CloudstorError.self) { try given.check(snapshotSizeGiB: 8) }
        #expect(smaller?.message.contains("smaller than snapshot snap-01234567's 8 GiB") == true)
        let io1 = try ebs(["snapshot": "snap-01234567", "ebstype": "io1", "iops": "1000"])
        let tooMany = #expect(throws: CloudstorError.self) { try io1.check(snapshotSizeGiB: 10) }
        #expect(tooMany?.message.contains("at most 50 IOPS per GiB (500 here)") == true)
        #expect(throws: Never.self) { try io1.check(snapshotSizeGiB: 20) }
    }

    @Test func throughputIsForGP3WithinItsRangeAndIOPS() throws {
        #expect(try ebs(["size": "10", "ebstype": "gp3", "throughput": "750"]).throughput == 750)
        #expect(try parse(["size": "100", "ebstype": "gp3", "iops": "8000", "throughput": "2000"]).dictionary["throughput"] == "2000")
        #expect(refusal(["size": "10", "ebstype": "gp2", "throughput": "200"]).contains("applies to gp3"))
        #expect(refusal(["size": "10", "ebstype": "gp3", "throughput": "100"]).contains("125-2000"))
        #expect(refusal(["size": "10", "ebstype": "gp3", "throughput": "2001"]).contains("125-2000"))
        #expect(refusal(["size": "10", "ebstype": "gp3", "throughput": "751"]).contains("at most 0.25 MiB/s per IOPS (750 here); raise iops"))
    }

    @Test func encryptionAndItsKey() throws {
        #expect(try parse(["size": "1", "encrypted": "TRUE"]).dictionary["encrypted"] == "true")
        let keyed = try ebs(["size": "1", "kmskeyid": "alias/db-key"])
        #expect(keyed.encrypted == true && keyed.kmsKeyID == "alias/db-key")
        for key in ["1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:111122223333:alias/db"]
        {
            #expect(try ebs(["size": "1", "kmskeyid": key]).kmsKeyID == key)
        }
        #expect(refusal(["size": "1", "encrypted": "yes"]).contains("allowed: true, false"))
        #expect(refusal(["size": "1", "encrypted": "false", "kmskeyid": "alias/x"]).contains("needs encrypted=true"))
        for bad in ["", "key", "alias/a,b", "alias/a=b", "arn:aws:kms key"] {
            #expect(refusal(["size": "1", "kmskeyid": bad]).contains("option kmskeyid"))
        }
        #expect(refusal(["backing": "shared", "encrypted": "true"]).contains("relocatable volumes only"))
    }

    @Test func theDefaultTypeIsTheDaemonsChoice() throws {
        let rules = EBSOptionRules(defaultType: .gp3, cloud: true)
        #expect(try parse(["size": "1"], rules: rules).dictionary["ebstype"] == "gp3")
        #expect(try parse(["size": "1", "ebstype": "gp2"], rules: rules).dictionary["ebstype"] == "gp2")
    }

    @Test func theAccountsEncryptionByDefaultIsApplied() throws {
        let rules = EBSOptionRules(encryptedByDefault: true, cloud: true)
        #expect(try parse(["size": "1"], rules: rules).dictionary["encrypted"] == "true")
        // A volume made with encrypted=false before the account's default was turned on
        // keeps its options: its Create matches, its Modify parses (the backend refuses a new one).
        #expect(try parse(["size": "1", "encrypted": "false"], rules: rules).dictionary["encrypted"] == "false")
        #expect(try rules.modify(["size": "1", "encrypted": "false"], with: ["size": "2"], sizeGiB: 1).values["encrypted"] == "false")
    }

    @Test func theLocalProviderHasNoSnapshotsNorKeys() {
        let local = EBSOptionRules(cloud: false)
        for (raw, words) in [
            (["snapshot": "snap-01234567"], "needs a provider with snapshots"), (["size": "1", "encrypted": "true"], "needs a provider that encrypts"),
            (["size": "1", "kmskeyid": "alias/k"], "needs a provider that encrypts"),
        ] {
            let error = #expect(throws: CloudstorError.self) { try parse(raw, rules: local) }
            #expect(error?.message.contains(words) == true)
        }
    }

    @Test func modifyMergesChecksTheWholeAndANewTypeTakesItsOwnDefaults() throws {
        let rules = EBSOptionRules(cloud: true)
        let current = ["size": "10", "ebstype": "gp3", "iops": "4000", "throughput": "500"]
        #expect(try rules.modify(current, with: ["ebstype": "gp2"], sizeGiB: 10).values == ["size": "10", "ebstype": "gp2"])
        #expect(try rules.modify(current, with: ["size": "20"], sizeGiB: 10).values["iops"] == "4000")
        let tooMany = #expect(throws: CloudstorError.self) { try rules.modify(current, with: ["iops": "6000"], sizeGiB: 10) }
        #expect(tooMany?.message.contains("at most 500 IOPS per GiB") == true)
        // A restored volume without a size of its own: its IOPS against the size it has.
        let restored = ["ebstype": "io1", "iops": "100", "snapshot": "snap-01234567"]
        #expect(try rules.modify(restored, with: ["iops": "500"], sizeGiB: 10).values["iops"] == "500")
        #expect(throws: CloudstorError.self) { try rules.modify(restored, with: ["iops": "501"], sizeGiB: 10) }
    }

    @Test func sizeIsRequiredForRelocatable() {
        let message = refusal([:])
        #expect(message.contains("size") && message.contains("required"))
    }

    @Test(arguments: [
        (["size": "0"], "size"), (["size": "1025"], "1-1024"), (["size": "-1"], "size"), (["size": "1.5"], "size"),
        (["size": "abc"], "size"), (["size": ""], "size"), (["size": "99999999999999999999"], "size"),
        (["size": "100", "ebstype": "st1"], "125-16384"), (["size": "3", "ebstype": "io1", "iops": "100"], "4-16384"),
        (["size": "70000", "ebstype": "gp3"], "1-65536"),
    ])
    func sizeOutOfRange(_ raw: [String: String], _ expected: String) {
        let message = refusal(raw)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func unknownOptionIsNamed() {
        let message = refusal(["size": "1", "colour": "blue"])
        #expect(message.contains("colour") && message.contains("known options"))
    }

    @Test func badEnumValueListsAllowedValues() {
        let message = refusal(["size": "1", "ebstype": "gp9"])
        #expect(message.contains("gp9") && message.contains("ebstype") && message.contains("gp3"))
        #expect(refusal(["backing": "nfs"]).contains("relocatable (alias local), shared"))
        #expect(refusal(["backing": "shared", "perfmode": "turbo"]).contains("generalpurpose, maxio"))
    }

    @Test func iopsRules() throws {
        #expect(refusal(["size": "10", "ebstype": "io1"]).contains("iops is required"))
        #expect(refusal(["size": "10", "ebstype": "gp2", "iops": "100"]).contains("does not apply to ebstype=gp2"))
        #expect(refusal(["size": "10", "iops": "100"]).contains("does not apply to ebstype=standard"))
        #expect(refusal(["size": "10", "ebstype": "io1", "iops": "99"]).contains("100-64000"))
        // io1: at most 50 IOPS per GiB.
        #expect(refusal(["size": "10", "ebstype": "io1", "iops": "501"]).contains("50 IOPS per GiB"))
        #expect(try ebs(["size": "10", "ebstype": "io1", "iops": "500"]).iops == 500)
        // gp3 keeps its 3,000 baseline on any size; more needs 500 per GiB.
        #expect(try ebs(["size": "1", "ebstype": "gp3", "iops": "3000"]).iops == 3000)
        #expect(refusal(["size": "6", "ebstype": "gp3", "iops": "3001"]).contains("500 IOPS per GiB"))
        #expect(try ebs(["size": "1", "ebstype": "gp3"]).iops == nil)
        #expect(try ebs(["size": "100", "ebstype": "io2", "iops": "100000"]).iops == 100_000)
    }

    @Test func optionsOfTheOtherBackingAreRefused() {
        #expect(refusal(["size": "1", "perfmode": "maxio"]).contains("perfmode applies to shared"))
        #expect(refusal(["backing": "shared", "size": "1"]).contains("size applies to relocatable"))
        #expect(refusal(["backing": "shared", "ebstype": "gp2"]).contains("ebstype applies to relocatable"))
    }

    @Test func normalisedOptionsRoundTrip() throws {
        let options = try parse(["size": "20", "ebstype": "io2", "iops": "2000"])
        #expect(try parse(options.dictionary) == options)
    }

    @Test func ownerAndModeOfSharedVolumes() throws {
        let options = try parse(["backing": "shared", "uid": "1000", "gid": "0", "mode": "755"])
        #expect(options.dictionary == ["backing": "shared", "perfmode": "generalpurpose", "uid": "1000", "gid": "0", "mode": "0755"])
        #expect(try parse(options.dictionary) == options)
        #expect(try parse(["backing": "shared", "mode": "1777"]).mode == 0o1777)
        #expect(refusal(["backing": "shared", "mode": "0799"]).contains("octal"))
        #expect(refusal(["backing": "shared", "mode": "17777"]).contains("octal"))
        #expect(refusal(["backing": "shared", "uid": "-1"]).contains("numeric user id"))
        #expect(refusal(["backing": "shared", "uid": "4294967295"]).contains("4294967294"))
        #expect(refusal(["backing": "shared", "gid": "wheel"]).contains("numeric group id"))
        #expect(refusal(["size": "1", "uid": "1"]).contains("uid applies to shared"))
    }
}
