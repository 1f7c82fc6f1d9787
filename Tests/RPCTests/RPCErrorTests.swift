import Testing

@testable import CloudstorRPC

/// A call's failure as trailers carry it: OK is no error, and the message survives
/// percent-encoding whatever it holds.
@Suite struct RPCErrorTests {
    @Test func okTrailersAreNoError() {
        #expect(RPCError(status: "0", encodedMessage: "ignored") == nil)
    }

    @Test func aFailureReadsBackAsSent() throws {
        for message in ["no such volume: v", "100% full", "naïve — ünïcode ✓", "line\nbreak", ""] {
            let sent = RPCError(.notFound, message)
            let read = try #require(RPCError(status: "5", encodedMessage: sent.encodedMessage))
            #expect(read == sent)
            #expect(sent.encodedMessage.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        }
    }

    @Test func aMissingOrUnknownStatusIsUnknown() {
        #expect(RPCError(status: nil, encodedMessage: nil) == RPCError(.unknown))
        #expect(RPCError(status: "99", encodedMessage: "x")?.code == .unknown)
        #expect(RPCError(status: "-1", encodedMessage: nil)?.code == .unknown)
        #expect(RPCError(status: "OK", encodedMessage: nil)?.code == .unknown)
    }

    @Test func aTruncatedPercentEscapeIsKeptAsText() {
        #expect(RPCError(status: "13", encodedMessage: "50%")?.message == "50%")
        #expect(RPCError(status: "13", encodedMessage: "%zz")?.message == "%zz")
    }
}
