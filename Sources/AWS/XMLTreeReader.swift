/// Reads the XML AWS's Query APIs answer with into an `XMLTree`: UTF-8, an
/// optional XML declaration, then one element of elements, attributes (read and
/// dropped, namespace declarations included), text and the five predefined and
/// numeric character references. Element names lose their namespace prefix.
/// Anything else (DOCTYPE, CDATA, comments, processing instructions, unknown
/// entities, mismatched tags, more than `maximumDepth` levels) is not a reply:
/// nil. Linear in the input, no recursion.
///
/// Our own, not FoundationXML: that one crashed on three inputs fuzzing found
/// (Fuzz/regressions/ec2_xml), and brings 30 MiB of ICU data with it.
struct XMLTreeReader {
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func read() -> XMLTree? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }  // a byte-order mark
        if starts(with: "<?xml") {
            guard let end = find("?>") else { return nil }
            index = end + 2
        }
        skipSpace()
        // Each open element with its text so far.
        var open: [(tree: XMLTree, qualified: ArraySlice<UInt8>, text: [UInt8])] = []
        var root: XMLTree?
        while index < bytes.count {
            if bytes[index] != UInt8(ascii: "<") {
                guard !open.isEmpty else { return nil }  // text outside the root
                let start = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                guard let text = Self.unescaped(bytes[start..<index]) else { return nil }
                open[open.count - 1].text += text
                continue
            }
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
                index += 1
                guard let name = readName(), let top = open.popLast(), top.qualified == name else { return nil }
                skipSpace()
                guard take(">") else { return nil }
                var done = top.tree
                done.text = Self.trimmed(top.text)
                if open.isEmpty {
                    root = done
                    break
                }
                open[open.count - 1].tree.children.append(done)
                continue
            }
            guard open.count < Self.maximumDepth, let name = readName() else { return nil }
            guard skipAttributes() else { return nil }
            let element = XMLTree(name: Self.localName(name), text: "", children: [])
            if take("/>") {
                if open.isEmpty {
                    root = element
                    break
                }
                open[open.count - 1].tree.children.append(element)
            } else {
                guard take(">") else { return nil }
                open.append((element, name, []))
            }
        }
        skipSpace()
        guard index == bytes.count else { return nil }  // unclosed elements, or anything after the root
        return root
    }

    // MARK: - Pieces

    private func starts(with text: StaticString) -> Bool {
        let prefix = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        return bytes[index...].starts(with: prefix)
    }

    private mutating func take(_ text: StaticString) -> Bool {
        guard starts(with: text) else { return false }
        index += text.utf8CodeUnitCount
        return true
    }

    private func find(_ text: StaticString) -> Int? {
        let needle = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        var at = index
        while at + needle.count <= bytes.count {
            if bytes[at..<at + needle.count].elementsEqual(needle) { return at }
            at += 1
        }
        return nil
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private mutating func skipSpace() {
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
    }

    /// A name: letters, digits and `_ - .` (and any non-ASCII), not starting with
    /// a digit, `-` or `.`; or two such, `prefix:local`.
    private mutating func readName() -> ArraySlice<UInt8>? {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            let ascii = byte < 0x80
            let letter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            let digit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            let other = byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            guard !ascii || letter || digit || other else { break }
            index += 1
        }
        let name = bytes[start..<index]
        let parts = name.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        for part in parts {
            guard let first = part.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")),
                first != UInt8(ascii: "-"), first != UInt8(ascii: ".")
            else { return nil }
        }
        return name
    }

    /// `name="value"` or `name='value'` pairs up to `>` or `/>`; their values
    /// must hold only text and references.
    private mutating func skipAttributes() -> Bool {
        while true {
            let before = index
            skipSpace()
            if index >= bytes.count { return false }
            if bytes[index] == UInt8(ascii: ">") || bytes[index] == UInt8(ascii: "/") { return true }
            guard index > before, readName() != nil else { return false }
            skipSpace()
            guard take("="), index < bytes.count else { return false }
            skipSpace()
            guard index < bytes.count else { return false }
            let quote = bytes[index]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { return false }
            index += 1
            let start = index
            while index < bytes.count, bytes[index] != quote { index += 1 }
            guard index < bytes.count, !bytes[start..<index].contains(UInt8(ascii: "<")),
                Self.unescaped(bytes[start..<index]) != nil
            else { return false }
            index += 1
        }
    }

    private static func localName(_ qualified: ArraySlice<UInt8>) -> String {
        let local = qualified.lastIndex(of: UInt8(ascii: ":")).map { qualified[($0 + 1)...] } ?? qualified
        return String(decoding: local, as: UTF8.self)
    }

    private static func trimmed(_ text: [UInt8]) -> String {
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: text[first...last], as: UTF8.self)
    }

    /// Text with its references replaced; nil for an `&` that starts no known
    /// reference.
    private static func unescaped(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.contains(UInt8(ascii: "&")) else { return Array(text) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var at = text.startIndex
        while at < text.endIndex {
            guard text[at] == UInt8(ascii: "&") else {
                out.append(text[at])
                at += 1
                continue
            }
            guard let semicolon = text[at...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { return nil }
            let reference = String(decoding: text[(at + 1)..<semicolon], as: UTF8.self)
            let scalar: Unicode.Scalar?
            switch reference {
            case "lt": scalar = "<"
            case "gt": scalar = ">"
            case "amp": scalar = "&"
            case "quot": scalar = "\""
            case "apos": scalar = "'"
            default:
                let hex = reference.hasPrefix("#x")
                let digits = reference.dropFirst(hex ? 2 : 1)
                let valid = reference.hasPrefix("#") && !digits.isEmpty && digits.allSatisfy { hex ? $0.isHexDigit : $0.isASCII && $0.isNumber }
                scalar = valid ? UInt32(digits, radix: hex ? 16 : 10).flatMap(Unicode.Scalar.init) : nil
            }
            guard let scalar, scalar.value != 0 else { return nil }
            out.append(contentsOf: String(Character(scalar)).utf8)
            at = semicolon + 1
        }
        return out
    }
}
