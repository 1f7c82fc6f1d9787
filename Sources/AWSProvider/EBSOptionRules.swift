import CloudstorService

/// The options of relocatable volumes on EBS, with AWS's documented limits: size
/// per type, IOPS and their ratio to size, gp3's throughput and its ratio to
/// IOPS, encryption and its key, the snapshot to restore. The local provider
/// takes the same rules (without snapshots or encryption), so a stack that works
/// on one machine works on AWS.
public struct EBSOptionRules: BlockOptionRules {
    /// The type of volumes created without `ebstype` (`--default-ebstype`).
    public var defaultType: EBSVolumeType
    /// The account encrypts new volumes by default: a volume created without
    /// `encrypted` is encrypted (the backend refuses to make one with `encrypted=false`).
    public var encryptedByDefault: Bool
    /// Snapshots and KMS keys exist (on AWS; not on the local provider).
    public var cloud: Bool

    public init(defaultType: EBSVolumeType = .standard, encryptedByDefault: Bool = false, cloud: Bool) {
        self.defaultType = defaultType
        self.encryptedByDefault = encryptedByDefault
        self.cloud = cloud
    }

    public var keys: [String] { ["size", "ebstype", "iops", "throughput", "snapshot", "encrypted", "kmskeyid"] }

    public var modifiableKeys: [String] { ["size", "ebstype", "iops", "throughput"] }

    public func validate(_ raw: [String: String]) throws(CloudstorError) -> BlockOptions {
        var options = try parse(raw, knownSizeGiB: nil)
        if options.encrypted == nil, encryptedByDefault { options.encrypted = true }
        return options.block
    }

    /// A new type takes its own IOPS and throughput defaults unless they are given too.
    public func modify(_ current: [String: String], with changes: [String: String], sizeGiB: Int) throws(CloudstorError) -> BlockOptions {
        var merged = current
        if let type = changes["ebstype"], type.lowercased() != current["ebstype"] {
            merged["iops"] = nil
            merged["throughput"] = nil
        }
        for (key, value) in changes { merged[key] = value }
        return try parse(merged, knownSizeGiB: sizeGiB).block
    }

    /// `knownSizeGiB`: the size of an existing volume whose options do not say it.
    private func parse(_ raw: [String: String], knownSizeGiB: Int?) throws(CloudstorError) -> EBSOptions {
        let type = try OptionValue.choice(raw["ebstype"], option: "ebstype", default: defaultType)
        let snapshot = try raw["snapshot"].map { (text) throws(CloudstorError) in try Self.snapshotID(text) }
        let (encrypted, key) = try Self.encryption(raw["encrypted"], raw["kmskeyid"])
        if !cloud {
            if let snapshot {
                throw CloudstorError(
                    .invalidArgument, "option snapshot=\(snapshot) needs a provider with snapshots (--provider aws); the local provider has none")
            }
            if encrypted == true {
                throw CloudstorError(
                    .invalidArgument,
                    "option \(key == nil ? "encrypted=true" : "kmskeyid") needs a provider that encrypts volumes (--provider aws); the local provider does not")
            }
        }
        var size: Int?
        if let sizeText = raw["size"] {
            size = try OptionValue.integer(sizeText, option: "size", unit: "GiB", range: type.sizeRange, context: "ebstype=\(type.rawValue)")
        } else if snapshot == nil {
            throw CloudstorError(
                .invalidArgument,
                "option size is required for relocatable volumes: size=GiB, \(type.sizeRange.lowerBound)-\(type.sizeRange.upperBound) for ebstype=\(type.rawValue)")
        }
        // Without a size, the snapshot's decides (checked by the backend once it is looked up).
        let iops = try Self.iops(raw["iops"], type: type, sizeGiB: size ?? knownSizeGiB)
        let throughput = try Self.throughput(raw["throughput"], type: type, iops: iops)
        let options = EBSOptions(
            sizeGiB: size, type: type, iops: iops, throughput: throughput, encrypted: encrypted, kmsKeyID: key, snapshot: snapshot)
        if size == nil, let knownSizeGiB { try options.check(snapshotSizeGiB: knownSizeGiB) }
        return options
    }

    /// `encrypted=true|false` and `kmskeyid=KEY`: a key id, `mrk-…`, `alias/NAME`, or
    /// the ARN of a key or an alias; a key implies (and needs) encryption.
    private static func encryption(_ flag: String?, _ key: String?) throws(CloudstorError) -> (Bool?, String?) {
        var encrypted: Bool?
        if let flag {
            switch flag.lowercased() {
            case "true": encrypted = true
            case "false": encrypted = false
            default: throw CloudstorError(.invalidArgument, "invalid value \(VolumeName.quoted(flag)) for option encrypted; allowed: true, false")
            }
        }
        guard let key else { return (encrypted, nil) }
        let allowed = key.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":")
        }
        let shape = key.hasPrefix("alias/") || key.hasPrefix("arn:aws") || key.hasPrefix("mrk-") || (key.utf8.count == 36 && !key.contains("/" as Character))
        guard allowed, shape, key.utf8.count <= 2048 else {
            throw CloudstorError(
                .invalidArgument,
                "invalid value \(VolumeName.quoted(key)) for option kmskeyid: a KMS key id, alias/NAME, or the ARN of a key or an alias")
        }
        guard encrypted != false else {
            throw CloudstorError(.invalidArgument, "option kmskeyid needs encrypted=true (or no encrypted option): a key encrypts the volume")
        }
        return (true, key)
    }

    private static func snapshotID(_ text: String) throws(CloudstorError) -> String {
        try validateSnapshotID(text, what: "value \(VolumeName.quoted(text)) for option snapshot")
        return text
    }

    /// An EBS snapshot id: `snap-` and 8 or 17 hexadecimal digits; `what` names it
    /// in the refusal.
    static func validateSnapshotID(_ text: String, what: String) throws(CloudstorError) {
        let digits = text.utf8.dropFirst(5)
        guard text.hasPrefix("snap-"), digits.count == 8 || digits.count == 17,
            digits.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw CloudstorError(.invalidArgument, "invalid \(what): a snapshot id, snap- and 8 or 17 hexadecimal digits")
        }
    }

    /// `sizeGiB` nil: the size is a snapshot's, not known yet; the per-GiB ceiling
    /// is then left to the backend.
    private static func iops(_ text: String?, type: EBSVolumeType, sizeGiB: Int?) throws(CloudstorError) -> Int? {
        guard let range = type.iopsRange else {
            if text != nil {
                throw CloudstorError(
                    .invalidArgument, "option iops does not apply to ebstype=\(type.rawValue); it applies to gp3, io1 and io2")
            }
            return nil
        }
        guard let text else {
            if type.requiresIOPS {
                throw CloudstorError(
                    .invalidArgument, "option iops is required for ebstype=\(type.rawValue): \(range.lowerBound)-\(range.upperBound)")
            }
            return nil
        }
        let iops = try OptionValue.integer(text, option: "iops", unit: "IOPS", range: range, context: "ebstype=\(type.rawValue)")
        if let sizeGiB { try checkIOPS(iops, type: type, sizeGiB: sizeGiB) }
        return iops
    }

    private static func throughput(_ text: String?, type: EBSVolumeType, iops: Int?) throws(CloudstorError) -> Int? {
        guard let text else { return nil }
        guard let range = type.throughputRange, let perIOPS = type.maxThroughputPerIOPS else {
            throw CloudstorError(.invalidArgument, "option throughput does not apply to ebstype=\(type.rawValue); it applies to gp3")
        }
        let value = try OptionValue.integer(text, option: "throughput", unit: "MiB/s", range: range, context: "ebstype=\(type.rawValue)")
        let provisioned = iops ?? type.iopsRange?.lowerBound ?? 0
        let ceiling = Int(Double(provisioned) * perIOPS)
        guard value <= ceiling else {
            throw CloudstorError(
                .invalidArgument,
                "option throughput=\(value) is too high for iops=\(provisioned): ebstype=\(type.rawValue) allows at most \(perIOPS) MiB/s per IOPS (\(ceiling) here); raise iops")
        }
        return value
    }

    static func checkIOPS(_ iops: Int, type: EBSVolumeType, sizeGiB: Int) throws(CloudstorError) {
        guard let perGiB = type.maxIOPSPerGiB, let range = type.iopsRange else { return }
        // gp3 always allows its 3,000 baseline; above it, as for io1/io2, IOPS scale with size.
        let ceiling = type == .gp3 ? max(range.lowerBound, perGiB * sizeGiB) : perGiB * sizeGiB
        if iops > ceiling {
            throw CloudstorError(
                .invalidArgument,
                "option iops=\(iops) is too high for size=\(sizeGiB): ebstype=\(type.rawValue) allows at most \(perGiB) IOPS per GiB (\(ceiling) here)")
        }
    }
}
