import Testing

@testable import CloudstorService

@Suite struct VolumeNameTests {
    @Test(arguments: ["a", "v1", "web-1.data_2", "A0", String(repeating: "x", count: 255), "stack_web-1"])
    func acceptsDockerNames(_ name: String) throws {
        try VolumeName.validate(name)
    }

    @Test(arguments: [
        "", ".", "..", "../etc", "a/b", "/abs", "-leading", "_leading", ".hidden", "with space", "tab\tname", "nul\0byte",
        "é", String(repeating: "x", count: 256), "a\nb", "a*", "v;rm",
    ])
    func refusesEverythingElse(_ name: String) {
        let error = #expect(throws: CloudstorError.self) { try VolumeName.validate(name) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func messageQuotesAndEscapesTheName() {
        let error = #expect(throws: CloudstorError.self) { try VolumeName.validate("bad\nname") }
        #expect(error?.message.contains("\"bad\\nname\"") == true)
    }
}
