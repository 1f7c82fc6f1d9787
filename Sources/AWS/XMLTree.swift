import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML element. EC2 replies are read by element name, never by position:
/// AWS adds elements over time and does not promise an order.
public struct XMLTree: Sendable {
    public var name: String
    public var text: String
    public var children: [XMLTree]

    /// The first direct child with this name.
    public func child(_ name: String) -> XMLTree? {
        children.first { $0.name == name }
    }

    /// The text of a direct child, if present.
    public func string(_ name: String) -> String? {
        child(name)?.text
    }

    /// The `item` children of a set element (`volumeSet`, `tagSet`, …); empty if absent.
    public func items(_ set: String) -> [XMLTree] {
        child(set)?.children.filter { $0.name == "item" } ?? []
    }

    /// The first element with this name anywhere below (depth first), self included.
    public func find(_ name: String) -> XMLTree? {
        if self.name == name { return self }
        for child in children {
            if let found = child.find(name) { return found }
        }
        return nil
    }

    /// The tree of an XML document; nil for anything else. AWS's replies are UTF-8
    /// with at most an XML declaration before the root. FoundationXML crashes on a
    /// body that is not UTF-8 and on a processing instruction without data (`<?xml?>`
    /// is one to libxml2), and would expand a DOCTYPE's entities (all found by
    /// fuzzing, Fuzz/regressions/ec2_xml). So the declaration is dropped here and
    /// the parser is given only what follows, refused if it holds `<?` or `<!`.
    public static func parse(_ bytes: [UInt8]) -> XMLTree? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        var rest = Substring(text)
        if rest.hasPrefix("<?xml") {
            guard let end = rest.range(of: "?>") else { return nil }
            rest = rest[end.upperBound...]
        }
        guard !rest.contains("<?"), !rest.contains("<!") else { return nil }
        let builder = Builder()
        let parser = XMLParser(data: Data(rest.utf8))
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        guard parser.parse(), let root = builder.root else { return nil }
        return root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLTree] = []
        var root: XMLTree?

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String]
        ) {
            stack.append(XMLTree(name: elementName, text: "", children: []))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            guard var done = stack.popLast() else { return }
            done.text = done.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty {
                root = done
            } else {
                stack[stack.count - 1].children.append(done)
            }
        }
    }
}
