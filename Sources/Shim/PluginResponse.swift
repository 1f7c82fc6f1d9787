/// A reply to Docker: an HTTP status and a JSON body. Docker counts only 200 as
/// success and shows `{"Err": "…"}` of a 200 verbatim, so every failure the user
/// should read is a 200 with Err; protocol misuse (unknown endpoint, oversized
/// body) gets a 4xx with Err too.
public struct PluginResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]

    static let contentType = "application/vnd.docker.plugins.v1.2+json"

    static func ok(_ object: [String: JSONValue]) -> PluginResponse {
        var object = object
        if object["Err"] == nil, object["Capabilities"] == nil, object["Implements"] == nil { object["Err"] = "" }
        return PluginResponse(status: 200, body: JSONValue.object(object).bytes)
    }

    static func error(_ message: String, status: Int = 200) -> PluginResponse {
        PluginResponse(status: status, body: JSONValue.object(["Err": .string(message)]).bytes)
    }
}
