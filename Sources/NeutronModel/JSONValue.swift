import Foundation

/// A JSON value as the Networking API sends and stores it: resources are dictionaries of these,
/// described field by field by their ``ResourceSchema``.
///
/// Integers and floating-point numbers are kept apart so that `"mtu": 1450` stays an integer and
/// a wrong type (`"mtu": 1.5`) can be refused with Neutron's message.
public enum JSONValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value as Neutron prints it in a message (`'abc'`, `1450`, `True`).
    public var description: String {
        switch self {
        case .null: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let value): return value
        case .array, .object: return (try? JSONValue.encodeText(self)) ?? "?"
        }
    }

    public var string: String? { if case .string(let value) = self { return value }; return nil }
    public var int: Int? { if case .int(let value) = self { return value }; return nil }
    public var bool: Bool? { if case .bool(let value) = self { return value }; return nil }
    public var array: [JSONValue]? { if case .array(let value) = self { return value }; return nil }
    public var object: [String: JSONValue]? { if case .object(let value) = self { return value }; return nil }
    public var isNull: Bool { self == .null }
}

/// One resource of the model (a network, a port, …) with Neutron's field names.
public typealias Resource = [String: JSONValue]

extension Dictionary where Key == String, Value == JSONValue {
    /// The field as a string, or nil when absent or null.
    public func text(_ key: String) -> String? { self[key]?.string }
    /// The resource's `id`.
    public var id: String { self["id"]?.string ?? "" }
}
