import XDPDatapath
import Yams
import XDPPacket

extension SwitchConfiguration {
    /// The `security_groups:` and `ports:` sections (docs/security-groups.md), with
    /// Neutron's field names:
    ///
    /// ```yaml
    /// security_groups:
    ///   - id: web                       # or just name:
    ///     rules:
    ///       - {direction: egress}       # ethertype IPv4, any protocol, anywhere
    ///       - {direction: ingress, protocol: tcp, port_range_min: 22, port_range_max: 22,
    ///          remote_ip_prefix: 0.0.0.0/0}
    ///       - {direction: ingress, protocol: icmp, remote_group_id: web}
    ///     members: [10.1.0.7]           # members bound elsewhere (other hosts)
    /// ports:
    ///   - name: qvo-vm1                 # the bridge port the VM is plugged into
    ///     mac_address: fa:16:3e:00:00:01
    ///     fixed_ips: [10.1.0.5]         # or [{ip_address: 10.1.0.5, subnet_id: ...}]
    ///     allowed_address_pairs: [{ip_address: 10.1.0.128/25, mac_address: fa:16:3e:00:00:99}]
    ///     port_security_enabled: true
    ///     security_groups: [web]
    ///     dhcp_servers: [10.1.0.3]      # or [{ip_address: 10.1.0.3, mac_address: ...}]
    /// ```
    mutating func readSecurityGroups(groups: YAMLNode?, ports: YAMLNode?) throws(ConfigurationError) -> SecurityGroupConfiguration {
        var sg = SecurityGroupConfiguration()
        for node in try groups?.sequence() ?? [] {
            let keys = try node.mapping(allowed: ["id", "name", "description", "rules", "members", "tenant_id", "project_id"])
            guard let idNode = keys["id"] ?? keys["name"] else { throw node.error("a security group needs an id or a name", key: "id") }
            var group = SecurityGroup(id: try idNode.string(), name: try keys["name"]?.string())
            lines["sg:\(group.id)"] = node.line
            for (n, ruleNode) in (try keys["rules"]?.sequence() ?? []).enumerated() {
                lines["sg:\(group.id).rules[\(n)]"] = ruleNode.line
                group.rules.append(try Self.readRule(ruleNode))
            }
            for item in try keys["members"]?.sequence() ?? [] { group.members.append(try Self.prefix(item, allowPrefix: true)) }
            sg.groups.append(group)
        }
        var bridgeOfPorts: String?
        for node in try ports?.sequence() ?? [] {
            let keys = try node.mapping(allowed: ["name", "id", "mac_address", "fixed_ips", "allowed_address_pairs",
                                                  "port_security_enabled", "security_groups", "dhcp_servers", "network_id",
                                                  "device_owner", "device_id"])
            guard let nameNode = keys["name"] else { throw node.error("missing: the bridge port the VM is plugged into", key: "name") }
            let name = try nameNode.string()
            guard let bridge = datapath.bridges.first(where: { $0.ports.contains { $0.name == name } }) else {
                throw nameNode.error("no bridge has a port \(name)")
            }
            if let other = bridgeOfPorts, other != bridge.name {
                throw nameNode.error("port \(name) is on \(bridge.name) but the other bound ports are on \(other): one firewall bridge")
            }
            bridgeOfPorts = bridge.name
            lines["port:\(name)"] = node.line
            guard let macNode = keys["mac_address"] else { throw node.error("missing", key: "mac_address") }
            var port = SecurityPort(name: name, mac: try macNode.mac())
            for item in try keys["fixed_ips"]?.sequence() ?? [] {
                port.fixedIPs.append(try Self.address(item, allowed: ["ip_address", "subnet_id"], prefix: false))
            }
            for item in try keys["allowed_address_pairs"]?.sequence() ?? [] {
                let pair = try item.mapping(allowed: ["ip_address", "mac_address"])
                guard let ip = pair["ip_address"] else { throw item.error("missing", key: "ip_address") }
                port.allowedAddressPairs.append(AllowedAddressPair(prefix: try Self.prefix(ip, allowPrefix: true),
                                                                   mac: try pair["mac_address"]?.mac()))
            }
            if let n = keys["port_security_enabled"] { port.portSecurityEnabled = try n.boolean() }
            for item in try keys["security_groups"]?.sequence() ?? [] { port.securityGroups.append(try item.string()) }
            for item in try keys["dhcp_servers"]?.sequence() ?? [] {
                if case .mapping = item.node {
                    let m = try item.mapping(allowed: ["ip_address", "mac_address"])
                    guard let ip = m["ip_address"] else { throw item.error("missing", key: "ip_address") }
                    port.dhcpServers.append(DHCPServer(address: try Self.prefix(ip, allowPrefix: false), mac: try m["mac_address"]?.mac()))
                } else {
                    port.dhcpServers.append(DHCPServer(address: try Self.prefix(item, allowPrefix: false)))
                }
            }
            sg.ports.append(port)
        }
        if let bridgeOfPorts { sg.bridge = bridgeOfPorts }
        return sg
    }

    private static func readRule(_ node: YAMLNode) throws(ConfigurationError) -> SecurityGroupRule {
        let keys = try node.mapping(allowed: ["id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
                                              "remote_ip_prefix", "remote_group_id", "description"])
        guard let directionNode = keys["direction"] else { throw node.error("missing (ingress or egress)", key: "direction") }
        guard let direction = SecurityGroupRule.Direction(rawValue: try directionNode.string().lowercased()) else {
            throw directionNode.error("expected ingress or egress")
        }
        var ethertype = SecurityGroupRule.EtherType.ipv4
        if let n = keys["ethertype"] {
            switch try n.string().lowercased() {
            case "ipv4": ethertype = .ipv4
            case "ipv6": ethertype = .ipv6
            case let other: throw n.error("expected IPv4 or IPv6, found \"\(other)\"")
            }
        }
        var proto: String?
        if let n = keys["protocol"], case .scalar(let scalar) = n.node, !SecurityGroupRule.isAnyProtocol(scalar.string) {
            proto = scalar.string
        }
        var prefix: AddressPrefix?
        if let n = keys["remote_ip_prefix"] { prefix = try Self.prefix(n, allowPrefix: true) }
        guard var rule = SecurityGroupRule(direction: direction, ethertype: ethertype, protocol: proto,
                                           portRangeMin: try keys["port_range_min"].map { n throws(ConfigurationError) in try n.integer(in: 0...65535) },
                                           portRangeMax: try keys["port_range_max"].map { n throws(ConfigurationError) in try n.integer(in: 0...65535) },
                                           remoteIPPrefix: prefix, remoteGroupID: try keys["remote_group_id"]?.string()) else {
            throw keys["protocol"]!.error("unknown protocol \"\(proto ?? "")\" (a name like tcp, udp, icmp, icmpv6, or 0-255)")
        }
        rule.id = try keys["id"]?.string()
        return rule
    }

    private static func address(_ node: YAMLNode, allowed: Set<String>, prefix: Bool) throws(ConfigurationError) -> AddressPrefix {
        if case .mapping = node.node {
            let m = try node.mapping(allowed: allowed)
            guard let ip = m["ip_address"] else { throw node.error("missing", key: "ip_address") }
            return try Self.prefix(ip, allowPrefix: prefix)
        }
        return try Self.prefix(node, allowPrefix: prefix)
    }

    private static func prefix(_ node: YAMLNode, allowPrefix: Bool) throws(ConfigurationError) -> AddressPrefix {
        let text = try node.string()
        guard let p = AddressPrefix(text), allowPrefix || !text.contains("/") else {
            throw node.error(allowPrefix ? "expected an IPv4 or IPv6 address or prefix, found \"\(text)\""
                                         : "expected an IPv4 or IPv6 address, found \"\(text)\"")
        }
        return p
    }

    /// Compiles the security groups against the datapath built from this configuration
    /// (unknown ports, bad rules), mapping a refusal to its line.
    func checkSecurityGroups(_ datapath: Datapath) throws(ConfigurationError) {
        guard let sg = securityGroups else { return }
        guard let layout = datapath.firewallBridgePorts(bridge: sg.bridge) else {
            throw ConfigurationError(file: file, line: 0, key: "ports", message: "no bridge \(sg.bridge)")
        }
        do {
            _ = try SecurityGroupCompiler(configuration: sg, bridgePorts: layout).flowTexts()
        } catch {
            throw locatedSecurityGroupError(error)
        }
    }

    /// Installs the security groups' flows in `datapath` (see `makeDatapath`).
    func applySecurityGroups(_ datapath: Datapath, now: DatapathInstant) throws(ConfigurationError) {
        guard let sg = securityGroups else { return }
        do {
            try datapath.applySecurityGroups(sg, now: now)
        } catch {
            throw locatedSecurityGroupError(error)
        }
    }

    func locatedSecurityGroupError(_ error: DatapathConfigurationError) -> ConfigurationError {
        let line = lines["sg:\(error.subject).\(error.key)"] ?? lines["sg:\(error.subject)"] ?? lines["port:\(error.subject)"] ?? 0
        let section = lines["port:\(error.subject)"] != nil ? "ports" : "security_groups"
        return ConfigurationError(file: file, line: line, key: "\(section).\(error.subject).\(error.key)", message: error.message)
    }
}

extension SwitchConfiguration {
    /// Reads a document with only `security_groups:` and `ports:` (the schema of
    /// docs/security-groups.md) for a running `datapath`: the ports are looked up among
    /// its bridges. What `xdpswitch set-security-groups FILE` applies.
    public static func parseSecurityGroups(yaml: String, file: String = "<security groups>",
                                           datapath: Datapath) throws(ConfigurationError) -> SecurityGroupConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(file: file, line: 0, key: "yaml", message: "\(error)")
        }
        guard let root else { throw ConfigurationError(file: file, line: 0, key: "security_groups", message: "the file is empty") }
        let top = try YAMLNode(node: root, path: "", file: file).mapping(allowed: ["security_groups", "ports"])
        let bridges = datapath.bridges.map { b in
            BridgeConfiguration(name: b.name, ports: b.portIDs.map { PortConfiguration(name: datapath[$0].name) })
        }
        var config = SwitchConfiguration(datapath: DatapathConfiguration(bridges: bridges), file: file)
        let sg = try config.readSecurityGroups(groups: top["security_groups"], ports: top["ports"])
        config.securityGroups = sg
        try config.checkSecurityGroups(datapath)
        return sg
    }
}
