// Instance-metadata replies (IMDSv2) as the daemon reads them on EC2: the session
// token (PUT /latest/api/token), the role list and the role's credentials
// document (InstanceRoleCredentialsProvider: the first line names the role, the
// JSON decoded and checked), then a metadata value (the zone), each through
// InstanceMetadataClient and its HTTP/1.1 connection (NIO's codec) against a fake metadata service in
// this process that answers each request with the next raw HTTP response of the
// input and closes the connection.
//
// Input: the raw HTTP responses, in the order of the requests, separated by
// "~~~\n"; a request with no response left gets its connection closed.
import CloudstorAWS
import Foundation
import FuzzSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Answers each request with the next response of the current input.
final class FakeMetadataService: Sendable {
    let port: UInt16
    private let listener: Int32
    private let responses = Mutex<(list: [[UInt8]], next: Int)>(([], 0))

    init() {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(bound == 0 && listen(listener, 64) == 0, "cannot listen: \(errno)")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    func load(_ list: [[UInt8]]) {
        responses.withLock { $0 = (list, 0) }
    }

    private func serve() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            // The request: its head, and its body if it says it has one (none of IMDS's do).
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n < 0, errno == EINTR { continue }  // libFuzzer's SIGALRM
                if n <= 0 { break }
                request += buffer[..<n]
            }
            let response: [UInt8]? = responses.withLock { state in
                guard state.next < state.list.count else { return nil }
                defer { state.next += 1 }
                return state.list[state.next]
            }
            if let response {
                var sent = 0
                while sent < response.count {
                    let n = response[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    sent += n
                }
            }
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }
}

let service = FakeMetadataService()
let separator = Array("~~~\n".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMDS(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput.bytes(data, size)
    service.load(FuzzInput.split(input, separator: separator, maxParts: 8))
    let endpoint = "http://127.0.0.1:\(service.port)"
    fuzzWait {
        let metadata = InstanceMetadataClient(endpoint: endpoint)
        let provider = InstanceRoleCredentialsProvider(metadata: metadata)
        do {
            if let credentials = try await provider.credentials() {
                _ = credentials.accessKeyID
            }
            _ = try await metadata.availabilityZone()
        } catch {
            _ = "\(error)"
        }
    }
    return 0
}
