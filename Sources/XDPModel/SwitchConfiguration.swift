import Foundation
import Yams
import XDPDatapath

/// The contents of an `xdpswitch` configuration file: bridges and ports in the
/// vocabulary of `ovs-vsctl` (see docs/configuration.md).
///
/// ```yaml
/// bridges:
///   - name: br-int
///     ports:
///       - {name: qvo-test0, tag: 1}
///       - {name: int-br-eth1, trunks: [1, 2]}
///       - {name: patch-tun, type: patch, options: {peer: patch-int}}
/// ```
///
/// Every mistake — unknown keys, duplicate names, a patch whose peer is missing, VLAN
/// ids outside 1-4094 — is a `ConfigurationError` naming the file, line and key.
public struct SwitchConfiguration: Sendable {
    /// The bridges and ports.
    public var datapath: DatapathConfiguration
    /// Where it was read from.
    public var file: String
    /// Line of each bridge and port by name, and of each of their keys by `name.key`,
    /// so errors found later (when the datapath is built) still point into the file.
    var lines: [String: Int] = [:]

    public init(datapath: DatapathConfiguration, file: String = "<api>") {
        self.datapath = datapath
        self.file = file
    }

    /// Reads and checks the file at `path`.
    public static func load(path: String) throws(ConfigurationError) -> SwitchConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? "cannot read the file"
            throw ConfigurationError(file: path, line: 0, key: "file", message: reason)
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses and checks a YAML document; `file` names it in errors.
    public static func parse(yaml: String, file: String = "<config>") throws(ConfigurationError) -> SwitchConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw Self.syntaxError(error, file: file)
        } catch {
            throw ConfigurationError(file: file, line: 0, key: "yaml", message: "\(error)")
        }
        guard let root else { throw ConfigurationError(file: file, line: 0, key: "bridges", message: "the file is empty") }
        var config = SwitchConfiguration(datapath: DatapathConfiguration(), file: file)
        let top = try YAMLNode(node: root, path: "", file: file).mapping(allowed: ["bridges"])
        guard let bridges = top["bridges"] else {
            throw ConfigurationError(file: file, line: 1, key: "bridges", message: "missing: a configuration lists its bridges")
        }
        for bridge in try bridges.sequence() {
            config.datapath.bridges.append(try config.readBridge(bridge))
        }
        try config.check()
        return config
    }

    private mutating func readBridge(_ node: YAMLNode) throws(ConfigurationError) -> BridgeConfiguration {
        let keys = try node.mapping(allowed: ["name", "ports", "mac_aging_time", "mac_table_size"])
        guard let nameNode = keys["name"] else { throw node.error("missing", key: "name") }
        var bridge = BridgeConfiguration(name: try nameNode.string())
        lines[bridge.name] = node.line
        lines["\(bridge.name).name"] = nameNode.line
        if let n = keys["mac_aging_time"] { bridge.macAgingSeconds = UInt64(try n.integer(in: 1...1_000_000)) }
        if let n = keys["mac_table_size"] { bridge.macTableSize = try n.integer(in: 16...(1 << 24)) }
        for port in try keys["ports"]?.sequence() ?? [] {
            bridge.ports.append(try readPort(port))
        }
        return bridge
    }

    private mutating func readPort(_ node: YAMLNode) throws(ConfigurationError) -> PortConfiguration {
        let keys = try node.mapping(allowed: ["name", "type", "ofport", "tag", "trunks", "options"])
        guard let nameNode = keys["name"] else { throw node.error("missing", key: "name") }
        let name = try nameNode.string()
        lines[name] = node.line
        for (key, value) in keys { lines["\(name).\(key)"] = value.line }
        var port = PortConfiguration(name: name)
        if let n = keys["ofport"] { port.ofport = try n.integer(in: 1...0xFEFF) }
        if let n = keys["tag"] { port.tag = UInt16(try n.integer(in: 1...4094)) }
        if let n = keys["trunks"] {
            var trunks: [UInt16] = []
            for item in try n.sequence() { trunks.append(UInt16(try item.integer(in: 0...4094))) }
            port.trunks = trunks
        }
        let options = try keys["options"]?.mapping(allowed: ["peer"]) ?? [:]
        for (key, value) in options { lines["\(name).options.\(key)"] = value.line }
        switch try keys["type"]?.string() ?? "system" {
        case "system": port.type = .system
        case "internal": port.type = .internal
        case "patch":
            guard let peer = options["peer"] else { throw node.error("a patch port needs options: {peer: NAME}", key: "options.peer") }
            port.type = .patch(peer: try peer.string())
        case let other:
            throw keys["type"]!.error("unknown port type \"\(other)\" (expected system, internal or patch)")
        }
        if case .patch = port.type {} else if let peer = options["peer"] {
            throw peer.error("options.peer is only for type: patch")
        }
        return port
    }

    /// Runs the datapath's own checks (duplicates, patch peers, VLAN rules) and maps
    /// a refusal back to the line it came from.
    private func check() throws(ConfigurationError) {
        do {
            _ = try Datapath(configuration: datapath, pool: FramePool(frameCount: 1, frameSize: 256, headroom: 0))
        } catch {
            throw located(error)
        }
    }

    func located(_ error: DatapathConfigurationError) -> ConfigurationError {
        let line = lines["\(error.subject).\(error.key)"] ?? lines[error.subject] ?? 0
        return ConfigurationError(file: file, line: line, key: "\(error.subject).\(error.key)", message: error.message)
    }

    /// Builds the datapath this configuration describes over `pool`.
    public func makeDatapath(pool: FramePool, txQueueCapacity: Int = 256) throws(ConfigurationError) -> Datapath {
        do {
            return try Datapath(configuration: datapath, pool: pool, txQueueCapacity: txQueueCapacity)
        } catch {
            throw located(error)
        }
    }

    private static func syntaxError(_ error: YamlError, file: String) -> ConfigurationError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return ConfigurationError(file: file, line: mark.line, key: "yaml", message: problem)
        default:
            return ConfigurationError(file: file, line: 0, key: "yaml", message: "\(error)")
        }
    }
}
