/// An error of the Networking API as Neutron reports it: an HTTP status and the body
/// `{"NeutronError": {"type": …, "message": …, "detail": ""}}`. The `type` is the name of
/// Neutron's exception class and `message` its text, so that clients print what they print
/// against Neutron. Throwing one inside a store transaction rolls the transaction back.
public struct NeutronError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let type: String
    public let message: String

    public init(status: Int, type: String, message: String) {
        self.status = status
        self.type = type
        self.message = message
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// The JSON body Neutron sends with this error.
    public var body: JSONValue {
        .object(["NeutronError": .object(["type": .string(type), "message": .string(message), "detail": .string("")])])
    }
}

// Neutron's exception classes (neutron_lib.exceptions, neutron.extensions.*), with their texts.
extension NeutronError {
    public static func badRequest(_ message: String) -> NeutronError {
        NeutronError(status: 400, type: "HTTPBadRequest", message: message)
    }
    /// `InvalidInput`: "Invalid input for operation: MESSAGE."
    public static func invalidInput(_ message: String) -> NeutronError {
        NeutronError(status: 400, type: "InvalidInput", message: "Invalid input for operation: \(message).")
    }
    /// `BadRequest(resource=, msg=)`: "Bad RESOURCE request: MESSAGE."
    public static func badResourceRequest(_ resource: String, _ message: String) -> NeutronError {
        NeutronError(status: 400, type: "BadRequest", message: "Bad \(resource) request: \(message).")
    }
    public static func notFound(_ type: String, _ message: String) -> NeutronError {
        NeutronError(status: 404, type: type, message: message)
    }
    public static func conflict(_ type: String, _ message: String) -> NeutronError {
        NeutronError(status: 409, type: type, message: message)
    }
    /// "Invalid input for FIELD. Reason: REASON." (the API layer's attribute validation).
    public static func invalidAttribute(_ field: String, _ reason: String) -> NeutronError {
        badRequest("Invalid input for \(field). Reason: \(reason).")
    }
    public static func malformedBody(_ reason: String) -> NeutronError {
        NeutronError(status: 400, type: "MalformedRequestBody", message: "Malformed request body: \(reason).")
    }
    public static func bodyTooLarge(limit: Int) -> NeutronError {
        NeutronError(status: 413, type: "RequestEntityTooLarge",
                     message: "Request is too large: the body is over \(limit) bytes.")
    }
}
