// The shim's JSON on both sides: a Docker plugin call's body decoded for its
// endpoint (PluginHandler.handle: the empty-body rule, JSONDecoder into
// CreateBody/NameBody/MountBody, the errors explained back to Docker), and the
// JSON the shim writes for Docker from a daemon's reply (PluginHandler.describe
// and JSONValue, its hand-written encoder). The daemon is not there, so every
// well-formed call ends in the shim's "not reachable" answer; what is fuzzed is
// everything before and after the RPC.
//
// Every answer must be one JSON object with a string Err (or Docker's activation
// fields), and JSON written for a reply must parse back to the reply's strings.
//
// Input: byte 0 picks the mode. Even: the first line is the endpoint path, the
// rest the body. Odd: the rest is a serialized cloudstor.v1.Volume (a Get or List
// reply's volume).
@testable import CloudstorShim
import CloudstorClient
import CloudstorProto
import Foundation
import FuzzSupport
import Logging
import NIOPosix

let handler = PluginHandler(
    client: DaemonClient(socketPath: "/nonexistent/cloudstor-fuzz.sock", loop: MultiThreadedEventLoopGroup.singleton.next()), scope: "local",
    logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
let endpoints = [
    "/Plugin.Activate", "/VolumeDriver.Capabilities", "/VolumeDriver.Create", "/VolumeDriver.Remove", "/VolumeDriver.Get",
    "/VolumeDriver.List", "/VolumeDriver.Path", "/VolumeDriver.Mount", "/VolumeDriver.Unmount",
]

func parseJSON(_ bytes: [UInt8], _ what: String) -> Any {
    do {
        return try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    } catch {
        fuzzCheck(false, "\(what) is not JSON: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        fatalError()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShimJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput.bytes(data, size)
    guard let mode = input.first else { return 0 }
    let rest = Array(input.dropFirst())
    if mode & 1 == 0 {
        let (line, body) = FuzzInput.firstLine(rest)
        // A short line names one of the endpoints by number, so that the fuzzer reaches each.
        let path = line.count == 1 ? endpoints[Int(line[0]) % endpoints.count] : String(decoding: line, as: UTF8.self)
        let response = fuzzWait { await handler.handle(path: path, body: body) }
        fuzzCheck([200, 400, 404].contains(response.status), "status \(response.status) for \(path)")
        let object = parseJSON(response.body, "the answer to \(path)") as? [String: Any]
        fuzzCheck(object != nil, "the answer to \(path) is not a JSON object")
        if let object, path != "/Plugin.Activate", path != "/VolumeDriver.Capabilities" {
            fuzzCheck(object["Err"] is String, "the answer to \(path) has no string Err")
        }
        // JSONValue writes any string so that JSON reads it back unchanged.
        let text = String(decoding: body, as: UTF8.self)
        let back = parseJSON(JSONValue.string(text).bytes, "a JSON string") as? String
        fuzzCheck(back == text, "JSONValue.string(\(text.debugDescription)) reads back as \(String(describing: back).debugDescription)")
    } else {
        guard let volume = try? Cloudstor_V1_Volume(serializedBytes: rest) else { return 0 }
        for withStatus in [false, true] {
            let bytes = PluginHandler.describe(volume, withStatus: withStatus).bytes
            let object = parseJSON(bytes, "a volume") as? [String: Any]
            fuzzCheck(object?["Name"] as? String == volume.name, "the volume's Name does not read back")
            if withStatus {
                let status = object?["Status"] as? [String: Any]
                fuzzCheck(status?["Options"] as? [String: String] == volume.options, "the volume's Options do not read back")
            }
        }
        let list = PluginResponse.ok(["Volumes": .array([PluginHandler.describe(volume, withStatus: false)])])
        fuzzCheck(parseJSON(list.body, "a List answer") is [String: Any], "a List answer is not an object")
    }
    return 0
}
