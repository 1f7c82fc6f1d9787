// EFS REST API replies: JSON decoded into the reply of each call EFSClient makes
// (its `call` decodes with JSONDecoder into the models of EFSModels.swift), and
// the error of a failed call (ErrorDecoder, restJSON, with X-Amzn-ErrorType).
//
// Input: the first byte picks the call; if its high bit is set, the first line is
// the X-Amzn-ErrorType header; the rest is the body.
@testable import CloudstorAWS
import Foundation
import FuzzSupport

// EFSClient's replies (declared inside its methods, so repeated here as they are).
struct FileSystemsReply: Decodable { var FileSystems: [EFSFileSystem]?; var NextMarker: String? }
struct MountTargetsReply: Decodable { var MountTargets: [EFSMountTarget]?; var NextMarker: String? }
struct AccessPointsReply: Decodable { var AccessPoints: [EFSAccessPoint]?; var NextToken: String? }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEFSJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput.bytes(data, size)
    guard let selector = input.first else { return 0 }
    var body = Array(input.dropFirst())
    var headers: [(String, String)] = [("x-amzn-RequestId", "fuzz")]
    if selector & 0x80 != 0 {
        let (line, rest) = FuzzInput.firstLine(body)
        headers.append(("X-Amzn-ErrorType", String(decoding: line, as: UTF8.self)))
        body = rest
    }
    let json = Data(body)
    let decoder = JSONDecoder()
    switch selector & 3 {
    case 0: _ = try? decoder.decode(FileSystemsReply.self, from: json)
    case 1: _ = try? decoder.decode(MountTargetsReply.self, from: json)
    case 2: _ = try? decoder.decode(AccessPointsReply.self, from: json)
    default:
        // CreateAccessPoint answers one access point; it is encoded again for logs.
        if let point = try? decoder.decode(EFSAccessPoint.self, from: json) { _ = try? JSONEncoder().encode(point) }
    }
    let status = [400, 403, 404, 409, 429, 500, 503, 200][Int(selector >> 2) % 8]
    let error = ErrorDecoder.decode(AWSResponse(status: status, headers: headers, body: body), protocol: .restJSON, service: "elasticfilesystem", action: "DescribeFileSystems")
    _ = error.isRetryable
    _ = error.isThrottling
    _ = error.isExpiredCredentials
    _ = "\(error)"
    return 0
}
