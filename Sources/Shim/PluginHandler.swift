import CloudstorClient
import CloudstorProto
import FoundationEssentials
import Logging
import NIOCore

/// Turns one Docker volume-plugin call into one daemon RPC. Holds no state.
public struct PluginHandler: Sendable {
    let volumes: DaemonClient
    /// Capabilities' Scope: global where volumes follow their task between nodes.
    let scope: String
    let logger: Logger
    /// Docker waits 2 minutes for Create/Mount/Unmount/Remove and 1 for the others;
    /// answering a little sooner turns a timeout into a readable error.
    static let long = Duration.seconds(110)
    static let short = Duration.seconds(55)

    public init(client: DaemonClient, scope: String, logger: Logger) {
        self.volumes = client
        self.scope = scope
        self.logger = logger
    }

    public func handle(path: String, body: [UInt8]) async -> PluginResponse {
        do {
            return try await dispatch(path: path, body: body)
        } catch let failure as Failure {
            return failure.response
        } catch {
            let message = DaemonClient.describe(error, socketPath: volumes.socketPath)
            logger.notice("call failed", metadata: ["call": "\(path)", "error": "\(message)"])
            return .error(message)
        }
    }

    private func dispatch(path: String, body: [UInt8]) async throws -> PluginResponse {
        switch path {
        case "/Plugin.Activate":
            return .ok(["Implements": ["VolumeDriver"]])
        case "/VolumeDriver.Capabilities":
            return .ok(["Capabilities": ["Scope": .string(scope)]])
        case "/VolumeDriver.Create":
            let request = try decode(CreateBody.self, body, call: path)
            let message = Cloudstor_V1_CreateRequest.with { $0.name = request.Name; $0.options = request.Opts ?? [:] }
            _ = try await volumes.create(message, timeout: Self.long)
            return .ok([:])
        case "/VolumeDriver.Remove":
            let request = try decode(NameBody.self, body, call: path)
            let message = Cloudstor_V1_RemoveRequest.with { $0.name = request.Name }
            _ = try await volumes.remove(message, timeout: Self.long)
            return .ok([:])
        case "/VolumeDriver.Get":
            let request = try decode(NameBody.self, body, call: path)
            let message = Cloudstor_V1_GetRequest.with { $0.name = request.Name }
            let reply = try await volumes.get(message, timeout: Self.short)
            return .ok(["Volume": Self.describe(reply.volume, withStatus: true)])
        case "/VolumeDriver.List":
            let reply = try await volumes.list(timeout: Self.short)
            return .ok(["Volumes": .array(reply.volumes.map { Self.describe($0, withStatus: false) })])
        case "/VolumeDriver.Path":
            let request = try decode(NameBody.self, body, call: path)
            let message = Cloudstor_V1_PathRequest.with { $0.name = request.Name }
            let reply = try await volumes.path(message, timeout: Self.short)
            return .ok(["Mountpoint": .string(reply.mountpoint)])
        case "/VolumeDriver.Mount":
            let request = try decode(MountBody.self, body, call: path)
            let message = Cloudstor_V1_MountRequest.with { $0.name = request.Name; $0.id = request.ID }
            let reply = try await volumes.mount(message, timeout: Self.long)
            // An empty Mountpoint would make Docker bind-mount its own directory instead.
            guard !reply.mountpoint.isEmpty else {
                return .error("cloudstor returned no mount point for volume \(request.Name)")
            }
            return .ok(["Mountpoint": .string(reply.mountpoint)])
        case "/VolumeDriver.Unmount":
            let request = try decode(MountBody.self, body, call: path)
            let message = Cloudstor_V1_UnmountRequest.with { $0.name = request.Name; $0.id = request.ID }
            _ = try await volumes.unmount(message, timeout: Self.long)
            return .ok([:])
        default:
            return .error("unknown endpoint \(path.prefix(100)): cloudstor implements Plugin.Activate and VolumeDriver.*", status: 404)
        }
    }

    /// Docker's view of a volume: Name, Mountpoint, CreatedAt and (for Get) Status.
    static func describe(_ volume: Cloudstor_V1_Volume, withStatus: Bool) -> JSONValue {
        var out: [String: JSONValue] = [
            "Name": .string(volume.name), "Mountpoint": .string(volume.status.mountpoint), "CreatedAt": .string(volume.createdAt),
        ]
        guard withStatus else { return .object(out) }
        var status: [String: JSONValue] = [
            "Backing": .string(volume.backing.displayName),
            "Options": .object(volume.options.mapValues(JSONValue.string)),
            "State": .string(volume.status.state.displayName),
            "Mounts": .int(Int(volume.status.mountCount)),
        ]
        for (key, value) in [("Node", volume.status.node), ("Device", volume.status.device), ("CloudID", volume.status.cloudID),
            ("Zone", volume.status.zone), ("Attachment", volume.status.attachmentState), ("Move", volume.status.move)] where !value.isEmpty
        {
            status[key] = .string(value)
        }
        if !volume.status.holders.isEmpty { status["Holders"] = .array(volume.status.holders.map(JSONValue.string)) }
        out["Status"] = .object(status)
        return .object(out)
    }

    private struct Failure: Error {
        var response: PluginResponse
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], call: String) throws -> T {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            // A managed plugin's engine re-sends a timed-out call with an empty body:
            // it must never act on a volume named "".
            throw Failure(response: .error("\(call.dropFirst()) sent an empty request body; expected a JSON object with Name", status: 400))
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw Failure(response: .error("malformed \(call.dropFirst()) request: \(Self.explain(error))", status: 400))
        }
    }

    static func explain(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): "missing field \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "wrong type for \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case .dataCorrupted: "not valid JSON"
        default: "\(error)"
        }
    }
}
