import FoundationEssentials

/// Where each service is reached. `AWS_ENDPOINT_URL` sends every service to one
/// base URL (emulators); `AWS_ENDPOINT_URL_<SERVICE>` (EC2, EFS) overrides one
/// service, as the AWS SDKs do; otherwise the regional public endpoint.
public struct AWSEndpoints: Sendable {
    public var region: String
    public var global: String?
    public var perService: [String: String]

    public init(region: String, global: String? = nil, perService: [String: String] = [:]) {
        self.region = region
        self.global = global
        self.perService = perService
    }

    public init(region: String, environment: [String: String]) {
        self.init(
            region: region, global: environment["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : $0 },
            perService: ["ec2": environment["AWS_ENDPOINT_URL_EC2"], "elasticfilesystem": environment["AWS_ENDPOINT_URL_EFS"]]
                .compactMapValues { $0?.isEmpty == false ? $0 : nil })
    }

    /// The base URL (scheme, host, optional port, no trailing slash) for a signing name.
    public func baseURL(for service: String) -> String {
        let url = perService[service] ?? global ?? "https://\(service).\(region).amazonaws.com"
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
