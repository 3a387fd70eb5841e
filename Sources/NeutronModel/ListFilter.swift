/// One `FIELD=VALUE` filter of a list request, matched as Neutron matches it: the value is
/// converted to the field's type first (`router:external=True` matches `true`), a field given
/// several times matches any of its values, `fixed_ips=ip_address=…` / `fixed_ips=subnet_id=…`
/// match one of a port's addresses, and `tags`, `tags-any`, `not-tags`, `not-tags-any` take
/// comma-separated tags. Paging and sorting parameters are accepted and ignored (every list is
/// whole, ordered by id); a parameter that names no field is ignored.
struct ListFilter {
    let name: String
    let values: [String]
    let attribute: Attribute?

    static let ignored: Set<String> = ["fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"]
    static let tagFilters: Set<String> = ["tags", "tags-any", "not-tags", "not-tags-any"]

    static func parse(_ kind: ResourceKind, _ query: [(String, String)]) throws -> [ListFilter] {
        let attributes = Dictionary(uniqueKeysWithValues: kind.attributes.map { ($0.name, $0) })
        var grouped: [(String, [String])] = []
        for (name, value) in query where !ignored.contains(name) {
            guard attributes[name] != nil || tagFilters.contains(name) else { continue }
            if let index = grouped.firstIndex(where: { $0.0 == name }) { grouped[index].1.append(value) }
            else { grouped.append((name, [value])) }
        }
        return try grouped.map { name, values in
            let attribute = attributes[name]
            // Refuse a value the field could never hold, as Neutron's filter validation does.
            if let attribute, case .bool = attribute.type { for value in values { _ = try RequestValidation.boolean(.string(value)) } }
            return ListFilter(name: name, values: values, attribute: attribute)
        }
    }

    func matches(_ resource: Resource) -> Bool {
        if ListFilter.tagFilters.contains(name) {
            let tags = Set(resource["tags"]?.array?.compactMap(\.string) ?? [])
            let wanted = values.flatMap { $0.split(separator: ",").map(String.init) }
            switch name {
            case "tags": return wanted.allSatisfy(tags.contains)
            case "tags-any": return wanted.contains(where: tags.contains)
            case "not-tags": return !wanted.allSatisfy(tags.contains)
            default: return !wanted.contains(where: tags.contains)
            }
        }
        let field = resource[name] ?? .null
        return values.contains { value in Self.matches(field, value, attribute) }
    }

    static func matches(_ field: JSONValue, _ value: String, _ attribute: Attribute?) -> Bool {
        switch field {
        case .null: return value.isEmpty || value == "None"
        case .bool(let flag): return (try? RequestValidation.boolean(.string(value))) == flag
        case .int(let number): return Int(value) == number
        case .string(let text): return text == value
        case .array(let items):
            // fixed_ips=ip_address=10.0.0.5 / fixed_ips=subnet_id=…; security_groups=ID.
            if let equals = value.firstIndex(of: "=") {
                let key = String(value[..<equals]), wanted = String(value[value.index(after: equals)...])
                return items.contains { $0.object?[key]?.string == wanted }
            }
            return items.contains { $0.string == value }
        default: return false
        }
    }
}
