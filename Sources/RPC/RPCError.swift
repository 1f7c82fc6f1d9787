/// How a gRPC call failed: a status code other than OK and a message for people.
/// The layer's one error type, on both sides of a call; a handler's error becomes
/// one through `RPCErrorConvertible`, and anything else is answered `unknown`
/// without its details. A call that succeeded has no RPCError: OK is no code here.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failure codes of the gRPC specification, by their wire values.
    public enum Code: Int, Sendable {
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    /// The status a handler's error is answered with.
    public init(of error: any Error) {
        switch error {
        case let status as RPCError: self = status
        case let convertible as any RPCErrorConvertible: self = convertible.rpcError
        case is CancellationError: self.init(.cancelled, "the call was cancelled")
        default: self.init(.unknown, "the handler failed")
        }
    }

    /// The failure trailers report (`grpc-status` and the percent-encoded
    /// `grpc-message`), nil for OK. A status missing or not one of the spec's is `unknown`.
    init?(status: String?, encodedMessage: String?) {
        if status == "0" { return nil }
        let code = status.flatMap(Int.init).flatMap(Code.init(rawValue:)) ?? .unknown
        var bytes: [UInt8] = []
        let utf8 = Array((encodedMessage ?? "").utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count, let value = UInt8(String(decoding: utf8[i + 1...i + 2], as: UTF8.self), radix: 16) {
                bytes.append(value)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        self.init(code, String(decoding: bytes, as: UTF8.self))
    }

    public var description: String { "\(code) (\(code.rawValue)): \(message)" }

    /// `grpc-message` as the specification wants it: UTF-8, with every byte outside
    /// printable ASCII, and `%` itself, percent-encoded.
    var encodedMessage: String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// An error type that knows its gRPC status: the one mapping from a layer's errors
/// to the wire lives in its conformance.
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError.Code {
    /// The code's name in the gRPC specification (`NOT_FOUND`).
    public var name: String {
        switch self {
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internalError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}
