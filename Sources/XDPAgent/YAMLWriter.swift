/// The node configuration's text, written the way docs/configuration.md shows it: block
/// lists of flow-style mappings. Strings are always double-quoted (JSON escapes are YAML
/// escapes), so no value — a MAC that YAML 1.1 would read as a sexagesimal number, a flow
/// with commas, an id like `on` — can change meaning; numbers and booleans are plain.
struct YAMLWriter {
    private(set) var text = ""

    /// A value already rendered as YAML.
    struct Value {
        let text: String
        static func string(_ s: String) -> Value { Value(text: quoted(s)) }
        static func int(_ n: some BinaryInteger) -> Value { Value(text: "\(n)") }
        static func bool(_ b: Bool) -> Value { Value(text: b ? "true" : "false") }
        static func list(_ items: [Value]) -> Value { Value(text: "[" + items.map(\.text).joined(separator: ", ") + "]") }
        static func strings(_ items: [String]) -> Value { list(items.map(string)) }
        /// A flow mapping; entries whose value is nil are left out.
        static func map(_ entries: KeyValuePairs<String, Value?>) -> Value {
            Value(text: "{" + entries.compactMap { k, v in v.map { "\(k): \($0.text)" } }.joined(separator: ", ") + "}")
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    mutating func line(_ indent: Int, _ content: String) {
        text += String(repeating: " ", count: indent) + content + "\n"
    }

    /// `key: value` at `indent`.
    mutating func field(_ indent: Int, _ key: String, _ value: Value) { line(indent, "\(key): \(value.text)") }

    /// `- value` at `indent`.
    mutating func item(_ indent: Int, _ value: Value) { line(indent, "- \(value.text)") }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
