import CloudstorService

/// A relocatable volume's options as EBS takes them, typed: what `EBSOptionRules`
/// validated and stored, read back.
struct EBSOptions: Equatable, Sendable {
    var sizeGiB: Int?
    var type: EBSVolumeType
    var iops: Int?
    /// gp3 only: MiB/s.
    var throughput: Int?
    /// Encrypted at rest; nil: as the account's default says.
    var encrypted: Bool?
    /// The key (id, ARN, alias or alias ARN); implies `encrypted`.
    var kmsKeyID: String?
    /// The snapshot the volume is made from (its filesystem kept).
    var snapshot: String?

    init(
        sizeGiB: Int? = nil, type: EBSVolumeType = .standard, iops: Int? = nil, throughput: Int? = nil, encrypted: Bool? = nil,
        kmsKeyID: String? = nil, snapshot: String? = nil
    ) {
        self.sizeGiB = sizeGiB
        self.type = type
        self.iops = iops
        self.throughput = throughput
        self.encrypted = encrypted
        self.kmsKeyID = kmsKeyID
        self.snapshot = snapshot
    }

    /// Options as stored (validated when they were): a value that does not read
    /// back is left out, as its default.
    init(_ stored: BlockOptions) {
        let values = stored.values
        self.init(
            sizeGiB: stored.sizeGiB ?? values["size"].flatMap { Int($0) }, type: values["ebstype"].flatMap(EBSVolumeType.init) ?? .standard,
            iops: values["iops"].flatMap { Int($0) }, throughput: values["throughput"].flatMap { Int($0) },
            encrypted: values["encrypted"].flatMap { Bool($0) }, kmsKeyID: values["kmskeyid"], snapshot: values["snapshot"])
    }

    var block: BlockOptions {
        var out = ["ebstype": type.rawValue]
        if let sizeGiB { out["size"] = String(sizeGiB) }
        if let iops { out["iops"] = String(iops) }
        if let throughput { out["throughput"] = String(throughput) }
        if let snapshot { out["snapshot"] = snapshot }
        if let encrypted { out["encrypted"] = String(encrypted) }
        if let kmsKeyID { out["kmskeyid"] = kmsKeyID }
        return BlockOptions(values: out, sizeGiB: sizeGiB)
    }

    /// The checks that wait for a snapshot's size, for options without `size`:
    /// made once the snapshot is looked up, before the volume is created.
    func check(snapshotSizeGiB: Int) throws(CloudstorError) {
        if let sizeGiB {
            guard sizeGiB >= snapshotSizeGiB else {
                throw CloudstorError(
                    .invalidArgument,
                    "option size=\(sizeGiB) is smaller than snapshot \(snapshot ?? "")'s \(snapshotSizeGiB) GiB: a restored volume is at least its snapshot's size")
            }
            return
        }
        guard type.sizeRange.contains(snapshotSizeGiB) else {
            throw CloudstorError(
                .invalidArgument,
                "snapshot \(snapshot ?? "") is of \(snapshotSizeGiB) GiB, out of range for ebstype=\(type.rawValue) (\(type.sizeRange.lowerBound)-\(type.sizeRange.upperBound) GiB): give size=GiB")
        }
        if let iops { try EBSOptionRules.checkIOPS(iops, type: type, sizeGiB: snapshotSizeGiB) }
    }
}
