import Foundation

/// Checks a create or update body against the resource's attributes the way Neutron's API layer
/// does (`neutron/api/v2/base.py`, `neutron_lib/api/attributes.py`): the resource key, unknown
/// fields, fields a POST or PUT may not set, required fields, and each value's type, converting
/// what the client sends as text (`"mtu": "1450"`, `"shared": "True"`) as Neutron's converters
/// do. Refusals carry Neutron's messages.
public enum RequestValidation {
    /// The resources a create body holds: `{"network": {…}}`, or `{"networks": [{…}, …]}` (bulk).
    public static func createBodies(_ kind: ResourceKind, _ body: JSONValue) throws -> (resources: [Resource], bulk: Bool) {
        guard let object = body.object, !object.isEmpty else { throw NeutronError.badRequest("Resource body required") }
        if let list = object[kind.plural], object.count == 1 {
            guard let items = list.array, !items.isEmpty else {
                throw NeutronError.badRequest("Resources required")
            }
            return (try items.map { item in
                guard let fields = item.object?[kind.singular]?.object ?? item.object else {
                    throw NeutronError.badRequest("Unable to find '\(kind.singular)' in request body")
                }
                return try checked(kind, fields, create: true)
            }, true)
        }
        return ([try resource(kind, object, create: true)], false)
    }

    /// The fields an update body sets: `{"network": {…}}`.
    public static func updateBody(_ kind: ResourceKind, _ body: JSONValue) throws -> Resource {
        guard let object = body.object, !object.isEmpty else { throw NeutronError.badRequest("Resource body required") }
        return try resource(kind, object, create: false)
    }

    private static func resource(_ kind: ResourceKind, _ object: [String: JSONValue], create: Bool) throws -> Resource {
        guard let value = object[kind.singular] else {
            throw NeutronError.badRequest("Unable to find '\(kind.singular)' in request body")
        }
        guard let fields = value.object else {
            throw NeutronError.badRequest("Invalid format: \(value)")
        }
        if object.count > 1 {
            let extra = object.keys.filter { $0 != kind.singular }.sorted().joined(separator: ", ")
            throw NeutronError.badRequest("Unrecognized attribute(s) '\(extra)'")
        }
        return try checked(kind, fields, create: create)
    }

    static func checked(_ kind: ResourceKind, _ fields: Resource, create: Bool) throws -> Resource {
        let attributes = Dictionary(uniqueKeysWithValues: kind.attributes.map { ($0.name, $0) })
        let unknown = fields.keys.filter { attributes[$0] == nil }.sorted()
        if !unknown.isEmpty {
            throw NeutronError.badRequest("Unrecognized attribute(s) '\(unknown.joined(separator: ", "))'")
        }
        var result = Resource()
        for (name, value) in fields {
            let attribute = attributes[name]!
            if create && !attribute.post { throw NeutronError.badRequest("Attribute '\(name)' not allowed in POST") }
            if !create && !attribute.put { throw NeutronError.badRequest("Cannot update read-only attribute \(name)") }
            result[name] = try converted(attribute, value)
        }
        if create {
            for attribute in kind.attributes where result[attribute.name] == nil {
                if attribute.required {
                    throw NeutronError.badRequest("Failed to parse request. Required attribute '\(attribute.name)' not specified")
                }
                if let value = attribute.defaultValue { result[attribute.name] = value }
            }
        }
        return result
    }

    /// One value converted to the attribute's type, or Neutron's refusal.
    static func converted(_ attribute: Attribute, _ value: JSONValue) throws -> JSONValue {
        let name = attribute.name
        if value.isNull {
            if attribute.nullable { return .null }
            switch attribute.type {
            case .string: throw NeutronError.invalidAttribute(name, "'None' is not a valid string")
            case .bool: throw NeutronError.invalidInput("'None' cannot be converted to boolean")
            case .int: throw NeutronError.invalidInput("'None' is not an integer")
            case .list: throw NeutronError.invalidAttribute(name, "'None' is not a list")
            case .dict: throw NeutronError.invalidAttribute(name, "'None' is not a dictionary")
            default: throw NeutronError.invalidAttribute(name, "'None' is not a valid value")
            }
        }
        switch attribute.type {
        case .string(let maxLength):
            guard let text = value.string else { throw NeutronError.invalidAttribute(name, "'\(value)' is not a valid string") }
            if text.count > maxLength { throw NeutronError.invalidAttribute(name, "'\(text)' exceeds maximum length of \(maxLength)") }
            return value
        case .uuid:
            guard let text = value.string, isUUID(text) else { throw NeutronError.invalidAttribute(name, "'\(value)' is not a valid UUID") }
            return value
        case .bool:
            return .bool(try boolean(value))
        case .int:
            return .int(try integer(value))
        case .list:
            guard value.array != nil else { throw NeutronError.invalidAttribute(name, "'\(value)' is not a list") }
            return value
        case .dict:
            guard value.object != nil else { throw NeutronError.invalidAttribute(name, "'\(value)' is not a dictionary") }
            return value
        case .ipAddress:
            guard let text = value.string, IPv4Address(text) != nil else {
                throw NeutronError.invalidAttribute(name, "'\(value)' is not a valid IP address")
            }
            return value
        case .cidr:
            guard let text = value.string, text.contains("/") || IPv4Address(text) != nil, IPv4Prefix(text) != nil else {
                throw NeutronError.invalidAttribute(name, "'\(value)' is not a valid IP subnet")
            }
            return value
        case .macAddress:
            guard let text = value.string, let mac = normalizedMAC(text) else {
                throw NeutronError.invalidAttribute(name, "'\(value)' is not a valid MAC address")
            }
            return .string(mac)
        case .oneOf(let values):
            guard let text = value.string, values.contains(text) else {
                throw NeutronError.invalidAttribute(name, "'\(value)' is not in \(values.map { "'\($0)'" })")
            }
            return value
        }
    }

    /// Neutron's `convert_to_boolean`: true/false, 0/1, and their spellings as text.
    public static func boolean(_ value: JSONValue) throws -> Bool {
        switch value {
        case .bool(let flag): return flag
        case .int(0): return false
        case .int(1): return true
        case .string(let text):
            switch text.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: break
            }
        default: break
        }
        throw NeutronError.invalidInput("'\(value)' cannot be converted to boolean")
    }

    /// Neutron's `convert_to_int`: integers, and integers written as text.
    public static func integer(_ value: JSONValue) throws -> Int {
        switch value {
        case .int(let number): return number
        case .string(let text):
            if let number = Int(text.trimmingCharacters(in: .whitespaces)) { return number }
        case .bool(let flag): return flag ? 1 : 0
        default: break
        }
        throw NeutronError.invalidInput("'\(value)' is not an integer")
    }

    public static func isUUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        if groups.count == 1 { return text.count == 32 && text.allSatisfy(\.isHexDigit) }
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    /// `aa:bb:cc:dd:ee:ff` in lower case, from colon or dash separated text; nil for anything else,
    /// and for multicast or all-zero addresses (not valid for a port).
    public static func normalizedMAC(_ text: String) -> String? {
        let octets = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == ":" || $0 == "-" })
        guard octets.count == 6, octets.allSatisfy({ (octet: Substring) in octet.count == 2 && octet.allSatisfy(\.isHexDigit) }) else { return nil }
        let bytes = octets.compactMap { UInt8($0, radix: 16) }
        guard bytes[0] & 1 == 0, bytes.contains(where: { $0 != 0 }) else { return nil }
        return octets.map { $0.lowercased() }.joined(separator: ":")
    }
}

