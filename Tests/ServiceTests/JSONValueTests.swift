import Foundation
import Testing

@testable import CloudstorShim

@Suite struct JSONValueTests {
    @Test func writesKeysSortedAndSlashesAsTheyAre() {
        let value: JSONValue = ["b": 2, "a": ["x/y", -1], "c": ["z": "", "Err": "e"]]
        #expect(String(decoding: value.bytes, as: UTF8.self) == #"{"a":["x/y",-1],"b":2,"c":{"Err":"e","z":""}}"#)
    }

    /// Whatever a volume name, option or error message holds, a JSON parser reads
    /// back exactly that string.
    @Test func everyStringReadsBackAsWritten() throws {
        let control = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        let strings = [
            "", "plain", "quote\" backslash\\ slash/", control, "\u{7F}del", "ünïcødé 卷 💾", "\\u0000 not an escape",
            "line\nbreak\r\ttab", "\u{2028}\u{2029}",
        ]
        for string in strings {
            let value: JSONValue = ["Err": .string(string), "Options": .object([string: .string(string)]), "List": .array([.string(string)])]
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(value.bytes)) as? [String: Any])
            #expect(parsed["Err"] as? String == string)
            #expect((parsed["Options"] as? [String: String]) == [string: string])
            #expect((parsed["List"] as? [String]) == [string])
        }
    }

    @Test func numbersAreWrittenExactly() throws {
        let value: JSONValue = .array([0, 1, -1, .int(Int.max), .int(Int.min)])
        #expect(String(decoding: value.bytes, as: UTF8.self) == "[0,1,-1,\(Int.max),\(Int.min)]")
    }
}
