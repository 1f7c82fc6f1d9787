#if canImport(Glibc)
import Glibc
#endif

/// Standard error as a `print(_:to:)` target: each write is one write(2).
public struct StandardError: TextOutputStream {
    public init() {}

    public mutating func write(_ string: String) {
        var text = string
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
