import SwiftProtobuf

/// One method of a gRPC service, typed by its messages: what a server registers
/// and a client calls. Made by the generated code (scripts/protoc-gen-cloudstor-rpc)
/// from the .proto, so no service or method name is written by hand.
public struct RPCMethod<Request: Message, Response: Message>: Sendable {
    public enum Kind: Sendable {
        /// One message in, one out.
        case unary
        /// Any number of messages either way (server or bidirectional streaming).
        case streaming
    }

    /// `package.Service`
    public let service: String
    public let method: String
    public let kind: Kind

    public init(service: String, method: String, kind: Kind) {
        self.service = service
        self.method = method
        self.kind = kind
    }

    /// `/package.Service/Method`, as HTTP/2's `:path` carries it.
    public var path: String { "/\(service)/\(method)" }

    /// `package.Service/Method`, as people write it.
    public var name: String { "\(service)/\(method)" }
}

/// Visits each method of a generated service in turn, with its types.
public protocol RPCMethodVisitor {
    mutating func visit<Request: Message, Response: Message>(_ method: RPCMethod<Request, Response>)
}
