import CloudstorClient
import CloudstorProto
import CloudstorRPCServer
import CloudstorSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOPosix
import SwiftProtobuf
import Testing

@testable import CloudstorService

/// The daemon's services over a real unix socket, called through the generated client.
@Suite struct DaemonSocketTests {
    /// Serves the services on a fresh socket for the duration of body.
    func withDaemon(_ body: (DaemonClient.Volumes, GRPCClient<DaemonClient.Transport>, Fixture) async throws -> Void) async throws {
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
                try await body(DaemonClient.Volumes(wrapping: client), client, fixture)
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
        try await withDaemon { volumes, _, _ in
            let created = try await volumes.create(.with { $0.name = "v"; $0.options = ["size": "1", "ebstype": "gp3"] })
            #expect(created.volume.backing == .relocatable)
            #expect(created.volume.options == ["backing": "relocatable", "size": "1", "ebstype": "gp3"])
            #expect(created.volume.status.state == .created)

            let mounted = try await volumes.mount(.with { $0.name = "v"; $0.id = "m" })
            #expect(mounted.mountpoint == "/mnt/v")
            let got = try await volumes.get(.with { $0.name = "v" })
            #expect(got.volume.status.state == .mounted && got.volume.status.mountCount == 1 && got.volume.status.node == "node-1")
            #expect(try await volumes.path(.with { $0.name = "v" }).mountpoint == "/mnt/v")
            #expect(try await volumes.list(.init()).volumes.map(\.name) == ["v"])
            #expect(try await volumes.capabilities(.init()).scope == "global")

            _ = try await volumes.unmount(.with { $0.name = "v"; $0.id = "m" })
            _ = try await volumes.remove(.with { $0.name = "v" })
            #expect(try await volumes.list(.init()).volumes.isEmpty)
        }
    }

    @Test func errorsCarryMeaningfulStatuses() async throws {
        try await withDaemon { volumes, _, _ in
            #expect(await code { _ = try await volumes.create(.with { $0.name = "../x"; $0.options = ["size": "1"] }) } == .invalidArgument)
            #expect(await code { _ = try await volumes.create(.with { $0.name = "x"; $0.options = ["ebstype": "gp9", "size": "1"] }) } == .invalidArgument)
            #expect(await code { _ = try await volumes.get(.with { $0.name = "nope" }) } == .notFound)
            _ = try await volumes.create(.with { $0.name = "v"; $0.options = ["size": "1"] })
            #expect(await code { _ = try await volumes.create(.with { $0.name = "v"; $0.options = ["size": "2"] }) } == .alreadyExists)
            _ = try await volumes.mount(.with { $0.name = "v"; $0.id = "m" })
            #expect(await code { _ = try await volumes.remove(.with { $0.name = "v" }) } == .failedPrecondition)
            #expect(await code { _ = try await volumes.mount(.with { $0.name = "v"; $0.id = "" }) } == .invalidArgument)
            _ = try await volumes.unmount(.with { $0.name = "v"; $0.id = "m" })

            do {
                _ = try await volumes.create(.with { $0.name = "y"; $0.options = ["size": "1", "iops": "100"] })
                Issue.record("iops on standard was accepted")
            } catch let error as RPCError {
                #expect(error.message.contains("iops") && error.message.contains("standard"))
            }
        }
    }

    @Test func healthAndReflectionAreServed() async throws {
        try await withDaemon { _, client, _ in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            #expect(try await health.check(.with { $0.service = "" }).status == .serving)
            #expect(try await health.check(.with { $0.service = "cloudstor.v1.Volumes" }).status == .serving)
            #expect(await code { _ = try await health.check(.with { $0.service = "nope.Service" }) } == .notFound)

            let reflection = Grpc_Reflection_V1alpha_ServerReflection.Client(wrapping: client)
            let replies = try await reflection.serverReflectionInfo { writer in
                try await writer.write(.with { $0.listServices = "" })
                try await writer.write(.with { $0.fileContainingSymbol = "cloudstor.v1.Volumes.Mount" })
                try await writer.write(.with { $0.fileContainingSymbol = "cloudstor.v1.Nope" })
            } onResponse: { response in
                var all: [Grpc_Reflection_V1alpha_ServerReflectionResponse] = []
                for try await message in response.messages { all.append(message) }
                return all
            }
            #expect(replies.count == 3)
            let services = replies[0].listServicesResponse.service.map(\.name)
            #expect(services.contains("cloudstor.v1.Volumes") && services.contains("grpc.health.v1.Health"))
            let file = try Google_Protobuf_FileDescriptorProto(serializedBytes: replies[1].fileDescriptorResponse.fileDescriptorProto[0])
            #expect(file.name == "cloudstor/v1/volume.proto")
            #expect(file.service.first?.method.map(\.name).contains("Mount") == true)
            #expect(replies[2].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
        }
    }
}
