/// The bodies Docker sends to a volume plugin (protocol v1.2). Field names are
/// Docker's; `Opts` may be null.
struct CreateBody: Decodable {
    var Name: String
    var Opts: [String: String]?
}

struct NameBody: Decodable {
    var Name: String
}

struct MountBody: Decodable {
    var Name: String
    var ID: String
}
