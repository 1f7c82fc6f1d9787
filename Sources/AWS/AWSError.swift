import Glibc
import NIOCore
import NIOPosix

/// The one error type of the AWS layer. `code` is AWS's own error code where AWS
/// answered (`InvalidVolume.NotFound`, `VolumeInUse`, `RequestLimitExceeded`, …),
/// or one of ours (`Transport`, `MalformedResponse`, `NoCredentials`, `Timeout`).
public struct AWSError: Error, CustomStringConvertible, Sendable {
    public var code: String
    public var message: String
    /// The service and action that failed, e.g. "ec2" and "AttachVolume".
    public var service: String
    public var action: String
    public var statusCode: Int?
    public var requestID: String?
    public var cause: (any Error)?

    public init(
        code: String, message: String, service: String = "", action: String = "", statusCode: Int? = nil, requestID: String? = nil,
        cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.service = service
        self.action = action
        self.statusCode = statusCode
        self.requestID = requestID
        self.cause = cause
    }

    public static let throttlingCodes: Set<String> = [
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
        "RequestThrottledException", "TooManyRequestsException", "SlowDown", "EC2ThrottledException", "PriorRequestNotComplete",
    ]
    static let serverCodes: Set<String> = ["InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "InternalServerError"]

    public var isThrottling: Bool { Self.throttlingCodes.contains(code) }

    /// AWS refused the request's credentials as expired (temporary credentials
    /// rotate; EC2 says RequestExpired, STS-style services ExpiredToken).
    public static let expiredCodes: Set<String> = ["RequestExpired", "ExpiredToken", "ExpiredTokenException"]

    public var isExpiredCredentials: Bool { Self.expiredCodes.contains(code) }

    /// Throttling, server errors, expired credentials (renewed first) and failures
    /// to get an answer at all are worth another try; an error about the request
    /// itself never is.
    public var isRetryable: Bool {
        if isThrottling || isExpiredCredentials || Self.serverCodes.contains(code) || code == "Transport" || code == "Timeout" { return true }
        if let statusCode, statusCode >= 500 { return code != "MalformedResponse" }
        return false
    }

    /// The connection was refused: nothing listens at that address (no EC2
    /// instance there, or a wrong endpoint), which waiting does not mend.
    public var isConnectionRefused: Bool {
        switch cause {
        case let error as IOError: error.errnoCode == ECONNREFUSED
        case let error as NIOConnectionError:
            !error.connectionErrors.isEmpty && error.connectionErrors.allSatisfy { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
        default: false
        }
    }

    public var description: String {
        var text = "\(service) \(action): \(code): \(message)"
        if let requestID { text += " (request \(requestID))" }
        if let cause { text += ": \(cause)" }
        return text
    }
}
