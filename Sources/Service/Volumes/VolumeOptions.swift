/// How a volume is stored.
public enum Backing: String, Sendable, CaseIterable {
    case relocatable, shared
}

/// Performance mode of the shared file system a shared volume lives on.
public enum PerfMode: String, Sendable, CaseIterable {
    case generalpurpose, maxio
}

/// Validated volume options, with defaults applied. Parsing enforces every rule of
/// the design: unknown options, bad values, out-of-range sizes and IOPS, and options
/// that do not apply to the chosen backing are refused with a message that names
/// the option and the allowed values.
public struct VolumeOptions: Equatable, Sendable {
    public var backing: Backing
    /// Relocatable only.
    public var sizeGiB: Int?
    public var ebsType: EBSVolumeType?
    public var iops: Int?
    /// gp3 only: MiB/s.
    public var throughput: Int?
    /// Encrypted at rest; nil: as the provider's default says (`applyDefaults`).
    public var encrypted: Bool?
    /// The key (id, ARN, alias or alias ARN); implies `encrypted`.
    public var kmsKeyID: String?
    /// The snapshot the volume is made from (its filesystem kept); `sizeGiB` is
    /// then optional, EBS taking the snapshot's.
    public var snapshot: String?
    /// Shared only.
    public var perfMode: PerfMode?
    /// Shared only: owner and permission bits of the new directory (default: the
    /// daemon's user, 0755).
    public var uid: UInt32?
    public var gid: UInt32?
    public var mode: UInt32?

    public static let knownKeys = [
        "backing", "size", "ebstype", "iops", "throughput", "snapshot", "encrypted", "kmskeyid", "perfmode", "uid", "gid", "mode",
    ]

    public init(
        backing: Backing, sizeGiB: Int? = nil, ebsType: EBSVolumeType? = nil, iops: Int? = nil, throughput: Int? = nil,
        snapshot: String? = nil, encrypted: Bool? = nil, kmsKeyID: String? = nil, perfMode: PerfMode? = nil, uid: UInt32? = nil,
        gid: UInt32? = nil, mode: UInt32? = nil
    ) {
        self.encrypted = encrypted
        self.kmsKeyID = kmsKeyID
        self.backing = backing
        self.sizeGiB = sizeGiB
        self.ebsType = ebsType
        self.iops = iops
        self.throughput = throughput
        self.snapshot = snapshot
        self.perfMode = perfMode
        self.uid = uid
        self.gid = gid
        self.mode = mode
    }

    public init(parsing raw: [String: String], defaultBacking: Backing, defaultEBSType: EBSVolumeType = .standard) throws(CloudstorError) {
        for key in raw.keys.sorted() where !Self.knownKeys.contains(key) {
            throw CloudstorError(
                .invalidArgument,
                "unknown option \(VolumeName.quoted(key)); known options: \(Self.knownKeys.joined(separator: ", "))")
        }
        let backing = try Self.backing(raw["backing"], default: defaultBacking)
        switch backing {
        case .relocatable:
            for key in ["perfmode", "uid", "gid", "mode"] where raw[key] != nil {
                throw CloudstorError(.invalidArgument, "option \(key) applies to shared volumes only, not to backing=relocatable")
            }
            let type = try Self.choice(raw["ebstype"], option: "ebstype", default: defaultEBSType)
            let snapshot = try raw["snapshot"].map { (text) throws(CloudstorError) in try Self.snapshotID(text) }
            let (encrypted, key) = try Self.encryption(raw["encrypted"], raw["kmskeyid"])
            guard let sizeText = raw["size"] else {
                guard snapshot == nil else {
                    // The snapshot's size, which the provider checks against the type's IOPS.
                    let iops = try Self.iops(raw["iops"], type: type, sizeGiB: nil)
                    let throughput = try Self.throughput(raw["throughput"], type: type, iops: iops)
                    self.init(
                        backing: .relocatable, ebsType: type, iops: iops, throughput: throughput, snapshot: snapshot, encrypted: encrypted,
                        kmsKeyID: key)
                    return
                }
                throw CloudstorError(
                    .invalidArgument,
                    "option size is required for relocatable volumes: size=GiB, \(type.sizeRange.lowerBound)-\(type.sizeRange.upperBound) for ebstype=\(type.rawValue)")
            }
            let size = try Self.integer(sizeText, option: "size", unit: "GiB", range: type.sizeRange, context: "ebstype=\(type.rawValue)")
            let iops = try Self.iops(raw["iops"], type: type, sizeGiB: size)
            let throughput = try Self.throughput(raw["throughput"], type: type, iops: iops)
            self.init(
                backing: .relocatable, sizeGiB: size, ebsType: type, iops: iops, throughput: throughput, snapshot: snapshot,
                encrypted: encrypted, kmsKeyID: key)
        case .shared:
            for key in ["size", "ebstype", "iops", "throughput", "snapshot", "encrypted", "kmskeyid"] where raw[key] != nil {
                throw CloudstorError(.invalidArgument, "option \(key) applies to relocatable volumes only, not to backing=shared")
            }
            let perfMode = try Self.choice(raw["perfmode"], option: "perfmode", default: PerfMode.generalpurpose)
            let uid = try raw["uid"].map { (text) throws(CloudstorError) in try Self.id(text, option: "uid", of: "user") }
            let gid = try raw["gid"].map { (text) throws(CloudstorError) in try Self.id(text, option: "gid", of: "group") }
            let mode = try raw["mode"].map { (text) throws(CloudstorError) in try Self.mode(text) }
            self.init(backing: .shared, perfMode: perfMode, uid: uid, gid: gid, mode: mode)
        }
    }

    /// The options as stored and shown, every default spelled out.
    public var dictionary: [String: String] {
        var out = ["backing": backing.rawValue]
        if let sizeGiB { out["size"] = String(sizeGiB) }
        if let ebsType { out["ebstype"] = ebsType.rawValue }
        if let iops { out["iops"] = String(iops) }
        if let throughput { out["throughput"] = String(throughput) }
        if let snapshot { out["snapshot"] = snapshot }
        if let encrypted { out["encrypted"] = String(encrypted) }
        if let kmsKeyID { out["kmskeyid"] = kmsKeyID }
        if let perfMode { out["perfmode"] = perfMode.rawValue }
        if let uid { out["uid"] = String(uid) }
        if let gid { out["gid"] = String(gid) }
        if let mode { out["mode"] = Self.octal(mode) }
        return out
    }

    /// Permission bits as four octal digits: 0755, 1777.
    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func id(_ text: String, option: String, of kind: String) throws(CloudstorError) -> UInt32 {
        // 4294967295 is (uid_t)-1: "leave unchanged" to chown, never an owner.
        guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt32(text), value != .max
        else {
            throw CloudstorError(.invalidArgument, "invalid value \(VolumeName.quoted(text)) for option \(option): a numeric \(kind) id from 0 to 4294967294")
        }
        return value
    }

    private static func mode(_ text: String) throws(CloudstorError) -> UInt32 {
        guard (1...4).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }), let value = UInt32(text, radix: 8) else {
            throw CloudstorError(
                .invalidArgument,
                "invalid value \(VolumeName.quoted(text)) for option mode: permission bits in octal, 1 to 4 digits from 0 to 7 (e.g. 0755, 1777)")
        }
        return value
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

    private static func backing(_ value: String?, default fallback: Backing) throws(CloudstorError) -> Backing {
        guard let value else { return fallback }
        switch value.lowercased() {
        case "relocatable", "local": return .relocatable
        case "shared": return .shared
        default:
            throw CloudstorError(
                .invalidArgument, "invalid value \(VolumeName.quoted(value)) for option backing; allowed: relocatable (alias local), shared")
        }
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ value: String?, option: String, default fallback: T) throws(CloudstorError) -> T
    where T.RawValue == String {
        guard let value else { return fallback }
        guard let parsed = T(rawValue: value.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw CloudstorError(.invalidArgument, "invalid value \(VolumeName.quoted(value)) for option \(option); allowed: \(allowed)")
        }
        return parsed
    }

    private static func integer(_ text: String, option: String, unit: String, range: ClosedRange<Int>, context: String) throws(CloudstorError) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
            throw CloudstorError(
                .invalidArgument,
                "invalid value \(VolumeName.quoted(text)) for option \(option): a whole number of \(unit) from \(range.lowerBound) to \(range.upperBound) (\(context))")
        }
        guard range.contains(value) else {
            throw CloudstorError(
                .invalidArgument,
                "option \(option)=\(value) is out of range: \(range.lowerBound)-\(range.upperBound) \(unit) for \(context)")
        }
        return value
    }

    /// `sizeGiB` nil: the size is a snapshot's, not known yet; the per-GiB ceiling
    /// is then left to the provider.
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
        let iops = try integer(text, option: "iops", unit: "IOPS", range: range, context: "ebstype=\(type.rawValue)")
        if let sizeGiB { try checkIOPS(iops, type: type, sizeGiB: sizeGiB) }
        return iops
    }

    private static func throughput(_ text: String?, type: EBSVolumeType, iops: Int?) throws(CloudstorError) -> Int? {
        guard let text else { return nil }
        guard let range = type.throughputRange, let perIOPS = type.maxThroughputPerIOPS else {
            throw CloudstorError(.invalidArgument, "option throughput does not apply to ebstype=\(type.rawValue); it applies to gp3")
        }
        let value = try integer(text, option: "throughput", unit: "MiB/s", range: range, context: "ebstype=\(type.rawValue)")
        let provisioned = iops ?? type.iopsRange?.lowerBound ?? 0
        let ceiling = Int(Double(provisioned) * perIOPS)
        guard value <= ceiling else {
            throw CloudstorError(
                .invalidArgument,
                "option throughput=\(value) is too high for iops=\(provisioned): ebstype=\(type.rawValue) allows at most \(perIOPS) MiB/s per IOPS (\(ceiling) here); raise iops")
        }
        return value
    }

    private static func checkIOPS(_ iops: Int, type: EBSVolumeType, sizeGiB: Int) throws(CloudstorError) {
        guard let perGiB = type.maxIOPSPerGiB, let range = type.iopsRange else { return }
        // gp3 always allows its 3,000 baseline; above it, as for io1/io2, IOPS scale with size.
        let ceiling = type == .gp3 ? max(range.lowerBound, perGiB * sizeGiB) : perGiB * sizeGiB
        if iops > ceiling {
            throw CloudstorError(
                .invalidArgument,
                "option iops=\(iops) is too high for size=\(sizeGiB): ebstype=\(type.rawValue) allows at most \(perGiB) IOPS per GiB (\(ceiling) here)")
        }
    }

    /// The checks that wait for a snapshot's size, for options without `size`:
    /// the provider's, once it has looked the snapshot up and before it creates.
    public func check(snapshotSizeGiB: Int) throws(CloudstorError) {
        let type = ebsType ?? .standard
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
        if let iops { try Self.checkIOPS(iops, type: type, sizeGiB: snapshotSizeGiB) }
    }
}
