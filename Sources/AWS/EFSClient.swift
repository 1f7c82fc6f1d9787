import FoundationEssentials

/// The EFS REST API (`/2015-02-01/…`, JSON) for what Cloudstor needs: file systems,
/// mount targets and access points (one per shared volume).
public struct EFSClient: Sendable {
    static let prefix = "/2015-02-01"
    let transport: AWSTransport

    public init(transport: AWSTransport) {
        self.transport = transport
    }

    public func describeFileSystems(fileSystemID: String? = nil, marker: String? = nil) async throws(AWSError) -> (
        [EFSFileSystem], next: String?
    ) {
        struct Reply: Decodable { var FileSystems: [EFSFileSystem]?; var NextMarker: String? }
        var query: [(String, String)] = []
        if let fileSystemID { query.append(("FileSystemId", fileSystemID)) }
        if let marker { query.append(("Marker", marker)) }
        let reply: Reply = try await call("DescribeFileSystems", "GET", "/file-systems", query: query)
        return (reply.FileSystems ?? [], reply.NextMarker)
    }

    public func describeMountTargets(fileSystemID: String, marker: String? = nil) async throws(AWSError) -> ([EFSMountTarget], next: String?) {
        struct Reply: Decodable { var MountTargets: [EFSMountTarget]?; var NextMarker: String? }
        var query = [("FileSystemId", fileSystemID)]
        if let marker { query.append(("Marker", marker)) }
        let reply: Reply = try await call("DescribeMountTargets", "GET", "/mount-targets", query: query)
        return (reply.MountTargets ?? [], reply.NextMarker)
    }

    public struct CreateAccessPointInput: Sendable, Encodable {
        public var ClientToken: String
        public var FileSystemId: String
        public var RootDirectory: EFSRootDirectory
        public var Tags: [EFSTag]

        public init(clientToken: String, fileSystemID: String, path: String, uid: Int = 0, gid: Int = 0, permissions: String = "0755",
            tags: [EFSTag])
        {
            ClientToken = clientToken
            FileSystemId = fileSystemID
            RootDirectory = EFSRootDirectory(Path: path, CreationInfo: .init(OwnerUid: uid, OwnerGid: gid, Permissions: permissions))
            Tags = tags
        }
    }

    public func createAccessPoint(_ input: CreateAccessPointInput) async throws(AWSError) -> EFSAccessPoint {
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(input))
        } catch {
            throw AWSError(code: "InvalidParameter", message: "cannot encode the request", service: "elasticfilesystem",
                action: "CreateAccessPoint", cause: error)
        }
        return try await call("CreateAccessPoint", "POST", "/access-points", body: body, mutating: true)
    }

    public func describeAccessPoints(fileSystemID: String? = nil, accessPointID: String? = nil, nextToken: String? = nil)
        async throws(AWSError) -> ([EFSAccessPoint], next: String?)
    {
        struct Reply: Decodable { var AccessPoints: [EFSAccessPoint]?; var NextToken: String? }
        var query: [(String, String)] = []
        if let fileSystemID { query.append(("FileSystemId", fileSystemID)) }
        if let accessPointID { query.append(("AccessPointId", accessPointID)) }
        if let nextToken { query.append(("NextToken", nextToken)) }
        let reply: Reply = try await call("DescribeAccessPoints", "GET", "/access-points", query: query)
        return (reply.AccessPoints ?? [], reply.NextToken)
    }

    public func deleteAccessPoint(id: String) async throws(AWSError) {
        let request = AWSRequest(
            service: "elasticfilesystem", action: "DeleteAccessPoint", protocol: .restJSON, method: "DELETE",
            path: "\(Self.prefix)/access-points/\(id)", mutating: true)
        _ = try await transport.send(request)
    }

    private func call<Reply: Decodable>(
        _ action: String, _ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [], mutating: Bool = false
    ) async throws(AWSError) -> Reply {
        let request = AWSRequest(
            service: "elasticfilesystem", action: action, protocol: .restJSON, method: method, path: Self.prefix + path, query: query,
            headers: body.isEmpty ? [] : [("Content-Type", "application/json")], body: body, mutating: mutating)
        let response = try await transport.send(request)
        do {
            return try JSONDecoder().decode(Reply.self, from: Data(response.body))
        } catch {
            throw AWSError(code: "MalformedResponse", message: "\(action) answered with unexpected JSON", service: "elasticfilesystem",
                action: action, statusCode: response.status, cause: error)
        }
    }
}
