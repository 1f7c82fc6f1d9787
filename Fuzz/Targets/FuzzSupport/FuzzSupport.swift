import Foundation

/// What the fuzz targets share: their input as bytes, a way to wait for async
/// product code from libFuzzer's synchronous callback, and an oracle failure.
public enum FuzzInput {
    /// libFuzzer's input as an array.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Splits `bytes` at each occurrence of `separator` (kept out of the parts).
    public static func split(_ bytes: [UInt8], separator: [UInt8], maxParts: Int = .max) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0
        var i = 0
        while i + separator.count <= bytes.count, parts.count + 1 < maxParts {
            if bytes[i..<i + separator.count].elementsEqual(separator) {
                parts.append(Array(bytes[start..<i]))
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Array(bytes[start...]))
        return parts
    }

    /// The first line (without its newline) and the rest.
    public static func firstLine(_ bytes: [UInt8]) -> (line: [UInt8], rest: [UInt8]) {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return (bytes, []) }
        return (Array(bytes[..<newline]), Array(bytes[(newline + 1)...]))
    }
}

/// A property the product must keep was broken: a crash libFuzzer records with its input.
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition() {
        FileHandle.standardError.write(Data("fuzz property failed at \(file):\(line): \(message())\n".utf8))
        abort()
    }
}

/// Runs async product code to its end from libFuzzer's synchronous callback.
public func fuzzWait<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task.detached {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

/// Written by one task before it signals, read after the wait.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
