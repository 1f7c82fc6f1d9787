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
    /// Shared only.
    public var perfMode: PerfMode?

    public static let knownKeys = ["backing", "size", "ebstype", "iops", "perfmode"]

    public init(backing: Backing, sizeGiB: Int? = nil, ebsType: EBSVolumeType? = nil, iops: Int? = nil, perfMode: PerfMode? = nil) {
        self.backing = backing
        self.sizeGiB = sizeGiB
        self.ebsType = ebsType
        self.iops = iops
        self.perfMode = perfMode
    }

    public init(parsing raw: [String: String], defaultBacking: Backing) throws(CloudstorError) {
        for key in raw.keys.sorted() where !Self.knownKeys.contains(key) {
            throw CloudstorError(
                .invalidArgument,
                "unknown option \(VolumeName.quoted(key)); known options: \(Self.knownKeys.joined(separator: ", "))")
        }
        let backing = try Self.backing(raw["backing"], default: defaultBacking)
        switch backing {
        case .relocatable:
            if raw["perfmode"] != nil {
                throw CloudstorError(.invalidArgument, "option perfmode applies to shared volumes only, not to backing=relocatable")
            }
            let type = try Self.choice(raw["ebstype"], option: "ebstype", default: EBSVolumeType.standard)
            guard let sizeText = raw["size"] else {
                throw CloudstorError(
                    .invalidArgument,
                    "option size is required for relocatable volumes: size=GiB, \(type.sizeRange.lowerBound)-\(type.sizeRange.upperBound) for ebstype=\(type.rawValue)")
            }
            let size = try Self.integer(sizeText, option: "size", unit: "GiB", range: type.sizeRange, context: "ebstype=\(type.rawValue)")
            let iops = try Self.iops(raw["iops"], type: type, sizeGiB: size)
            self.init(backing: .relocatable, sizeGiB: size, ebsType: type, iops: iops)
        case .shared:
            for key in ["size", "ebstype", "iops"] where raw[key] != nil {
                throw CloudstorError(.invalidArgument, "option \(key) applies to relocatable volumes only, not to backing=shared")
            }
            let mode = try Self.choice(raw["perfmode"], option: "perfmode", default: PerfMode.generalpurpose)
            self.init(backing: .shared, perfMode: mode)
        }
    }

    /// The options as stored and shown, every default spelled out.
    public var dictionary: [String: String] {
        var out = ["backing": backing.rawValue]
        if let sizeGiB { out["size"] = String(sizeGiB) }
        if let ebsType { out["ebstype"] = ebsType.rawValue }
        if let iops { out["iops"] = String(iops) }
        if let perfMode { out["perfmode"] = perfMode.rawValue }
        return out
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

    private static func iops(_ text: String?, type: EBSVolumeType, sizeGiB: Int) throws(CloudstorError) -> Int? {
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
        if let perGiB = type.maxIOPSPerGiB {
            // gp3 always allows its 3,000 baseline; above it, as for io1/io2, IOPS scale with size.
            let ceiling = type == .gp3 ? max(range.lowerBound, perGiB * sizeGiB) : perGiB * sizeGiB
            if iops > ceiling {
                throw CloudstorError(
                    .invalidArgument,
                    "option iops=\(iops) is too high for size=\(sizeGiB): ebstype=\(type.rawValue) allows at most \(perGiB) IOPS per GiB (\(ceiling) here)")
            }
        }
        return iops
    }
}
