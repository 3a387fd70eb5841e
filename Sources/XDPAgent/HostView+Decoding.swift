import Foundation

extension HostView {
    /// The largest document the agent reads (64 MiB: a node of 100,000 ports fits several times over).
    public static let maximumDocumentSize = 64 << 20

    /// Reads a host view from JSON: the format version first (a document of another
    /// version is refused before its shape is looked at), then the document, then
    /// `validate()`. Every refusal is an `AgentError` naming the field.
    public static func decode(json data: Data) throws(AgentError) -> HostView {
        guard data.count <= maximumDocumentSize else {
            throw AgentError("", "the document has \(data.count) bytes, more than the \(maximumDocumentSize) a host view may have")
        }
        struct Envelope: Decodable {
            var formatVersion: Int?
            enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
        }
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: data)
        } catch {
            throw describe(error)
        }
        guard let version = envelope.formatVersion else {
            throw AgentError("format_version", "missing: a host view says which format it follows (this agent reads \(currentFormatVersion))")
        }
        guard version == currentFormatVersion else {
            throw AgentError("format_version", "unknown format version \(version) (this agent reads \(currentFormatVersion))")
        }
        let view: HostView
        do {
            view = try JSONDecoder().decode(HostView.self, from: data)
        } catch {
            throw describe(error)
        }
        try view.validate()
        return view
    }

    /// The view as JSON, keys sorted (what a producer may write, byte for byte).
    public func encodedJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and arrays cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    /// A decoding error as a path and a sentence.
    static func describe(_ error: any Error) -> AgentError {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue { out += "[\(index)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return out
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return AgentError(path(context.codingPath + [key]), "missing")
        case DecodingError.typeMismatch(let type, let context):
            return AgentError(path(context.codingPath), "expected \(typeName(type))")
        case DecodingError.valueNotFound(let type, let context):
            return AgentError(path(context.codingPath), "expected \(typeName(type)), found null")
        case DecodingError.dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return AgentError("", "not valid JSON" + (underlying.map { ": \($0)" } ?? ""))
            }
            return AgentError(path(context.codingPath), context.debugDescription)
        default:
            return AgentError("", "not a host view: \(error)")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is UInt64.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "a list"
        default: "\(type)".contains("Array") ? "a list" : "an object"
        }
    }
}
