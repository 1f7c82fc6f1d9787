// EC2 Query API replies: the XML every EC2 call's answer goes through
// (EC2Client.call → XMLTree.parse), the models read from it (volumes, snapshots,
// instances, attachments, tags, the next page's token), and the error document
// of a failed call (ErrorDecoder, ec2Query).
//
// Property: a tree read back from its own XML (written with every text escaped)
// is the same tree, so the reader neither loses nor invents text or elements.
//
// Input: the reply body. The first byte picks the HTTP status of the error path.
@testable import CloudstorAWS
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEC2XML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = FuzzInput.bytes(data, size)
    if let tree = XMLTree.parse(body) {
        let again = XMLTree.parse(Array(xml(tree).utf8))
        fuzzCheck(again.map { same($0, tree) } ?? false, "the tree does not read back from its own XML: \(xml(tree))")
        // As EC2Client reads each reply.
        _ = try? tree.volume()
        _ = try? tree.snapshot()
        _ = tree.attachment
        for item in tree.items("volumeSet") { _ = try? item.volume() }
        for item in tree.items("snapshotSet") { _ = try? item.snapshot() }
        for reservation in tree.items("reservationSet") {
            for item in reservation.items("instancesSet") { _ = try? item.instance() }
        }
        _ = tree.string("nextToken").flatMap { $0.isEmpty ? nil : $0 }
        _ = tree.tags
        _ = tree.find("Error")
    }
    let status = [400, 401, 403, 404, 409, 429, 500, 503][Int(body.first ?? 0) % 8]
    let error = ErrorDecoder.decode(AWSResponse(status: status, headers: [], body: body), protocol: .ec2Query, service: "ec2", action: "DescribeVolumes")
    _ = error.isRetryable
    _ = error.isThrottling
    _ = error.isExpiredCredentials
    _ = "\(error)"
    return 0
}

/// The element as XML: its text first, then its children.
func xml(_ tree: XMLTree) -> String {
    var text = ""
    for scalar in tree.text.unicodeScalars {
        switch scalar {
        case "<": text += "&lt;"
        case "&": text += "&amp;"
        case ">": text += "&#x3E;"
        default: text.unicodeScalars.append(scalar)
        }
    }
    return "<\(tree.name) a='1'>\(text)\(tree.children.map(xml).joined())</\(tree.name)>"
}

func same(_ a: XMLTree, _ b: XMLTree) -> Bool {
    a.name == b.name && a.text == b.text && a.children.count == b.children.count && zip(a.children, b.children).allSatisfy { same($0, $1) }
}
