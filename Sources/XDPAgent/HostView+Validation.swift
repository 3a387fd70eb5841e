import XDPDatapath
import XDPPacket

// The meaning checks of a host view, run by `HostView.decode` and by `NodeCompiler` (a
// view built in code gets the same checks). Neutron's API has checked most of this
// already; the agent checks again because a producer may be anything (an older server,
// another driver, a hand-written file) and a view it half-understands must not become a
// half-built node. Everything the compiler relies on is checked here, so compiling a
// valid view does not fail on the view's content.
extension HostView {
    /// Identifiers (ids, names used in port and bridge names) may hold these characters only.
    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255
            && text.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
            }
    }

    /// A host interface name: 1-15 bytes of identifier characters.
    static func isInterfaceName(_ text: String) -> Bool { isIdentifier(text) && text.utf8.count <= 15 }

    /// Checks every field and every reference between objects.
    public func validate() throws(AgentError) {
        guard formatVersion == Self.currentFormatVersion else {
            throw AgentError("format_version", "unknown format version \(formatVersion) (this agent reads \(Self.currentFormatVersion))")
        }
        try validateHost()
        let subnets = try validateNetworks()
        try validatePorts(subnets)
        try validateSecurityGroups()
        try validateRouters(subnets)
        try validateDHCP(subnets)
    }

    private func validateHost() throws(AgentError) {
        guard Self.isIdentifier(host.name) else { throw AgentError("host.name", "expected a host name (letters, digits, . _ -), found \"\(host.name)\"") }
        var interfaces = Set<String>()
        if let tunnel = host.tunnel {
            guard let ip = IPv4Address(tunnel.ip), ip != .any, !ip.isMulticast, ip != .broadcast else {
                throw AgentError("host.tunnel.ip", "expected a unicast IPv4 address, found \"\(tunnel.ip)\"")
            }
            guard (1...32).contains(tunnel.prefixLength) else {
                throw AgentError("host.tunnel.prefix_length", "expected 1-32, found \(tunnel.prefixLength)")
            }
            guard Self.isInterfaceName(tunnel.interface) else {
                throw AgentError("host.tunnel.interface", "expected an interface name of 1-15 bytes, found \"\(tunnel.interface)\"")
            }
            if let gateway = tunnel.gateway {
                guard let g = IPv4Address(gateway), g != ip, IPv4Prefix(ip, length: tunnel.prefixLength)?.contains(g) == true else {
                    throw AgentError("host.tunnel.gateway", "expected another address of \(ip)/\(tunnel.prefixLength), found \"\(gateway)\"")
                }
            }
            if let mtu = tunnel.mtu, !(576...9000).contains(mtu) { throw AgentError("host.tunnel.mtu", "expected 576-9000, found \(mtu)") }
            interfaces.insert(tunnel.interface)
        }
        for (physnet, interface) in host.bridgeMappings.sorted(by: { $0.key < $1.key }) {
            let path = "host.bridge_mappings.\(physnet)"
            guard Self.isIdentifier(physnet) else { throw AgentError(path, "a physical network is named by letters, digits, . _ -") }
            // int-br-IFACE is a patch port (no length limit), IFACE a host interface.
            guard Self.isInterfaceName(interface) else { throw AgentError(path, "expected an interface name of 1-15 bytes, found \"\(interface)\"") }
            guard interfaces.insert(interface).inserted else { throw AgentError(path, "interface \(interface) is already used by the tunnel or another physical network") }
        }
        if let external = host.externalInterface {
            guard Self.isInterfaceName(external) else {
                throw AgentError("host.external_interface", "expected an interface name of 1-15 bytes, found \"\(external)\"")
            }
            guard interfaces.insert(external).inserted else {
                throw AgentError("host.external_interface", "interface \(external) is already used by the tunnel or a physical network")
            }
        }
    }

    /// Returns each subnet by id with its network and prefix.
    private func validateNetworks() throws(AgentError) -> [String: (network: String, prefix: IPv4Prefix)] {
        var ids = Set<String>()
        var subnets: [String: (network: String, prefix: IPv4Prefix)] = [:]
        for (i, network) in networks.enumerated() {
            let path = "networks[\(i)]"
            guard Self.isIdentifier(network.id) else { throw AgentError("\(path).id", "expected an id (letters, digits, . _ -), found \"\(network.id)\"") }
            guard ids.insert(network.id).inserted else { throw AgentError("\(path).id", "duplicate network id \(network.id)") }
            let segment = network.segmentationID
            switch network.networkType {
            case .flat:
                guard segment == nil else { throw AgentError("\(path).segmentation_id", "a flat network has no segmentation id") }
            case .vlan:
                guard let segment, (1...4094).contains(segment) else {
                    throw AgentError("\(path).segmentation_id", "a vlan network needs a VLAN id 1-4094, found \(segment.map(String.init) ?? "none")")
                }
            case .gre:
                guard let segment, (1...UInt64(UInt32.max)).contains(segment) else {
                    throw AgentError("\(path).segmentation_id", "a gre network needs a key 1-4294967295, found \(segment.map(String.init) ?? "none")")
                }
            case .vxlan:
                guard let segment, (1...16_777_215).contains(segment) else {
                    throw AgentError("\(path).segmentation_id", "a vxlan network needs a VNI 1-16777215, found \(segment.map(String.init) ?? "none")")
                }
            }
            if network.networkType.isTunnelled {
                guard network.physicalNetwork == nil else { throw AgentError("\(path).physical_network", "a \(network.networkType.rawValue) network has no physical network") }
            } else {
                guard let physnet = network.physicalNetwork, Self.isIdentifier(physnet) else {
                    throw AgentError("\(path).physical_network", "a \(network.networkType.rawValue) network needs its physical network")
                }
                guard network.remoteHosts.isEmpty else {
                    throw AgentError("\(path).remote_hosts", "only tunnelled networks (gre, vxlan) have remote hosts")
                }
            }
            if let mtu = network.mtu, !(68...9000).contains(mtu) { throw AgentError("\(path).mtu", "expected 68-9000, found \(mtu)") }
            for (j, subnet) in network.subnets.enumerated() {
                let sp = "\(path).subnets[\(j)]"
                guard Self.isIdentifier(subnet.id) else { throw AgentError("\(sp).id", "expected an id, found \"\(subnet.id)\"") }
                guard subnets[subnet.id] == nil else { throw AgentError("\(sp).id", "duplicate subnet id \(subnet.id)") }
                guard let prefix = IPv4Prefix(subnet.cidr), subnet.cidr.contains("/"), prefix.description == subnet.cidr,
                      (1...30).contains(prefix.length) else {
                    throw AgentError("\(sp).cidr", "expected an IPv4 subnet A.B.C.D/LEN (/1-/30, no host bits), found \"\(subnet.cidr)\"")
                }
                if let gateway = subnet.gatewayIP { try Self.checkGateway(gateway, of: prefix, "\(sp).gateway_ip") }
                guard subnet.dnsNameservers.count <= 8 else { throw AgentError("\(sp).dns_nameservers", "at most 8") }
                for (k, server) in subnet.dnsNameservers.enumerated() where IPv4Address(server) == nil {
                    throw AgentError("\(sp).dns_nameservers[\(k)]", "expected an IPv4 address, found \"\(server)\"")
                }
                for (k, route) in subnet.hostRoutes.enumerated() { try Self.checkRoute(route, "\(sp).host_routes[\(k)]") }
                subnets[subnet.id] = (network.id, prefix)
            }
            var hosts = Set<String>()
            for (j, remote) in network.remoteHosts.enumerated() {
                let rp = "\(path).remote_hosts[\(j)]"
                guard Self.isIdentifier(remote.host) else { throw AgentError("\(rp).host", "expected a host name, found \"\(remote.host)\"") }
                guard remote.host != host.name else { throw AgentError("\(rp).host", "this host is not its own remote host") }
                guard hosts.insert(remote.host).inserted else { throw AgentError("\(rp).host", "duplicate remote host \(remote.host)") }
                guard let ip = IPv4Address(remote.tunnelIP), ip != .any, !ip.isMulticast, ip != .broadcast else {
                    throw AgentError("\(rp).tunnel_ip", "expected a unicast IPv4 address, found \"\(remote.tunnelIP)\"")
                }
                if let tunnel = host.tunnel, IPv4Address(tunnel.ip) == ip {
                    throw AgentError("\(rp).tunnel_ip", "\(ip) is this host's own tunnel address")
                }
                for (k, port) in remote.ports.enumerated() {
                    try Self.checkUnicastMAC(port.macAddress, "\(rp).ports[\(k)].mac_address")
                    for (m, address) in port.ipAddresses.enumerated() where AddressPrefix(address) == nil || address.contains("/") {
                        throw AgentError("\(rp).ports[\(k)].ip_addresses[\(m)]", "expected an IP address, found \"\(address)\"")
                    }
                }
            }
        }
        return subnets
    }

    private func network(_ id: String) -> Network? { networks.first { $0.id == id } }

    private func validatePorts(_ subnets: [String: (network: String, prefix: IPv4Prefix)]) throws(AgentError) {
        var ids = Set<String>()
        var taps = Set<String>()
        var macs = Set<String>()
        let groups = Set(securityGroups.map(\.id))
        for (i, port) in ports.enumerated() {
            let path = "ports[\(i)]"
            guard Self.isIdentifier(port.id) else { throw AgentError("\(path).id", "expected an id (letters, digits, . _ -), found \"\(port.id)\"") }
            guard ids.insert(port.id).inserted else { throw AgentError("\(path).id", "duplicate port id \(port.id)") }
            guard network(port.networkID) != nil else {
                throw AgentError("\(path).network_id", "network \(port.networkID) is not in the view's networks")
            }
            let mac = try Self.checkUnicastMAC(port.macAddress, "\(path).mac_address")
            guard macs.insert("\(port.networkID) \(mac)").inserted else {
                throw AgentError("\(path).mac_address", "MAC \(mac) is used twice on network \(port.networkID)")
            }
            try checkFixedIPs(port.fixedIPs, network: port.networkID, subnets, "\(path).fixed_ips")
            if port.isNetworkService { continue }
            guard network(port.networkID)?.routerExternal != true else {
                throw AgentError("\(path).network_id", "network \(port.networkID) is external: only routers' gateways attach to it here")
            }
            if let name = port.interfaceName, !Self.isInterfaceName(name) {
                throw AgentError("\(path).interface_name", "expected an interface name of 1-15 bytes, found \"\(name)\"")
            }
            guard taps.insert(port.tapName).inserted else {
                throw AgentError(port.interfaceName == nil ? "\(path).id" : "\(path).interface_name",
                                 "interface \(port.tapName) is another port's too")
            }
            for (j, group) in port.securityGroups.enumerated() where !groups.contains(group) {
                throw AgentError("\(path).security_groups[\(j)]", "security group \(group) is not in the view's security_groups")
            }
            for (j, pair) in port.allowedAddressPairs.enumerated() {
                guard AddressPrefix(pair.ipAddress) != nil else {
                    throw AgentError("\(path).allowed_address_pairs[\(j)].ip_address", "expected an address or prefix, found \"\(pair.ipAddress)\"")
                }
                if let mac = pair.macAddress { try Self.checkUnicastMAC(mac, "\(path).allowed_address_pairs[\(j)].mac_address") }
            }
            if !port.portSecurityEnabled && (!port.securityGroups.isEmpty || !port.allowedAddressPairs.isEmpty) {
                throw AgentError("\(path).port_security_enabled", "a port without port security has no security groups and no address pairs")
            }
        }
    }

    private func checkFixedIPs(_ fixedIPs: [FixedIP], network: String, _ subnets: [String: (network: String, prefix: IPv4Prefix)],
                               _ path: String) throws(AgentError) {
        for (j, fixed) in fixedIPs.enumerated() {
            let fp = "\(path)[\(j)]"
            if let subnetID = fixed.subnetID {
                guard let subnet = subnets[subnetID], subnet.network == network else {
                    throw AgentError("\(fp).subnet_id", "subnet \(subnetID) is not a subnet of network \(network) in the view")
                }
                try Self.checkHost(fixed.ipAddress, in: subnet.prefix, "\(fp).ip_address")
            } else {
                guard AddressPrefix(fixed.ipAddress) != nil, !fixed.ipAddress.contains("/") else {
                    throw AgentError("\(fp).ip_address", "expected an IP address, found \"\(fixed.ipAddress)\"")
                }
            }
        }
    }

    private func validateSecurityGroups() throws(AgentError) {
        var ids = Set<String>()
        for (i, group) in securityGroups.enumerated() {
            guard Self.isIdentifier(group.id) else { throw AgentError("security_groups[\(i)].id", "expected an id, found \"\(group.id)\"") }
            guard ids.insert(group.id).inserted else { throw AgentError("security_groups[\(i)].id", "duplicate security group id \(group.id)") }
        }
        for (i, group) in securityGroups.enumerated() {
            for (j, member) in group.members.enumerated() where AddressPrefix(member) == nil {
                throw AgentError("security_groups[\(i)].members[\(j)]", "expected an address or prefix, found \"\(member)\"")
            }
            for (j, rule) in group.rules.enumerated() {
                let path = "security_groups[\(i)].rules[\(j)]"
                if let remote = rule.remoteGroupID, !ids.contains(remote) {
                    throw AgentError("\(path).remote_group_id", "security group \(remote) is not in the view's security_groups")
                }
                if let prefix = rule.remoteIPPrefix, AddressPrefix(prefix) == nil {
                    throw AgentError("\(path).remote_ip_prefix", "expected an address prefix, found \"\(prefix)\"")
                }
                if rule.remoteIPPrefix != nil && rule.remoteGroupID != nil {
                    throw AgentError(path, "remote_ip_prefix and remote_group_id are mutually exclusive")
                }
                // The rest (direction, ethertype, protocol, port ranges) as Neutron's API checks it.
                do {
                    let built = try Self.securityGroupRule(rule, remoteIPPrefix: rule.remoteIPPrefix.flatMap(AddressPrefix.init))
                    try SecurityGroupConfiguration(groups: [XDPDatapath.SecurityGroup(id: group.id, rules: [built])]).validate()
                } catch {
                    throw AgentError(error.subject == "rule" ? "\(path).\(error.key)" : path, error.message)
                }
            }
        }
    }

    private func validateRouters(_ subnets: [String: (network: String, prefix: IPv4Prefix)]) throws(AgentError) {
        if !routers.isEmpty && !host.role.servesNetworks {
            throw AgentError("routers", "a \(host.role.rawValue) node serves no routers (role network or all does)")
        }
        var ids = Set<String>()
        var portIDs = Set(ports.map(\.id))
        for (i, router) in routers.enumerated() {
            let path = "routers[\(i)]"
            guard Self.isIdentifier(router.id) else { throw AgentError("\(path).id", "expected an id, found \"\(router.id)\"") }
            guard ids.insert(router.id).inserted else { throw AgentError("\(path).id", "duplicate router id \(router.id)") }
            var interfaces = router.interfaces.enumerated().map { ("\(path).interfaces[\($0)]", $1, false) }
            if let gateway = router.gateway { interfaces.append(("\(path).gateway.port", gateway.port, true)) }
            for (ip, interface, isGateway) in interfaces {
                guard Self.isIdentifier(interface.portID) else { throw AgentError("\(ip).port_id", "expected an id, found \"\(interface.portID)\"") }
                guard portIDs.insert(interface.portID).inserted || ports.contains(where: { $0.id == interface.portID && $0.isNetworkService }) else {
                    throw AgentError("\(ip).port_id", "duplicate port id \(interface.portID)")
                }
                try Self.checkUnicastMAC(interface.macAddress, "\(ip).mac_address")
                guard let net = network(interface.networkID) else {
                    throw AgentError("\(ip).network_id", "network \(interface.networkID) is not in the view's networks")
                }
                guard net.routerExternal == isGateway else {
                    throw AgentError("\(ip).network_id", isGateway ? "a gateway's network is an external network (router_external)"
                                                                   : "an interface's network is not an external network")
                }
                guard let subnet = subnets[interface.subnetID], subnet.network == interface.networkID else {
                    throw AgentError("\(ip).subnet_id", "subnet \(interface.subnetID) is not a subnet of network \(interface.networkID) in the view")
                }
                try Self.checkHost(interface.ipAddress, in: subnet.prefix, "\(ip).ip_address")
            }
            if router.gateway != nil && host.externalInterface == nil {
                throw AgentError("\(path).gateway", "a router gateway needs the host's external_interface (br-ex)")
            }
            for (j, fip) in router.floatingIPs.enumerated() {
                guard router.gateway != nil else { throw AgentError("\(path).floating_ips", "floating IPs need the router's gateway") }
                guard IPv4Address(fip.floatingIPAddress) != nil else {
                    throw AgentError("\(path).floating_ips[\(j)].floating_ip_address", "expected an IPv4 address, found \"\(fip.floatingIPAddress)\"")
                }
                guard IPv4Address(fip.fixedIPAddress) != nil else {
                    throw AgentError("\(path).floating_ips[\(j)].fixed_ip_address", "expected an IPv4 address, found \"\(fip.fixedIPAddress)\"")
                }
            }
            for (j, route) in router.routes.enumerated() { try Self.checkRoute(route, "\(path).routes[\(j)]") }
        }
    }

    private func validateDHCP(_ subnets: [String: (network: String, prefix: IPv4Prefix)]) throws(AgentError) {
        if !dhcp.isEmpty && !host.role.servesNetworks {
            throw AgentError("dhcp", "a \(host.role.rawValue) node serves no DHCP (role network or all does)")
        }
        var networksServed = Set<String>()
        for (i, service) in dhcp.enumerated() {
            let path = "dhcp[\(i)]"
            guard let net = network(service.networkID), !net.routerExternal else {
                throw AgentError("\(path).network_id", "network \(service.networkID) is not an internal network of the view")
            }
            guard networksServed.insert(service.networkID).inserted else {
                throw AgentError("\(path).network_id", "network \(service.networkID) has a DHCP service already")
            }
            guard Self.isIdentifier(service.portID) else { throw AgentError("\(path).port_id", "expected an id, found \"\(service.portID)\"") }
            try Self.checkUnicastMAC(service.macAddress, "\(path).mac_address")
            guard !service.fixedIPs.isEmpty else { throw AgentError("\(path).fixed_ips", "the DHCP port needs an address on a subnet") }
            for (j, fixed) in service.fixedIPs.enumerated() where fixed.subnetID == nil {
                throw AgentError("\(path).fixed_ips[\(j)].subnet_id", "missing: the DHCP port's address names its subnet")
            }
            try checkFixedIPs(service.fixedIPs, network: service.networkID, subnets, "\(path).fixed_ips")
            if let lease = service.leaseTime, lease != -1, !(1...4_294_967_294).contains(lease) {
                throw AgentError("\(path).lease_time", "expected 1-4294967294 seconds or -1 (infinite), found \(lease)")
            }
            if let domain = service.domain, domain.utf8.count > 255 { throw AgentError("\(path).domain", "at most 255 bytes") }
            let served = service.fixedIPs.compactMap { fixed in fixed.subnetID.flatMap { subnets[$0]?.prefix } }
            let servers = Set(service.fixedIPs.compactMap { IPv4Address($0.ipAddress) })
            var leasedMACs = Set<MACAddress>(), leasedAddresses = Set<IPv4Address>()
            for (j, lease) in service.hosts.enumerated() {
                let mac = try Self.checkUnicastMAC(lease.macAddress, "\(path).hosts[\(j)].mac_address")
                guard let address = IPv4Address(lease.ipAddress) else {
                    throw AgentError("\(path).hosts[\(j)].ip_address", "expected an IPv4 address, found \"\(lease.ipAddress)\"")
                }
                guard served.contains(where: { $0.contains(address) && address != $0.address && address != $0.broadcast }),
                      !servers.contains(address) else {
                    throw AgentError("\(path).hosts[\(j)].ip_address", "\(address) is not a host address of a subnet the DHCP port serves, other than its own")
                }
                guard leasedMACs.insert(mac).inserted else { throw AgentError("\(path).hosts[\(j)].mac_address", "MAC \(mac) has a lease already") }
                guard leasedAddresses.insert(address).inserted else {
                    throw AgentError("\(path).hosts[\(j)].ip_address", "\(address) is leased twice")
                }
                if let name = lease.hostname, name.utf8.count > 63 { throw AgentError("\(path).hosts[\(j)].hostname", "at most 63 bytes") }
            }
        }
    }

    @discardableResult
    static func checkUnicastMAC(_ text: String, _ path: String) throws(AgentError) -> MACAddress {
        guard let mac = MACAddress(text), !mac.isMulticast, mac != .zero else {
            throw AgentError(path, "expected a unicast MAC address, found \"\(text)\"")
        }
        return mac
    }

    static func checkHost(_ text: String, in prefix: IPv4Prefix, _ path: String) throws(AgentError) {
        guard let address = IPv4Address(text) else { throw AgentError(path, "expected an IPv4 address, found \"\(text)\"") }
        guard prefix.contains(address), address != prefix.address, address != prefix.broadcast else {
            throw AgentError(path, "\(address) is not a host address of \(prefix)")
        }
    }

    /// A subnet's gateway: a unicast address, and a host address of the subnet when it is in
    /// it. Outside it is allowed, as Neutron allows it (the DHCP answer then carries an on-link
    /// route to it, `NodePlan.dhcpHostRoutes`).
    static func checkGateway(_ text: String, of prefix: IPv4Prefix, _ path: String) throws(AgentError) {
        guard let address = IPv4Address(text) else { throw AgentError(path, "expected an IPv4 address, found \"\(text)\"") }
        guard address != .any, address != .broadcast, !address.isMulticast else {
            throw AgentError(path, "\(address) is not a unicast address")
        }
        if prefix.contains(address) { try checkHost(text, in: prefix, path) }
    }

    static func checkRoute(_ route: Route, _ path: String) throws(AgentError) {
        guard let destination = IPv4Prefix(route.destination), route.destination.contains("/"), destination.description == route.destination else {
            throw AgentError("\(path).destination", "expected a prefix A.B.C.D/LEN without host bits, found \"\(route.destination)\"")
        }
        guard IPv4Address(route.nexthop) != nil else { throw AgentError("\(path).nexthop", "expected an IPv4 address, found \"\(route.nexthop)\"") }
    }

    /// The datapath's rule for a view's rule (the remote group left to the caller).
    static func securityGroupRule(_ rule: Rule, remoteIPPrefix: AddressPrefix?, remoteGroupID: String? = nil) throws(DatapathConfigurationError) -> SecurityGroupRule {
        guard let direction = SecurityGroupRule.Direction(rawValue: rule.direction.lowercased()) else {
            throw DatapathConfigurationError(subject: "rule", key: "direction", message: "expected ingress or egress, found \"\(rule.direction)\"")
        }
        var ethertype = SecurityGroupRule.EtherType.ipv4
        switch rule.ethertype?.lowercased() {
        case nil, "ipv4": ethertype = .ipv4
        case "ipv6": ethertype = .ipv6
        case let other?: throw DatapathConfigurationError(subject: "rule", key: "ethertype", message: "expected IPv4 or IPv6, found \"\(other)\"")
        }
        let proto = rule.protocol.flatMap { SecurityGroupRule.isAnyProtocol($0) ? nil : $0 }
        guard let built = SecurityGroupRule(direction: direction, ethertype: ethertype, protocol: proto,
                                            portRangeMin: rule.portRangeMin, portRangeMax: rule.portRangeMax,
                                            remoteIPPrefix: remoteIPPrefix, remoteGroupID: remoteGroupID) else {
            throw DatapathConfigurationError(subject: "rule", key: "protocol", message: "unknown protocol \"\(proto ?? "")\" (a name like tcp, udp, icmp, or 0-255)")
        }
        return built
    }
}
