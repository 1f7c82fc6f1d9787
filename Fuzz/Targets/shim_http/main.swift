// The shim's Docker endpoint as Docker reaches it: bytes written to the plugin's
// unix socket, served by the real PluginServer (NIO's HTTP/1.1 server pipeline
// with its error handling, then PluginConnection: body limit, method check,
// path, keep-alive and half-close, one answer per request in order), in this
// process. The daemon is not there, so well-formed calls end in the shim's "not
// reachable" answer.
//
// Each input is one connection: the bytes are written, the client shuts its side,
// and the shim must answer and close within a few seconds (a connection left open
// is a leak Docker's engine would pile up). Input: the bytes of the connection.
import CloudstorClient
import CloudstorShim
import Foundation
import FuzzSupport
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

let socketPath = "/tmp/cloudstor-fuzz-shim-\(getpid()).sock"
let started: Bool = {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
    let handler = PluginHandler(client: DaemonClient(socketPath: "/nonexistent/cloudstor-fuzz.sock", loop: loop), scope: "local", logger: logger)
    let server = PluginServer(socketPath: socketPath, handler: handler, loop: loop, logger: logger)
    Task.detached {
        do { try await server.run() } catch { fatalError("the shim's server stopped: \(error)") }
    }
    atexit { unlink("/tmp/cloudstor-fuzz-shim-\(getpid()).sock") }
    for _ in 0..<500 {
        if access(socketPath, F_OK) == 0 { return true }
        usleep(10_000)
    }
    fatalError("the shim's server did not start")
}()

/// How long the shim may take to answer and close; beyond it, a hang.
let closeTimeoutMs: Int32 = 15000

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShimHTTP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = started
    let input = FuzzInput.bytes(data, size)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, byte) in socketPath.utf8.enumerated() { raw[i] = byte }
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    precondition(connected == 0, "connect: \(errno)")
    var written = 0
    while written < input.count {
        let n = input[written...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0, errno == EINTR { continue }
        if n <= 0 { break }  // the shim closed already (a request it refused)
        written += n
    }
    shutdown(fd, Int32(SHUT_WR))
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    let deadline = ContinuousClock.now + .milliseconds(Int(closeTimeoutMs))
    while true {
        var poll_ = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let left = deadline - ContinuousClock.now
        let ready = left > .zero ? poll(&poll_, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)) : 0
        if ready < 0, errno == EINTR { continue }  // libFuzzer's SIGALRM, every -timeout/2 seconds
        if ready == 0, let dump = ProcessInfo.processInfo.environment["FUZZ_STACKS_ON_HANG"] {
            // Every thread's stack while it hangs, for the report.
            _ = system("gdb -batch -p \(getpid()) -ex 'thread apply all bt 40' > \(dump) 2>&1")
        }
        fuzzCheck(ready > 0, "the shim did not close the connection within \(closeTimeoutMs) ms (poll \(ready), errno \(errno)); it answered \(answer.count) bytes: \(String(decoding: answer.prefix(300), as: UTF8.self).debugDescription)")
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0, errno == EINTR { continue }
        if n <= 0 { break }
        answer += buffer[..<n]
    }
    if !answer.isEmpty {
        fuzzCheck(answer.starts(with: Array("HTTP/1.".utf8)), "the shim answered something that is not HTTP/1.x")
    }
    return 0
}
