import CloudstorAWS
import CloudstorService

/// The one mapping from AWS's errors to the daemon's: what AWS said, and what the
/// operator can do about it.
extension CloudstorError {
    init(_ error: AWSError, _ doing: String) {
        let code: CloudstorError.Code
        let advice: String
        switch error.code {
        case _ where error.isRetryable:
            code = .unavailable
            advice =
                error.isThrottling ? "EC2 is throttling this account; try again shortly"
                : error.isExpiredCredentials ? "AWS refused the daemon's credentials as expired, and new ones did not work yet; try again"
                : error.service == "imds" ? "the daemon cannot renew its AWS credentials (instance metadata does not answer); try again"
                : "AWS did not answer; try again"
        case "InvalidVolume.NotFound", "InvalidSnapshot.NotFound", "InvalidInstanceID.NotFound":
            code = .notFound
            advice = "it is gone from AWS"
        case "VolumeInUse", "IncorrectState", "InvalidAttachment.NotFound", "InvalidVolume.ZoneMismatch":
            code = .failedPrecondition
            advice = "its state in EC2 forbids this now; try again once it settles"
        case "IdempotentParameterMismatch":
            code = .alreadyExists
            advice = "another request made it with other options"
        case "AuthFailure", "UnauthorizedOperation", "NoCredentials", "InvalidClientTokenId", "SignatureDoesNotMatch",
            "MissingAuthenticationToken":
            code = .failedPrecondition
            advice = "check the daemon's AWS credentials and its IAM policy (README: IAM permissions)"
        case "VolumeLimitExceeded", "SnapshotLimitExceeded", "AttachmentLimitExceeded", "MaxIOPSLimitExceeded":
            code = .failedPrecondition
            advice = "an AWS limit of this account is reached; raise it or remove unused volumes"
        default:
            code = .internalError
            advice = "AWS refused it"
        }
        self.init(code, "\(doing): \(advice) (\(error.code): \(error.message))", cause: error)
    }
}
