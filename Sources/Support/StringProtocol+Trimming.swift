/// What Foundation's `trimmingCharacters(in: .whitespacesAndNewlines)` did for us,
/// without Foundation's NSString layer (which brings ICU into a static binary).
extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line breaks.
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}

extension BinaryInteger {
    /// The number in `radix`, zero-padded to `width` digits: `7.padded(2) == "07"`.
    public func padded(_ width: Int, radix: Int = 10, uppercase: Bool = false) -> String {
        let digits = String(self, radix: radix, uppercase: uppercase)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
