/// What Foundation's `trimmingCharacters(in: .whitespacesAndNewlines)` did for us,
/// without Foundation's NSString layer (which brings ICU into a static binary).
extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line breaks.
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
