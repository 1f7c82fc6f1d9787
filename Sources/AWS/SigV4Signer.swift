import Crypto
import CloudstorSupport
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// AWS Signature Version 4, as AWS publishes it: canonical request, string to
/// sign, derived signing key, Authorization header. Pure: the caller supplies the
/// time, so signatures are reproducible in tests.
public struct SigV4Signer: Sendable {
    public var region: String
    public var service: String

    public init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// The hex SHA-256 of a payload, as `x-amz-content-sha256` and the canonical request want it.
    public static func hash(_ payload: some DataProtocol) -> String {
        hex(SHA256.hash(data: payload))
    }

    /// Returns the headers to add to the request: `X-Amz-Date`, `X-Amz-Security-Token`
    /// (temporary credentials), and `Authorization`. `headers` must hold every header
    /// the request will carry that is signed, `Host` included.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String,
        credentials: AWSCredentials, date: Date
    ) -> [(String, String)] {
        let amzDate = Self.timestamp(date)
        let day = String(amzDate.prefix(8))
        var signed = headers
        signed.append(("X-Amz-Date", amzDate))
        var added = [("X-Amz-Date", amzDate)]
        if let token = credentials.sessionToken {
            signed.append(("X-Amz-Security-Token", token))
            added.append(("X-Amz-Security-Token", token))
        }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(signed)
        let canonicalRequest = [
            method.uppercased(), Self.canonicalPath(path), Self.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hash(Data(canonicalRequest.utf8))].joined(separator: "\n")
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey(credentials, day: day)))
        added.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
            ))
        return added
    }

    func signingKey(_ credentials: AWSCredentials, day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    /// Each segment URI-encoded, and encoded again, as every service but S3 expects;
    /// empty path → "/".
    static func canonicalPath(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        return path.split(separator: "/", omittingEmptySubsequences: false)
            .map { encode(encode(String($0))) }
            .joined(separator: "/")
    }

    /// Parameters encoded, then sorted by name and value.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// Lower-cased names, sorted; values trimmed with inner runs of spaces folded;
    /// repeated headers joined by commas.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signed: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let folded = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(folded.trimmingWhitespace())
        }
        let names = merged.keys.sorted()
        let canonical = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters.
    public static func encode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + byte.padded(2, radix: 16, uppercase: true)
            }
        }
        return out
    }

    static func timestamp(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return (parts.tm_year + 1900).padded(4) + (parts.tm_mon + 1).padded(2) + parts.tm_mday.padded(2) + "T"
            + parts.tm_hour.padded(2) + parts.tm_min.padded(2) + parts.tm_sec.padded(2) + "Z"
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { $0.padded(2, radix: 16) }.joined()
    }
}
