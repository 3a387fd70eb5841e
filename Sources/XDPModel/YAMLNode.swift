import Yams
import XDPPacket

/// A YAML node with its place in the document, for readers that must name the file,
/// line and key of every mistake. Mappings are checked against the keys a reader
/// knows, so a misspelt key is an error rather than silently ignored.
struct YAMLNode {
    let node: Node
    /// Key path from the document root, e.g. `bridges[0].ports[1]`.
    let path: String
    let file: String

    var line: Int { node.mark?.line ?? 0 }

    func error(_ message: String, key: String? = nil) -> ConfigurationError {
        ConfigurationError(file: file, line: line, key: key.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? path, message: message)
    }

    /// The entries of a mapping, refusing keys outside `allowed` and duplicates.
    func mapping(allowed: Set<String>) throws(ConfigurationError) -> [String: YAMLNode] {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping (key: value)") }
        var out: [String: YAMLNode] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error("keys must be strings") }
            let child = YAMLNode(node: value, path: path.isEmpty ? key : "\(path).\(key)", file: file)
            let keyAt = YAMLNode(node: keyNode, path: child.path, file: file)
            guard allowed.contains(key) else {
                throw keyAt.error("unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard out[key] == nil else { throw keyAt.error("duplicate key") }
            out[key] = child
        }
        return out
    }

    func sequence() throws(ConfigurationError) -> [YAMLNode] {
        guard case .sequence(let sequence) = node else { throw error("expected a list") }
        return sequence.enumerated().map { YAMLNode(node: $1, path: "\(path)[\($0)]", file: file) }
    }

    func string() throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a string") }
        return scalar.string
    }

    func integer(in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard case .scalar(let scalar) = node else { throw error("expected a number") }
        let text = scalar.string
        let value = text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text)
        guard let value else { throw error("expected a number, found \"\(text)\"") }
        guard range.contains(value) else { throw error("\(value) is outside \(range.lowerBound)-\(range.upperBound)") }
        return value
    }

    func boolean() throws(ConfigurationError) -> Bool {
        let text = try string()
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, found \"\(text)\"")
        }
    }

    func ipv4() throws(ConfigurationError) -> IPv4Address {
        let text = try string()
        guard let address = IPv4Address(text) else { throw error("expected an IPv4 address, found \"\(text)\"") }
        return address
    }

    func mac() throws(ConfigurationError) -> MACAddress {
        let text = try string()
        guard let mac = MACAddress(text) else { throw error("expected a MAC address, found \"\(text)\"") }
        return mac
    }
}
