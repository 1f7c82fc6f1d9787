/// The parsing every option shares, core's and providers': a choice among names,
/// a whole number in a range; each refusal names the option and what it allows.
public enum OptionValue {
    public static func choice<T: RawRepresentable & CaseIterable>(_ value: String?, option: String, default fallback: T) throws(CloudstorError) -> T
    where T.RawValue == String {
        guard let value else { return fallback }
        guard let parsed = T(rawValue: value.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw CloudstorError(.invalidArgument, "invalid value \(VolumeName.quoted(value)) for option \(option); allowed: \(allowed)")
        }
        return parsed
    }

    /// Decimal digits only: no sign, no spaces, no 0x.
    public static func integer(_ text: String, option: String, unit: String, range: ClosedRange<Int>, context: String) throws(CloudstorError) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
            throw CloudstorError(
                .invalidArgument,
                "invalid value \(VolumeName.quoted(text)) for option \(option): a whole number of \(unit) from \(range.lowerBound) to \(range.upperBound) (\(context))")
        }
        guard range.contains(value) else {
            throw CloudstorError(
                .invalidArgument,
                "option \(option)=\(value) is out of range: \(range.lowerBound)-\(range.upperBound) \(unit) for \(context)")
        }
        return value
    }
}
