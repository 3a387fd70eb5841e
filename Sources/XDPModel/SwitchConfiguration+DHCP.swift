import XDPDatapath
import XDPPacket

extension SwitchConfiguration {
    /// One entry of `dhcp:` (docs/dhcp.md, docs/configuration.md), Neutron's field names
    /// where it has them:
    ///
    /// ```yaml
    /// dhcp:
    ///   - network: net1                 # served by the port {type: dhcp, options: {network: net1}}
    ///     mac: fa:16:3e:00:00:03        # the DHCP port's MAC
    ///     domain: openstacklocal        # option 15 (the default; "" for none)
    ///     lease_time: 120               # seconds (the default), or infinite
    ///     mtu: 1450                     # option 26, when given
    ///     subnets:
    ///       - name: subnet1
    ///         cidr: 10.1.0.0/24
    ///         server_address: 10.1.0.3  # the DHCP port's fixed IP on this subnet
    ///         gateway_ip: 10.1.0.1
    ///         dns_nameservers: [8.8.8.8]
    ///         host_routes: [{destination: 169.254.169.254/32, nexthop: 10.1.0.2}]
    ///         enable_dhcp: true
    ///     hosts:                        # the static leases: one per port of the network
    ///       - {mac: fa:16:3e:aa:00:05, address: 10.1.0.5}
    ///       - {mac: fa:16:3e:aa:00:06, address: 10.1.0.6, hostname: web1}
    /// ```
    ///
    /// The responder's own checks (`DHCPConfiguration.validate`) run here, so their
    /// refusals point at the line of the key at fault.
    mutating func readDHCP(_ node: YAMLNode, index: Int) throws(ConfigurationError) -> DHCPConfiguration {
        let keys = try node.mapping(allowed: ["network", "mac", "domain", "lease_time", "mtu", "subnets", "hosts"])
        guard let networkNode = keys["network"] else { throw node.error("missing", key: "network") }
        guard let macNode = keys["mac"] else { throw node.error("missing: the DHCP port's MAC", key: "mac") }
        var dhcp = DHCPConfiguration(network: try networkNode.string(), mac: try macNode.mac(), subnets: [])
        lines["dhcp[\(index)]"] = node.line
        for (key, value) in keys { lines["dhcp[\(index)].\(key)"] = value.line }
        if let n = keys["domain"] { dhcp.domain = try n.string() }
        if let n = keys["lease_time"] {
            if (try? n.string()) == "infinite" {
                dhcp.leaseSeconds = .max
            } else {
                dhcp.leaseSeconds = UInt32(try n.integer(in: 1...Int(UInt32.max - 1)))
            }
        }
        if let n = keys["mtu"] { dhcp.mtu = try n.integer(in: 68...65535) }

        var subnetNodes: [String: (node: YAMLNode, keys: [String: YAMLNode])] = [:]
        guard let subnets = keys["subnets"] else { throw node.error("missing: a network's DHCP has subnets", key: "subnets") }
        for (i, entry) in try subnets.sequence().enumerated() {
            let k = try entry.mapping(allowed: ["name", "cidr", "server_address", "gateway_ip", "dns_nameservers", "host_routes", "enable_dhcp"])
            guard let name = k["name"] else { throw entry.error("missing", key: "name") }
            guard let cidr = k["cidr"] else { throw entry.error("missing (A.B.C.D/LEN)", key: "cidr") }
            guard let server = k["server_address"] else { throw entry.error("missing: the DHCP port's address on the subnet", key: "server_address") }
            var subnet = DHCPConfiguration.Subnet(name: try name.string(), cidr: try Self.networkPrefix(cidr), serverAddress: try server.ipv4())
            subnetNodes[subnet.name] = (entry, k)
            if let g = k["gateway_ip"] { subnet.gateway = try g.ipv4() }
            for dns in try k["dns_nameservers"]?.sequence() ?? [] { subnet.dnsServers.append(try dns.ipv4()) }
            for route in try k["host_routes"]?.sequence() ?? [] {
                let r = try route.mapping(allowed: ["destination", "nexthop"])
                guard let destination = r["destination"] else { throw route.error("missing (A.B.C.D/LEN)", key: "destination") }
                guard let nexthop = r["nexthop"] else { throw route.error("missing", key: "nexthop") }
                subnet.hostRoutes.append(.init(destination: try Self.networkPrefix(destination), nextHop: try nexthop.ipv4()))
            }
            if let e = k["enable_dhcp"] { subnet.enableDHCP = try e.boolean() }
            lines["dhcp[\(index)].subnets[\(i)]"] = entry.line
            dhcp.subnets.append(subnet)
        }
        var hostNodes: [(node: YAMLNode, keys: [String: YAMLNode])] = []
        for entry in try keys["hosts"]?.sequence() ?? [] {
            let k = try entry.mapping(allowed: ["mac", "address", "hostname"])
            guard let mac = k["mac"] else { throw entry.error("missing", key: "mac") }
            guard let address = k["address"] else { throw entry.error("missing: the port's fixed IP", key: "address") }
            var host = DHCPConfiguration.Host(mac: try mac.mac(), address: try address.ipv4())
            if let h = k["hostname"] { host.hostname = try h.string() }
            hostNodes.append((entry, k))
            dhcp.hosts.append(host)
        }
        do {
            try dhcp.validate()
        } catch {
            // Point at the key the refusal names: in the subnet or host it is about, else
            // in the entry's own mapping.
            let keyName = ["gateway": "gateway_ip", "dns_servers": "dns_nameservers"][error.key]
                ?? (error.key.hasPrefix("host_routes") ? "host_routes" : error.key)
            var place: (node: YAMLNode, keys: [String: YAMLNode])?
            if let subject = error.part {
                place = subnetNodes[subject]
                if place == nil, let i = dhcp.hosts.indices.first(where: { subject.hasPrefix("hosts[\($0)]") }) { place = hostNodes[i] }
            }
            if let place {
                throw (place.keys[keyName] ?? place.node).error("\(error.part!): \(error.message)", key: place.keys[keyName] == nil ? keyName : nil)
            }
            if error.part == nil, let at = keys[keyName] { throw at.error(error.message) }
            throw node.error(error.part.map { "\($0): \(error.message)" } ?? error.message, key: keyName)
        }
        return dhcp
    }

    /// `A.B.C.D/LEN` naming a network (host bits clear).
    static func networkPrefix(_ node: YAMLNode) throws(ConfigurationError) -> IPv4Prefix {
        let text = try node.string()
        guard let prefix = IPv4Prefix(text), text.contains("/") else { throw node.error("expected a prefix A.B.C.D/LEN, found \"\(text)\"") }
        guard prefix.address == IPv4Address(text.split(separator: "/")[0]) else {
            throw node.error("\(text) has host bits set (the network is \(prefix))")
        }
        return prefix
    }
}
