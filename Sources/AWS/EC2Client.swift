/// The EC2 Query API (form-encoded POST, version 2016-11-15, XML replies read by
/// element name) for what Cloudstor needs: volumes, snapshots, tags, instances.
public struct EC2Client: Sendable {
    public static let apiVersion = "2016-11-15"
    let transport: AWSTransport

    public init(transport: AWSTransport) {
        self.transport = transport
    }

    /// Sends one action and returns its parsed reply.
    func call(_ action: String, _ parameters: [(String, String)], mutating: Bool) async throws(AWSError) -> XMLTree {
        let form = ([("Action", action), ("Version", Self.apiVersion)] + parameters)
            .map { "\(SigV4Signer.encode($0.0))=\(SigV4Signer.encode($0.1))" }
            .joined(separator: "&")
        let request = AWSRequest(
            service: "ec2", action: action, protocol: .ec2Query, method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], body: Array(form.utf8), mutating: mutating)
        let response = try await transport.send(request)
        guard let tree = XMLTree.parse(response.body) else {
            throw AWSError(code: "MalformedResponse", message: "\(action) answered with something that is not XML", service: "ec2",
                action: action, statusCode: response.status)
        }
        return tree
    }

    static func malformed(_ what: String) -> AWSError {
        AWSError(code: "MalformedResponse", message: "EC2 answered with \(what)", service: "ec2")
    }

    /// `Filter.N.Name` / `Filter.N.Value.M` parameters.
    static func filterParameters(_ filters: [EC2Filter]) -> [(String, String)] {
        var out: [(String, String)] = []
        for (i, filter) in filters.enumerated() {
            out.append(("Filter.\(i + 1).Name", filter.name))
            for (j, value) in filter.values.enumerated() { out.append(("Filter.\(i + 1).Value.\(j + 1)", value)) }
        }
        return out
    }

    /// `TagSpecification.1.ResourceType` and its `Tag.N.Key/Value`.
    static func tagSpecification(_ resourceType: String, _ tags: [AWSTag]) -> [(String, String)] {
        guard !tags.isEmpty else { return [] }
        var out = [("TagSpecification.1.ResourceType", resourceType)]
        for (i, tag) in tags.enumerated() {
            out.append(("TagSpecification.1.Tag.\(i + 1).Key", tag.key))
            out.append(("TagSpecification.1.Tag.\(i + 1).Value", tag.value))
        }
        return out
    }

    /// Follows NextToken until the last page.
    public static func allPages<Item>(_ fetch: (String?) async throws(AWSError) -> EC2Page<Item>) async throws(AWSError) -> [Item] {
        var items: [Item] = []
        var token: String?
        repeat {
            let page = try await fetch(token)
            items += page.items
            token = page.nextToken
        } while token != nil
        return items
    }
}
