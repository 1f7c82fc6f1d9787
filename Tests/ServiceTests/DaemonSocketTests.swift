import CloudstorClient
import CloudstorProto
import CloudstorRPC
import CloudstorSupport
import Foundation
import Logging
import NIOPosix
import SwiftProtobuf
import Testing

@testable import CloudstorService

/// The daemon's services over a real unix socket, called through the generated client.
@Suite struct DaemonSocketTests {
    /// Serves the services on a fresh socket for the duration of body.
    func withDaemon(_ body: (DaemonClient, Fixture) async throws -> Void) async throws {
        let dir = "/tmp/cs-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Fixture()
        let listener = try UnixListener(path: "\(dir)/d.sock")
        defer { listener.close() }
        let router = RPCRouter(services: [VolumesService(manager: fixture.manager), HealthService(), try ReflectionService()])
        let server = RPCServer(
            listeningDescriptor: listener.handOff(), loop: MultiThreadedEventLoopGroup.singleton.next(), router: router,
            logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { server.beginGracefulShutdown() }
            try await DaemonClient.with(socketPath: listener.path) { client in
                try await body(client, fixture)
            }
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
    }

    func code(of body: () async throws -> Void) async -> RPCError.Code? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return error.code
        } catch {
            return .unknown
        }
    }

    @Test func lifecycleOfAVolume() async throws {
        try await withDaemon { volumes, _ in
            let created = try await volumes.create(.with { $0.name = "v"; $0.options = ["size": "1", "tier": "b"] })
            #expect(created.volume.backing == .relocatable)
            #expect(created.volume.options == ["backing": "relocatable", "size": "1", "tier": "b"])
            #expect(created.volume.status.state == .created)

            let mounted = try await volumes.mount(.with { $0.name = "v"; $0.id = "m" })
            #expect(mounted.mountpoint == "/mnt/v")
            let got = try await volumes.get(.with { $0.name = "v" })
            #expect(got.volume.status.state == .mounted && got.volume.status.mountCount == 1 && got.volume.status.node == "node-1")
            #expect(try await volumes.path(.with { $0.name = "v" }).mountpoint == "/mnt/v")
            #expect(try await volumes.list().volumes.map(\.name) == ["v"])
            #expect(try await volumes.capabilities().scope == "global")

            _ = try await volumes.unmount(.with { $0.name = "v"; $0.id = "m" })
            _ = try await volumes.remove(.with { $0.name = "v" })
            #expect(try await volumes.list().volumes.isEmpty)
        }
    }

    @Test func errorsCarryMeaningfulStatuses() async throws {
        try await withDaemon { volumes, _ in
            #expect(await code { _ = try await volumes.create(.with { $0.name = "../x"; $0.options = ["size": "1"] }) } == .invalidArgument)
            #expect(await code { _ = try await volumes.create(.with { $0.name = "x"; $0.options = ["tier": "c", "size": "1"] }) } == .invalidArgument)
            #expect(await code { _ = try await volumes.get(.with { $0.name = "nope" }) } == .notFound)
            _ = try await volumes.create(.with { $0.name = "v"; $0.options = ["size": "1"] })
            #expect(await code { _ = try await volumes.create(.with { $0.name = "v"; $0.options = ["size": "2"] }) } == .alreadyExists)
            _ = try await volumes.mount(.with { $0.name = "v"; $0.id = "m" })
            #expect(await code { _ = try await volumes.remove(.with { $0.name = "v" }) } == .failedPrecondition)
            #expect(await code { _ = try await volumes.mount(.with { $0.name = "v"; $0.id = "" }) } == .invalidArgument)
            _ = try await volumes.unmount(.with { $0.name = "v"; $0.id = "m" })

            do {
                _ = try await volumes.create(.with { $0.name = "y"; $0.options = ["size": "101"] })
                Issue.record("a size out of range was accepted")
            } catch let error as RPCError {
                #expect(error.message.contains("size") && error.message.contains("1-100"))
            }
        }
    }

    @Test func healthIsServed() async throws {
        try await withDaemon { client, _ in
            for service in ["", "cloudstor.v1.Volumes"] {
                let reply = try await client.check(.with { $0.service = service })
                #expect(reply.status == .serving)
            }
            #expect(await code { _ = try await client.check(.with { $0.service = "nope.Service" }) } == .notFound)
        }
    }

    /// The client's side of a call that does not end well: a deadline, a daemon
    /// that is gone, a connection made anew after the daemon came back.
    @Test func deadlinesAndReconnection() async throws {
        let dir = "/tmp/cs-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = DaemonClient(socketPath: "\(dir)/d.sock")
        defer { Task { await client.rpc.close() } }
        let unreachable = await #expect(throws: RPCError.self) { _ = try await client.capabilities() }
        #expect(unreachable?.code == .unavailable)
        #expect(DaemonClient.describe(unreachable!, socketPath: client.socketPath).contains("is cloudstord running?"))

        for round in 0..<2 {
            let fixture = try Fixture()
            let listener = try UnixListener(path: "\(dir)/d.sock")
            let router = RPCRouter(services: [VolumesService(manager: fixture.manager), HealthService()])
            let server = RPCServer(
                listeningDescriptor: listener.handOff(), loop: MultiThreadedEventLoopGroup.singleton.next(), router: router,
                logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                #expect(try await client.capabilities().scope == "global", "round \(round)")
                // A Watch never answers a unary call's wait: the deadline ends it.
                let late = await #expect(throws: RPCError.self) {
                    _ = try await client.rpc.unary(Grpc_Health_V1_Health.Method.watch, Grpc_Health_V1_HealthCheckRequest(), timeout: .milliseconds(200))
                }
                #expect(late?.code == .deadlineExceeded)
                // A cancelled call resets its stream and throws CANCELLED.
                let call = Task { try await client.rpc.unary(Grpc_Health_V1_Health.Method.watch, Grpc_Health_V1_HealthCheckRequest()) }
                try await Task.sleep(for: .milliseconds(100))
                call.cancel()
                await #expect(throws: RPCError(.cancelled, "the call was cancelled")) { _ = try await call.value }
                #expect(try await client.check(.with { $0.service = "" }).status == .serving)
                server.beginGracefulShutdown()
                try await group.waitForAll()
            }
            listener.close()
        }
    }
}
