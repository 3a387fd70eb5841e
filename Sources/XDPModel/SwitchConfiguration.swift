import Foundation
import Yams
import XDPDatapath
import XDPPacket

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
    /// The bridges, ports, flows, routers, DHCP responders, tunnels and conntrack: all
    /// but the security groups, which `securityGroups` holds beside it. Build from the
    /// whole configuration (`makeDatapath(pool:)`, `AFXDPEngine(configuration:options:)`) to
    /// keep them.
    public var datapath: DatapathConfiguration
    /// Security groups and the ports they filter (`security_groups:` and `ports:`;
    /// docs/security-groups.md), installed as flows when the datapath is made.
    public var securityGroups: SecurityGroupConfiguration?
    /// Where it was read from.
    public var file: String
    /// Line of each bridge and port by name, and of each of their keys by `name.key`,
    /// so errors found later (when the datapath is built) still point into the file.
    var lines: [String: Int] = [:]

    /// A configuration of `datapath` without security groups (set `securityGroups` to
    /// add them); `file` names it in errors.
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
        let top = try YAMLNode(node: root, path: "", file: file).mapping(allowed: ["bridges", "underlay", "conntrack", "security_groups", "ports", "routers", "dhcp"])
        guard let bridges = top["bridges"] else {
            throw ConfigurationError(file: file, line: 1, key: "bridges", message: "missing: a configuration lists its bridges")
        }
        for bridge in try bridges.sequence() {
            config.datapath.bridges.append(try config.readBridge(bridge))
        }
        if let underlay = top["underlay"] { config.datapath.underlay = try config.readUnderlay(underlay) }
        if let conntrack = top["conntrack"] { config.datapath.conntrack = try Self.readConntrack(conntrack) }
        for router in try top["routers"]?.sequence() ?? [] {
            config.datapath.routers.append(try config.readRouter(router))
        }
        for (i, entry) in try (top["dhcp"]?.sequence() ?? []).enumerated() {
            config.datapath.dhcp.append(try config.readDHCP(entry, index: i))
        }
        if top["security_groups"] != nil || top["ports"] != nil {
            config.securityGroups = try config.readSecurityGroups(groups: top["security_groups"], ports: top["ports"])
        }
        try config.checkTunnels()
        try config.check()
        return config
    }

    private mutating func readBridge(_ node: YAMLNode) throws(ConfigurationError) -> BridgeConfiguration {
        let keys = try node.mapping(allowed: ["name", "ports", "mac_aging_time", "mac_table_size", "flows"])
        guard let nameNode = keys["name"] else { throw node.error("missing", key: "name") }
        var bridge = BridgeConfiguration(name: try nameNode.string())
        lines[bridge.name] = node.line
        lines["\(bridge.name).name"] = nameNode.line
        if let n = keys["mac_aging_time"] { bridge.macAging = .seconds(try n.integer(in: 1...1_000_000)) }
        if let n = keys["mac_table_size"] { bridge.macTableSize = try n.integer(in: 16...(1 << 24)) }
        for port in try keys["ports"]?.sequence() ?? [] {
            bridge.ports.append(try readPort(port))
        }
        for flow in try keys["flows"]?.sequence() ?? [] {
            lines["\(bridge.name).flows[\(bridge.flows.count)]"] = flow.line
            bridge.flows.append(try flow.string())
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
        let options = try keys["options"]?.mapping(allowed: ["peer", "remote_ip", "local_ip", "key", "dst_port", "network"]) ?? [:]
        for (key, value) in options { lines["\(name).options.\(key)"] = value.line }
        switch try keys["type"]?.string() ?? "system" {
        case "system": port.type = .system
        case "internal": port.type = .internal
        case "patch":
            guard let peer = options["peer"] else { throw node.error("a patch port needs options: {peer: NAME}", key: "options.peer") }
            port.type = .patch(peer: try peer.string())
        case "gre":
            port.type = .gre(try readGREOptions(options, port: node))
        case "vxlan":
            port.type = .vxlan(try readVXLANOptions(options, port: node))
        case "router":
            port.type = .router
        case "dhcp":
            guard let network = options["network"] else { throw node.error("a dhcp port needs options: {network: NAME}", key: "options.network") }
            port.type = .dhcp(network: try network.string())
        case let other:
            throw keys["type"]!.error("unknown port type \"\(other)\" (expected system, internal, patch, gre, vxlan, router or dhcp)")
        }
        if case .dhcp = port.type {} else if let network = options["network"] {
            throw network.error("options.network is only for type: dhcp")
        }
        if case .patch = port.type {} else if let peer = options["peer"] {
            throw peer.error("options.peer is only for type: patch")
        }
        switch port.type {
        case .gre:
            if let port = options["dst_port"] { throw port.error("only for type: vxlan") }
        case .vxlan: break
        default:
            if let first = ["remote_ip", "local_ip", "key"].compactMap({ options[$0] }).first {
                throw first.error("only for type: gre or vxlan")
            }
            if let port = options["dst_port"] { throw port.error("only for type: vxlan") }
        }
        return port
    }

    private func readGREOptions(_ options: [String: YAMLNode], port: YAMLNode) throws(ConfigurationError) -> GREOptions {
        guard let remote = options["remote_ip"] else { throw port.error("a gre port needs options: {remote_ip: A.B.C.D}", key: "options.remote_ip") }
        var gre = GREOptions(remoteIP: try remote.ipv4())
        if let local = options["local_ip"] { gre.localIP = try local.ipv4() }
        if let key = options["key"] {
            let text = try key.string()
            if text == "flow" {
                gre.key = .flow
            } else {
                gre.key = .fixed(UInt32(try key.integer(in: 0...Int(UInt32.max))))
            }
        }
        return gre
    }

    /// A vxlan port's options: `remote_ip` (required), `local_ip`, `key` (`flow` or a VNI,
    /// 24 bits), `dst_port` (the UDP port, 4789 when absent).
    private func readVXLANOptions(_ options: [String: YAMLNode], port: YAMLNode) throws(ConfigurationError) -> VXLANOptions {
        guard let remote = options["remote_ip"] else { throw port.error("a vxlan port needs options: {remote_ip: A.B.C.D}", key: "options.remote_ip") }
        var vxlan = VXLANOptions(remoteIP: try remote.ipv4())
        if let local = options["local_ip"] { vxlan.localIP = try local.ipv4() }
        if let key = options["key"] {
            if try key.string() == "flow" {
                vxlan.key = .flow
            } else {
                vxlan.key = .fixed(UInt32(try key.integer(in: 0...Int(VXLANHeader.maximumVNI))))
            }
        }
        if let port = options["dst_port"] { vxlan.destinationPort = UInt16(try port.integer(in: 1...65535)) }
        return vxlan
    }

    private mutating func readUnderlay(_ node: YAMLNode) throws(ConfigurationError) -> UnderlayConfiguration {
        let keys = try node.mapping(allowed: ["interface", "address", "mac", "gateway", "mtu", "neighbours",
                                               "pending_limit", "neighbour_capacity"])
        guard let interface = keys["interface"] else { throw node.error("missing", key: "interface") }
        guard let addressNode = keys["address"] else { throw node.error("missing (A.B.C.D/LEN)", key: "address") }
        let text = try addressNode.string()
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let length = Int(parts[1]), (1...32).contains(length) else {
            throw addressNode.error("expected our address with the subnet's prefix length, A.B.C.D/LEN, found \"\(text)\"")
        }
        var underlay = UnderlayConfiguration(interface: try interface.string(), address: address, prefixLength: length)
        lines[underlay.interface] = interface.line
        if let mac = keys["mac"] { underlay.mac = try mac.mac() }
        if let gateway = keys["gateway"] {
            let address = try gateway.ipv4()
            guard address != underlay.address, IPv4Prefix(underlay.address, length: length)?.contains(address) == true else {
                throw gateway.error("the gateway must be another address of the underlay subnet \(underlay.subnet.map { "\($0)" } ?? "")")
            }
            underlay.gateway = address
        }
        if let mtu = keys["mtu"] { underlay.mtu = try mtu.integer(in: 576...9000) }
        if let limit = keys["pending_limit"] { underlay.pendingLimit = try limit.integer(in: 0...4096) }
        if let n = keys["neighbour_capacity"] { underlay.neighbourCapacity = try n.integer(in: 1...1_048_576) }
        for entry in try keys["neighbours"]?.sequence() ?? [] {
            let pair = try entry.mapping(allowed: ["ip", "mac"])
            guard let ip = pair["ip"], let mac = pair["mac"] else { throw entry.error("a neighbour is {ip: A.B.C.D, mac: MAC}") }
            underlay.neighbours[try ip.ipv4()] = try mac.mac()
        }
        return underlay
    }

    /// A gre or vxlan port's `local_ip`, when given, must be the underlay's address: the datapath
    /// owns exactly one underlay address (it answers ARP for it and accepts GRE sent to it).
    private func checkTunnels() throws(ConfigurationError) {
        for bridge in datapath.bridges {
            for port in bridge.ports {
                let localIP: IPv4Address?
                switch port.type {
                case .gre(let options): localIP = options.localIP
                case .vxlan(let options): localIP = options.localIP
                default: localIP = nil
                }
                guard let local = localIP, let underlay = datapath.underlay, local != underlay.address else { continue }
                throw ConfigurationError(file: file, line: lines["\(port.name).options.local_ip"] ?? lines[port.name] ?? 0,
                                         key: "\(port.name).options.local_ip",
                                         message: "local_ip \(local) is not the underlay address \(underlay.address)")
            }
        }
    }

    /// Runs the datapath's own checks (duplicates, patch peers, VLAN rules) and maps
    /// a refusal back to the line it came from.
    private func check() throws(ConfigurationError) {
        let built: Datapath
        do {
            built = try Datapath(configuration: datapath, pool: FramePool(frameCount: 1, frameSize: 256, headroom: 0), now: .zero)
        } catch {
            throw located(error)
        }
        try checkSecurityGroups(built)
    }

    /// `error`, which the datapath raised while building this configuration, as a
    /// `ConfigurationError` pointing at the line of the file it came from.
    public func located(_ error: DatapathConfigurationError) -> ConfigurationError {
        let line = lines["\(error.subject).\(error.key)"] ?? lines[error.subject] ?? 0
        return ConfigurationError(file: file, line: line, key: "\(error.subject).\(error.key)", message: error.message)
    }

    /// Builds the datapath this configuration describes over `pool`: bridges, ports,
    /// flows, routers, DHCP, tunnels, conntrack and the security groups' flows (which
    /// `Datapath(configuration: datapath, pool:)` alone would leave out). `succession`:
    /// the routers and DHCP responders of the datapath this one replaces that it reuses
    /// (`AFXDPEngine.reconfigure`).
    /// `now`: the time the datapath is built at, on the clock its user passes to every
    /// call (`DatapathInstant.now()` for an engine's).
    public func makeDatapath(pool: FramePool, txQueueCapacity: Int = 256, now: DatapathInstant,
                             succeeding succession: DatapathSuccession? = nil) throws(ConfigurationError) -> Datapath {
        let built: Datapath
        do {
            built = try Datapath(configuration: datapath, pool: pool, txQueueCapacity: txQueueCapacity, now: now, succeeding: succession)
        } catch {
            throw located(error)
        }
        try applySecurityGroups(built, now: now)
        return built
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
