import FoundationEssentials

/// Turns an error reply into an AWSError keeping AWS's code and message.
enum ErrorDecoder {
    static func decode(_ response: AWSResponse, protocol wireProtocol: AWSRequest.WireProtocol, service: String, action: String) -> AWSError {
        var error = AWSError(
            code: "HTTP\(response.status)", message: "HTTP status \(response.status)", service: service, action: action,
            statusCode: response.status)
        switch wireProtocol {
        case .ec2Query:
            // <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
            if let tree = XMLTree.parse(response.body), let first = tree.find("Error") {
                if let code = first.string("Code"), !code.isEmpty { error.code = code }
                if let message = first.string("Message") { error.message = message }
                error.requestID = tree.find("RequestID")?.text ?? tree.find("RequestId")?.text
            } else if response.status < 500 {
                error.code = "MalformedResponse"
                error.message = "HTTP \(response.status) with a body that is not EC2 error XML"
            }
        case .restJSON, .json:
            // The type is in X-Amzn-ErrorType ("Code:http://…"), else in the body's
            // ErrorCode or __type ("prefix#Code"); the message in Message or message.
            let body = try? JSONDecoder().decode(RestJSONError.self, from: Data(response.body))
            let header = response.header("X-Amzn-ErrorType")?.split(separator: ":").first.map(String.init)
            let bodyType = body?.errorCode ?? body?.type?.split(separator: "#").last.map(String.init)
            if let code = header ?? bodyType, !code.isEmpty { error.code = code }
            if let message = body?.message { error.message = message }
            error.requestID = response.header("x-amzn-RequestId")
        }
        return error
    }
}

/// The fields of a REST-JSON error body; each one that is not a string is absent.
private struct RestJSONError: Decodable {
    var errorCode: String?
    var type: String?
    var message: String?

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: Key.self)
        func string(_ name: String) -> String? { try? object.decodeIfPresent(String.self, forKey: Key(stringValue: name)) }
        errorCode = string("ErrorCode")
        type = string("__type")
        message = string("Message") ?? string("message")
    }
}
