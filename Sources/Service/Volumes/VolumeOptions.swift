/// How a volume is stored.
public enum Backing: String, Sendable, CaseIterable {
    case relocatable, shared
}

/// Performance mode of the shared file system a shared volume lives on.
public enum PerfMode: String, Sendable, CaseIterable {
    case generalpurpose, maxio
}

/// Validated volume options, with defaults applied: the backing, the provider's
/// options of a relocatable volume (`BlockOptionRules`), the options of a shared
/// one. Unknown options, bad values, and options that do not apply to the chosen
/// backing are refused with a message that names the option and what it allows.
public struct VolumeOptions: Equatable, Sendable {
    public var backing: Backing
    /// Relocatable only: as the provider's rules validated them.
    public var block: BlockOptions?
    /// Shared only.
    public var perfMode: PerfMode?
    /// Shared only: owner and permission bits of the new directory (default: the
    /// daemon's user, 0755).
    public var uid: UInt32?
    public var gid: UInt32?
    public var mode: UInt32?

    public static let sharedKeys = ["perfmode", "uid", "gid", "mode"]

    public init(backing: Backing, block: BlockOptions? = nil, perfMode: PerfMode? = nil, uid: UInt32? = nil, gid: UInt32? = nil, mode: UInt32? = nil) {
        self.backing = backing
        self.block = block
        self.perfMode = perfMode
        self.uid = uid
        self.gid = gid
        self.mode = mode
    }

    public init(parsing raw: [String: String], defaultBacking: Backing, rules: any BlockOptionRules) throws(CloudstorError) {
        let known = ["backing"] + rules.keys + Self.sharedKeys
        for key in raw.keys.sorted() where !known.contains(key) {
            throw CloudstorError(.invalidArgument, "unknown option \(VolumeName.quoted(key)); known options: \(known.joined(separator: ", "))")
        }
        let backing = try Self.backing(raw["backing"], default: defaultBacking)
        switch backing {
        case .relocatable:
            for key in Self.sharedKeys where raw[key] != nil {
                throw CloudstorError(.invalidArgument, "option \(key) applies to shared volumes only, not to backing=relocatable")
            }
            var own = raw
            own["backing"] = nil
            self.init(backing: .relocatable, block: try rules.validate(own))
        case .shared:
            for key in rules.keys where raw[key] != nil {
                throw CloudstorError(.invalidArgument, "option \(key) applies to relocatable volumes only, not to backing=shared")
            }
            let perfMode = try OptionValue.choice(raw["perfmode"], option: "perfmode", default: PerfMode.generalpurpose)
            let uid = try raw["uid"].map { (text) throws(CloudstorError) in try Self.id(text, option: "uid", of: "user") }
            let gid = try raw["gid"].map { (text) throws(CloudstorError) in try Self.id(text, option: "gid", of: "group") }
            let mode = try raw["mode"].map { (text) throws(CloudstorError) in try Self.mode(text) }
            self.init(backing: .shared, perfMode: perfMode, uid: uid, gid: gid, mode: mode)
        }
    }

    /// The options as stored and shown, every default spelled out.
    public var dictionary: [String: String] {
        var out = block?.values ?? [:]
        out["backing"] = backing.rawValue
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
}
