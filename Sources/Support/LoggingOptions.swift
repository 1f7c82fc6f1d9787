import ArgumentParser
import FoundationEssentials
import Logging

/// `--log-level` and `--log-format`, shared by the daemon and the shim.
public struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (env CLOUDSTOR_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(help: "text or json (env CLOUDSTOR_LOG_FORMAT; default text).")
    var logFormat: String?

    public init() {}

    /// Bootstraps swift-log for the process (only `main` calls this) and returns its logger.
    public func bootstrap(label: String) throws -> Logger {
        let level = try Setting.choice(Setting.pick(logLevel, "CLOUDSTOR_LOG_LEVEL") ?? "info", of: Logger.Level.self, option: "--log-level")
        let format = try Setting.choice(Setting.pick(logFormat, "CLOUDSTOR_LOG_FORMAT") ?? "text", of: LogFormat.self, option: "--log-format")
        format.bootstrap(level: level)
        return Logger(label: label)
    }
}

/// How the executables read a setting: the flag wins, then the environment variable.
public enum Setting {
    public static func pick(_ flag: String?, _ variable: String) -> String? {
        flag ?? ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Parses one of a fixed set of words, or explains which words are allowed.
    public static func choice<T: RawRepresentable & CaseIterable>(_ text: String, of _: T.Type, option: String) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw ValidationError("\(option) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \(text)")
        }
        return value
    }

    /// A duration: seconds ("90", "0.5") or with a unit ("500ms", "30s", "5m", "1h").
    public static func duration(_ text: String, option: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = String(text.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let value = Double(number), value >= 0, value.isFinite, value * scale <= 31_536_000 else {
            throw ValidationError("\(option) must be a duration such as 90, 0.5, 500ms, 30s, 5m or 1h, not \(text)")
        }
        return .milliseconds(Int64((value * scale * 1000).rounded()))
    }
}
