// Volume names and options as Docker and cloudstorctl hand them to the daemon:
// VolumeName.validate and VolumeOptions(parsing:defaultBacking:rules:) with EBS's
// rules, the checks every Create goes through (VolumeManager.create).
//
// Input: the name on the first line, then one KEY=VALUE option per line; the
// first byte's low bit picks the default backing, the next the rules (AWS's or the
// local provider's), the next the account's encryption by default.
import CloudstorAWSProvider
import CloudstorService
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVolumeOptions(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput.bytes(data, size)
    guard let first = input.first else { return 0 }
    let defaultBacking: Backing = first & 1 == 0 ? .relocatable : .shared
    let cloud = first & 2 == 0
    let rules = EBSOptionRules(encryptedByDefault: cloud && first & 4 != 0, cloud: cloud)
    let (nameBytes, rest) = FuzzInput.firstLine(Array(input.dropFirst()))
    let name = String(decoding: nameBytes, as: UTF8.self)

    // Oracle: Docker's rule, written independently.
    let utf8 = Array(name.utf8)
    func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) }
    let expected = !utf8.isEmpty && utf8.count <= 255 && alnum(utf8[0])
        && utf8.dropFirst().allSatisfy { alnum($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    var valid = true
    do { try VolumeName.validate(name) } catch { valid = false; _ = error.description }
    fuzzCheck(valid == expected, "VolumeName.validate(\(name.debugDescription)) = \(valid), Docker's rule says \(expected)")

    var raw: [String: String] = [:]
    for line in FuzzInput.split(rest, separator: [0x0A]) where !line.isEmpty {
        let text = String(decoding: line, as: UTF8.self)
        if let equals = text.firstIndex(of: "=") {
            raw[String(text[..<equals])] = String(text[text.index(after: equals)...])
        } else {
            raw[text] = ""
        }
    }
    do {
        let options = try VolumeOptions(parsing: raw, defaultBacking: defaultBacking, rules: rules)
        // What is stored and shown parses back to the same options, with either default.
        let shown = options.dictionary
        for backing in Backing.allCases {
            let again = try? VolumeOptions(parsing: shown, defaultBacking: backing, rules: rules)
            fuzzCheck(again == options, "options \(raw) stored as \(shown) parse back as \(String(describing: again))")
        }
    } catch {
        _ = error.description
    }
    return 0
}
