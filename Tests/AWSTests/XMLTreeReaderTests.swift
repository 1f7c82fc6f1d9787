import Testing

@testable import CloudstorAWS

@Suite struct XMLTreeReaderTests {
    func parse(_ text: String) -> XMLTree? { XMLTree.parse(Array(text.utf8)) }

    @Test func elementsTextAndReferences() throws {
        let tree = try #require(
            parse(
                """
                \u{FEFF}<?xml version="1.0" encoding="UTF-8"?>
                <ec2:Reply xmlns:ec2='http://ec2.amazonaws.com/doc/2016-11-15/' x = "a &amp; b">
                  <a>1 &lt; 2 &gt; 0 &quot;&apos; &#65;&#x42;&#x1F600;</a><empty/><empty  />
                  <ec2:b>  x <i>y</i> z  </ec2:b>
                </ec2:Reply>
                """))
        #expect(tree.name == "Reply" && tree.children.map(\.name) == ["a", "empty", "empty", "b"])
        #expect(tree.string("a") == "1 < 2 > 0 \"' AB😀")
        #expect(tree.string("empty") == "")
        #expect(tree.string("b") == "x  z" && tree.child("b")?.string("i") == "y")  // an element's own text, trimmed
    }

    @Test func whatAWSDoesNotSendIsRefused() {
        let refused = [
            "", "   ", "text", "<a>", "<a></b>", "<a></a><b></b>", "<a></a>trailing", "lead<a></a>",
            "<a><!-- comment --></a>", "<a><![CDATA[x]]></a>", "<!DOCTYPE a><a/>", "<a><?pi x?></a>",
            "<a>&unknown;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#x+41;</a>", "<a>&#;</a>", "<a>& b</a>",
            "<a b></a>", "<a b=c></a>", "<a b='<'></a>", "<a b='1'c='2'></a>", "<1a/>", "<-a/>", "<a/ >",
            "<a:/>", "<:a/>", "<p:1/>", "<p:-x/>", "<p:.x/>", "<a:b:c/>", "<a p:='1'/>", "<?xml version='1.0'",
        ]
        for text in refused { #expect(parse(text) == nil, "\(text)") }
        #expect(XMLTree.parse([UInt8(ascii: "<"), 0xFF, UInt8(ascii: "/"), UInt8(ascii: ">")]) == nil)
    }

    /// Deep nesting is refused before it can exhaust a stack (`find` recurses).
    @Test func depthIsBounded() {
        let depth = XMLTreeReader.maximumDepth
        #expect(parse(String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)) != nil)
        #expect(parse(String(repeating: "<a>", count: depth + 1) + String(repeating: "</a>", count: depth + 1)) == nil)
        #expect(parse(String(repeating: "<a>", count: 1_000_000)) == nil)
    }
}
