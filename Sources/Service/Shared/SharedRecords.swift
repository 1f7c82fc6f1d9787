/// What a shared file system holds besides the volumes' data: small JSON files,
/// each written whole to a temporary name and then published under its own.

/// A volume's metadata, `ROOT/.cloudstor/volumes/NAME`: the volume exists once
/// this file does.
struct SharedMetadata: Codable, Equatable, Sendable {
    var version = 1
    var name: String
    /// The normalised options (VolumeOptions.dictionary).
    var options: [String: String]
    /// The node that made the volume.
    var createdBy: String
    /// RFC 3339, UTC.
    var createdAt: String
}

/// A node's hold on a volume, `ROOT/.cloudstor/holds/NODE/NAME`: present while
/// the node has the volume mounted for at least one container.
struct SharedHold: Codable, Equatable, Sendable {
    var version = 1
    var node: String
    var volume: String
    /// RFC 3339, UTC: when this node's first current holder mounted it.
    var since: String
    /// How many containers of the node have it mounted (absent in files of older versions).
    var mounts: Int?
}

/// Node names as file names: bytes outside `[A-Za-z0-9_-]` (and so every `.`
/// and `/`) are written `%XX`, so a name is one path component that never starts
/// with a dot.
enum NodeFileName {
    static func encode(_ node: String) -> String {
        var out = ""
        for byte in node.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// nil for a name that `encode` would not have written.
    static func decode(_ name: String) -> String? {
        var bytes: [UInt8] = []
        var rest = Substring(name).utf8[...]
        while let byte = rest.first {
            rest = rest.dropFirst()
            guard byte == 0x25 else {
                bytes.append(byte)
                continue
            }
            guard rest.count >= 2, let value = UInt8(String(decoding: rest.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            bytes.append(value)
            rest = rest.dropFirst(2)
        }
        let node = String(decoding: bytes, as: UTF8.self)
        return encode(node) == name ? node : nil
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
