import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// tools/ec2sim (in front of a moto server that enforces SigV4), started for one
/// test and stopped by pid.
final class Simulator: @unchecked Sendable {
    struct Node: Decodable {
        var instance_id: String
        var availability_zone: String
        var region: String
        var imds_url: String
        var device_dir: String
    }

    let process: Process
    let url: String
    let directory: String
    let admin = HTTPClient(eventLoopGroupProvider: .singleton)

    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static func start(delay: Double = 0.1) async throws -> Simulator {
        let directory = "/tmp/cs-sim-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "\(root)/tools/ec2sim/ec2sim.py", "--port", "0", "--auth", "--delay", String(delay), "--seed", "7",
            "--state-dir", "\(directory)/state", "--ready-file", "\(directory)/ready.json", "--log-level", "WARNING",
        ]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<600 {
            if let data = FileManager.default.contents(atPath: "\(directory)/ready.json"),
                let ready = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let url = ready["url"] as? String
            {
                return Simulator(process: process, url: url, directory: directory)
            }
            guard process.isRunning else { throw SimulatorError("ec2sim exited with \(process.terminationStatus)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw SimulatorError("ec2sim did not become ready")
    }

    private init(process: Process, url: String, directory: String) {
        self.process = process
        self.url = url
        self.directory = directory
    }

    func stop() async throws {
        try await admin.shutdown()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The admin key moto accepts.
    func credentials() async throws -> (String, String) {
        let object = try await call("GET", "credentials")
        guard let id = object["AccessKeyId"] as? String ?? object["access_key_id"] as? String,
            let secret = object["SecretAccessKey"] as? String ?? object["secret_access_key"] as? String
        else { throw SimulatorError("credentials reply: \(object)") }
        return (id, secret)
    }

    func addNode(zone: String) async throws -> Node {
        let data = try await raw("POST", "nodes", body: ["availability_zone": zone])
        return try JSONDecoder().decode(Node.self, from: data)
    }

    func fault(_ rule: [String: Any]) async throws {
        _ = try await raw("POST", "faults", body: rule)
    }

    func stats() async throws -> [String: Any] {
        try await call("GET", "stats")
    }

    func call(_ method: String, _ path: String, body: [String: Any]? = nil) async throws -> [String: Any] {
        let data = try await raw(method, path, body: body)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    func raw(_ method: String, _ path: String, body: [String: Any]? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: "\(url)/_sim/\(path)")
        request.method = HTTPMethod(rawValue: method)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await admin.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok || response.status == .created else {
            throw SimulatorError("\(method) /_sim/\(path): \(response.status) \(String(buffer: bytes))")
        }
        return Data(bytes.readableBytesView)
    }
}

struct SimulatorError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
