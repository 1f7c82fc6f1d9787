import Foundation
import Testing

@testable import CloudstorAWS

/// The signer against signatures computed offline by botocore (tools/sigv4/make_vectors.py),
/// the first of which is AWS's published test-suite case "get-vanilla".
@Suite struct SigV4SignerTests {
    struct Vector: Decodable, CustomTestStringConvertible {
        var name, method, path, body, region, service, date: String
        var query: [[String]]
        var headers: [[String]]
        var access_key_id, secret_access_key, authorization: String
        var session_token: String?
        var testDescription: String { name }
    }

    static let vectors: [Vector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("vectors/sigv4.json")
        return (try? JSONDecoder().decode([Vector].self, from: Data(contentsOf: url))) ?? []
    }()

    static func date(_ text: String) -> Date {
        let digits = Array(text.filter(\.isNumber))
        func field(_ range: Range<Int>) -> Int { Int(String(digits[range]))! }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(
            year: field(0..<4), month: field(4..<6), day: field(6..<8), hour: field(8..<10), minute: field(10..<12), second: field(12..<14))
        return calendar.date(from: components)!
    }

    @Test func vectorsAreThere() {
        #expect(Self.vectors.count >= 7)
        #expect(Self.vectors.first?.name == "get-vanilla")
    }

    @Test(arguments: vectors)
    func matchesBotocore(_ v: Vector) {
        let signer = SigV4Signer(region: v.region, service: v.service)
        let credentials = AWSCredentials(accessKeyID: v.access_key_id, secretAccessKey: v.secret_access_key, sessionToken: v.session_token)
        let added = signer.sign(
            method: v.method, path: v.path, query: v.query.map { ($0[0], $0[1]) }, headers: v.headers.map { ($0[0], $0[1]) },
            payloadHash: SigV4Signer.hash(Data(v.body.utf8)), credentials: credentials, date: Self.date(v.date))
        let authorization = added.first { $0.0 == "Authorization" }?.1
        #expect(authorization == v.authorization)
        #expect(added.contains { $0 == ("X-Amz-Date", v.date) })
        #expect(added.contains { $0.0 == "X-Amz-Security-Token" } == (v.session_token != nil))
    }

    @Test func aWrongSecretGivesAnotherSignature() {
        let v = Self.vectors[0]
        let signer = SigV4Signer(region: v.region, service: v.service)
        let added = signer.sign(
            method: v.method, path: v.path, query: [], headers: v.headers.map { ($0[0], $0[1]) },
            payloadHash: SigV4Signer.hash(Data()), credentials: AWSCredentials(accessKeyID: v.access_key_id, secretAccessKey: "wrong"),
            date: Self.date(v.date))
        #expect(added.first { $0.0 == "Authorization" }?.1 != v.authorization)
    }

    @Test func encodingKeepsOnlyUnreservedCharacters() {
        #expect(SigV4Signer.encode("aZ0-_.~") == "aZ0-_.~")
        #expect(SigV4Signer.encode("a b+c/d=ü") == "a%20b%2Bc%2Fd%3D%C3%BC")
        #expect(SigV4Signer.canonicalPath("") == "/")
        #expect(SigV4Signer.canonicalPath("/a b/c") == "/a%2520b/c")
    }

    @Test func credentialsNeverShowTheirSecret() {
        let c = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "SECRET", sessionToken: "TOKEN")
        #expect(!"\(c)".contains("SECRET") && !"\(c)".contains("TOKEN"))
        #expect("\(c)".contains("AKID"))
    }
}
