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

    /// The tree of an XML document as AWS writes them; nil for anything else
    /// (see `XMLTreeReader`).
    public static func parse(_ bytes: [UInt8]) -> XMLTree? {
        var reader = XMLTreeReader(bytes)
        return reader.read()
    }
}
