/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 255
/// characters. Names become file names, so nothing else may reach the filesystem.
public enum VolumeName {
    public static let maxLength = 255

    public static func validate(_ name: String) throws(CloudstorError) {
        guard !name.isEmpty else {
            throw CloudstorError(.invalidArgument, "volume name is empty")
        }
        let bytes = Array(name.utf8)
        guard bytes.count <= maxLength else {
            throw CloudstorError(
                .invalidArgument, "volume name is \(bytes.count) characters long; at most \(maxLength) are allowed")
        }
        guard isAlphanumeric(bytes[0]), bytes.dropFirst().allSatisfy({ isAlphanumeric($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D })
        else {
            throw CloudstorError(
                .invalidArgument,
                "invalid volume name \(quoted(name)): names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        }
    }

    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// A name as it may appear in a message: quoted, control characters escaped, cut short.
    public static func quoted(_ name: String) -> String {
        let shown = name.count > 64 ? String(name.prefix(64)) + "…" : name
        return "\"" + shown.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F ? String($0) : $0.escaped(asASCII: true) }.joined() + "\""
    }
}
