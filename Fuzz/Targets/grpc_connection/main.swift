// The daemon's gRPC server as one connection sees it: bytes after the HTTP/2
// preface go through the same handlers RPCServer puts on every connection
// (NIOHTTP2Handler with the server's settings, StreamClosedFilter, NIO's
// connection management, RPCConnection), serving the daemon's real Health and
// Reflection services; calls for any other path are refused as the daemon
// refuses them. The connection runs on an EmbeddedChannel, so each input is
// served to its end, calls' tasks included, before the next.
//
// Input: byte 0 = how many bytes each read carries (0: all at once); then the
// client's HTTP/2 frames, the preface already sent.
@testable import CloudstorRPC
import CloudstorService
import CloudstorSupport
import Dispatch
import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP2

let router = RPCRouter(services: [HealthService(), try! ReflectionService()])
let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
let shutdownQueue = DispatchQueue(label: "fuzz.shutdown")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGRPCConnection(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput.bytes(data, size)
    guard let first = input.first else { return 0 }
    let readSize = Int(first)
    let bytes = preface + input.dropFirst()

    let loop = EmbeddedEventLoop()
    let channel = EmbeddedChannel(loop: loop)
    do {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(NIOHTTP2Handler(mode: .server, connectionConfiguration: RPCServer.connection, streamConfiguration: RPCServer.streams))
        try sync.addHandler(StreamClosedFilter())
        try sync.addHandler(
            NIOHTTP2ServerConnectionManagementHandler(
                eventLoop: loop, configuration: .init(maxIdleTime: nil, maxAge: nil, maxGraceTime: nil, keepalive: nil)))
        try sync.addHandler(RPCConnection(router: router, executor: EventLoopExecutor(loop)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        fatalError("cannot set up the connection: \(error)")
    }

    var offset = 0
    while offset < bytes.count, channel.isActive {
        let end = readSize == 0 ? bytes.count : min(bytes.count, offset + readSize)
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
        } catch {
            // A protocol error: NIOHTTP2 has answered it and RPCConnection closed the connection.
        }
        offset = end
        loop.run()  // the calls' tasks run on the connection's loop
        while (try? channel.readOutbound(as: IOData.self)) ?? nil != nil {}
    }
    // Deadlines of the calls (grpc-timeout) that are due in a second.
    loop.advanceTime(by: .seconds(1))
    loop.run()
    // The client goes away: every call still running is cancelled.
    _ = try? channel.close().wait()
    loop.run()
    while (try? channel.readOutbound(as: IOData.self)) ?? nil != nil {}
    loop.shutdownGracefully(queue: shutdownQueue) { _ in }
    return 0
}
