import XDPDatapath
import XDPPacket

// The VM ports' security groups as the `security_groups:` and `ports:` sections
// (docs/security-groups.md): every group of the view with its rules, and each VM port
// bound by its tap name.
//
// A rule naming a remote group is written once per member address of that group, as a
// rule with `remote_ip_prefix` (/32, /128; the member's own prefix for an address pair
// given as a prefix) of the rule's ethertype: the section itself would expand the group
// from the ports bound on this node only, while a group's members are on every host
// (the view's `members`). A group with no member of the rule's family leaves the rule
// out: it allows nothing, as in Neutron.
extension NodePlan {
    /// The addresses DHCP replies to a port of `networkID` may come from: the network's
    /// DHCP ports here (`dhcp`) and on other hosts (remote ports owned by `network:dhcp`).
    /// Empty: unknown (any server, as Neutron's OVS firewall).
    func dhcpServers(of networkID: String) -> [String] {
        var servers: [String] = []
        for service in view.dhcp where service.networkID == networkID { servers += service.fixedIPs.map(\.ipAddress) }
        for host in networks[networkID]?.remoteHosts ?? [] {
            for port in host.ports where port.deviceOwner == "network:dhcp" { servers += port.ipAddresses }
        }
        var seen = Set<String>()
        return servers.filter { seen.insert($0).inserted }
    }

    /// The rules of `group` with remote groups expanded to their members.
    func expandedRules(_ group: HostView.SecurityGroup) -> [HostView.Rule] {
        var out: [HostView.Rule] = []
        for rule in group.rules {
            guard let remote = rule.remoteGroupID else {
                out.append(rule)
                continue
            }
            let members = view.securityGroups.first { $0.id == remote }?.members ?? []
            let ipv6 = rule.ethertype?.lowercased() == "ipv6"
            var seen = Set<AddressPrefix>()
            for member in members {
                guard let prefix = AddressPrefix(member), seen.insert(prefix).inserted else { continue }
                if case .v6 = prefix, !ipv6 { continue }
                if case .v4 = prefix, ipv6 { continue }
                var expanded = rule
                expanded.remoteGroupID = nil
                expanded.remoteIPPrefix = "\(prefix)"
                out.append(expanded)
            }
        }
        return out
    }

    func writeSecurityGroups(_ w: inout YAMLWriter) {
        let ports = vmPorts
        guard !ports.isEmpty else { return }
        if !view.securityGroups.isEmpty {
            w.line(0, "security_groups:")
            for group in view.securityGroups.sorted(by: { $0.id < $1.id }) {
                w.item(2, Value(text: "id: \(YAMLWriter.quoted(group.id))"))
                if let name = group.name { w.field(4, "name", .string(name)) }
                let rules = expandedRules(group)
                if rules.isEmpty {
                    w.line(4, "rules: []")
                    continue
                }
                w.line(4, "rules:")
                for rule in rules {
                    w.item(6, .map(["direction": .string(rule.direction), "ethertype": rule.ethertype.map { .string($0) },
                                    "protocol": rule.protocol.map { .string($0) },
                                    "port_range_min": rule.portRangeMin.map { .int($0) }, "port_range_max": rule.portRangeMax.map { .int($0) },
                                    "remote_ip_prefix": rule.remoteIPPrefix.map { .string($0) }]))
                }
            }
        }
        w.line(0, "ports:")
        for port in ports {
            let servers = port.portSecurityEnabled ? dhcpServers(of: port.networkID) : []
            w.item(2, .map(["name": .string(port.tapName), "id": .string(port.id), "network_id": .string(port.networkID),
                            "mac_address": .string(port.macAddress),
                            "fixed_ips": .strings(port.fixedIPs.map(\.ipAddress)),
                            "allowed_address_pairs": port.allowedAddressPairs.isEmpty ? nil : .list(port.allowedAddressPairs.map {
                                .map(["ip_address": .string($0.ipAddress), "mac_address": $0.macAddress.map { .string($0) }])
                            }),
                            "port_security_enabled": .bool(port.portSecurityEnabled),
                            "security_groups": port.portSecurityEnabled ? .strings(port.securityGroups) : nil,
                            "dhcp_servers": servers.isEmpty ? nil : .strings(servers)]))
        }
    }
}
