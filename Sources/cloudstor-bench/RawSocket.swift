#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation

/// A blocking unix-socket connection: the floor (echo) and the shim's HTTP.
final class RawSocket {
    let fd: Int32

    init(path: String) throws {
        let fd = clinux_connect_unix(path)
        guard fd >= 0 else { throw BenchError("connect \(path): \(String(cString: strerror(-fd)))") }
        self.fd = fd
    }

    init(descriptor: Int32) {
        fd = descriptor
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw BenchError("write: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads exactly count bytes.
    func receive(_ count: Int, into buffer: inout [UInt8]) throws {
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            guard n > 0 else { throw BenchError("read: connection closed") }
            got += n
        }
    }

    /// Reads one HTTP/1.1 response with a Content-Length; returns status and body.
    func receiveHTTP() throws -> (Int, [UInt8]) {
        var head: [UInt8] = []
        var byte = [UInt8](repeating: 0, count: 1)
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            try receive(1, into: &byte)
            head.append(byte[0])
        }
        let text = String(decoding: head, as: UTF8.self)
        let status = Int(text.split(separator: " ")[1]) ?? 0
        let length = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        var body = [UInt8](repeating: 0, count: length)
        try receive(length, into: &body)
        return (status, body)
    }
}

/// A unix-socket echo server on its own thread: the floor every path is compared to.
final class EchoServer: @unchecked Sendable {
    let path: String
    private let listenFD: Int32

    init(path: String) throws {
        unlink(path)
        let fd = clinux_listen_unix(path, 0o600, 8)
        guard fd >= 0 else { throw BenchError("listen \(path): \(String(cString: strerror(-fd)))") }
        self.path = path
        listenFD = fd
        Thread.detachNewThread { [self] in
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                _ = buffer.withUnsafeBytes { write(client, $0.baseAddress, n) }
            }
            close(client)
        }
    }

    deinit {
        close(listenFD)
        unlink(path)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
