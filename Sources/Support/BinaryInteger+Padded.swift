extension BinaryInteger {
    /// The number in `radix`, zero-padded to `width` digits: `7.padded(2) == "07"`.
    public func padded(_ width: Int, radix: Int = 10, uppercase: Bool = false) -> String {
        let digits = String(self, radix: radix, uppercase: uppercase)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
