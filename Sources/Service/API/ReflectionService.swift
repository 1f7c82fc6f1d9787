import CloudstorProto
import FoundationEssentials
import CloudstorRPC
import SwiftProtobuf

/// `grpc.reflection.v1alpha.ServerReflection`, so grpcurl and friends can list and
/// describe the API with no proto files at hand. Answers from the descriptor set
/// that scripts/generate.sh embeds.
public struct ReflectionService: Grpc_Reflection_V1alpha_ServerReflection.Handler {
    private let files: [String: Google_Protobuf_FileDescriptorProto]
    /// Fully-qualified symbol (package.Type, package.Service, package.Service.Method) → file.
    private let symbols: [String: String]
    private let services: [String]

    public init() throws {
        guard let data = Data(base64Encoded: CloudstorDescriptors.fileDescriptorSet) else {
            throw CloudstorError(.internalError, "the embedded descriptor set is not base64")
        }
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: data)
        var files: [String: Google_Protobuf_FileDescriptorProto] = [:]
        var symbols: [String: String] = [:]
        var services: [String] = []
        for file in set.file {
            files[file.name] = file
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for service in file.service {
                services.append(prefix + service.name)
                symbols[prefix + service.name] = file.name
                for method in service.method { symbols[prefix + service.name + "." + method.name] = file.name }
            }
            for message in file.messageType { Self.index(message, prefix: prefix, file: file.name, into: &symbols) }
            for type in file.enumType { symbols[prefix + type.name] = file.name }
        }
        self.files = files
        self.symbols = symbols
        self.services = services.sorted()
    }

    private static func index(_ message: Google_Protobuf_DescriptorProto, prefix: String, file: String, into symbols: inout [String: String]) {
        let name = prefix + message.name
        symbols[name] = file
        for nested in message.nestedType { index(nested, prefix: name + ".", file: file, into: &symbols) }
        for type in message.enumType { symbols[name + "." + type.name] = file }
    }

    public func serverReflectionInfo(
        _ requests: RPCMessages<Grpc_Reflection_V1alpha_ServerReflectionRequest>,
        _ response: RPCResponseWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>
    ) async throws {
        for try await message in requests {
            var reply = Grpc_Reflection_V1alpha_ServerReflectionResponse()
            reply.validHost = message.host
            reply.originalRequest = message
            reply.messageResponse = answer(message.messageRequest)
            try await response.write(reply)
        }
    }

    func answer(_ request: Grpc_Reflection_V1alpha_ServerReflectionRequest.OneOf_MessageRequest?)
        -> Grpc_Reflection_V1alpha_ServerReflectionResponse.OneOf_MessageResponse
    {
        switch request {
        case .listServices:
            return .listServicesResponse(.with { $0.service = services.map { name in .with { $0.name = name } } })
        case .fileByFilename(let name):
            guard files[name] != nil else { return error(.notFound, "no file named \(name)") }
            return fileResponse(name)
        case .fileContainingSymbol(let symbol):
            guard let file = symbols[symbol] else { return error(.notFound, "no symbol \(symbol)") }
            return fileResponse(file)
        case .fileContainingExtension(let request):
            return error(.notFound, "no extensions of \(request.containingType)")
        case .allExtensionNumbersOfType(let type):
            guard symbols[type] != nil else { return error(.notFound, "no type \(type)") }
            return .allExtensionNumbersResponse(.with { $0.baseTypeName = type })
        case nil:
            return error(.invalidArgument, "empty reflection request")
        }
    }

    /// The file and everything it imports, dependencies first.
    private func fileResponse(_ name: String) -> Grpc_Reflection_V1alpha_ServerReflectionResponse.OneOf_MessageResponse {
        var ordered: [String] = []
        var seen: Set<String> = []
        func visit(_ file: String) {
            guard seen.insert(file).inserted, let descriptor = files[file] else { return }
            descriptor.dependency.forEach(visit)
            ordered.append(file)
        }
        visit(name)
        let encoded = ordered.compactMap { try? files[$0]!.serializedBytes() as Data }
        return .fileDescriptorResponse(.with { $0.fileDescriptorProto = encoded })
    }

    private func error(_ code: RPCError.Code, _ message: String) -> Grpc_Reflection_V1alpha_ServerReflectionResponse.OneOf_MessageResponse {
        .errorResponse(.with {
            $0.errorCode = Int32(code.rawValue)
            $0.errorMessage = message
        })
    }
}
