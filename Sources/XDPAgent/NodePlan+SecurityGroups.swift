import XDPDatapath
import XDPPacket

// The VM ports' security groups as the `security_groups:` and `ports:` sections
// (docs/security-groups.md): every group of the view with its rules and its members, and
// each VM port bound by its tap name.
//
// A rule naming a remote group keeps `remote_group_id`; the group is written with
// `members:`, the view's addresses of every port in the group on any host (the section's
// own bound ports are only this node's). The security-group compiler turns each remote
// group into a conjunction: one flow per member address, one per port and rule.
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

    func writeSecurityGroups(_ w: inout YAMLWriter) {
        let ports = vmPorts
        guard !ports.isEmpty else { return }
        if !view.securityGroups.isEmpty {
            w.line(0, "security_groups:")
            for group in view.securityGroups.sorted(by: { $0.id < $1.id }) {
                w.item(2, Value(text: "id: \(YAMLWriter.quoted(group.id))"))
                if let name = group.name { w.field(4, "name", .string(name)) }
                if !group.members.isEmpty { w.field(4, "members", .strings(group.members)) }
                if group.rules.isEmpty {
                    w.line(4, "rules: []")
                    continue
                }
                w.line(4, "rules:")
                for rule in group.rules {
                    w.item(6, .map(["direction": .string(rule.direction), "ethertype": rule.ethertype.map { .string($0) },
                                    "protocol": rule.protocol.map { .string($0) },
                                    "port_range_min": rule.portRangeMin.map { .int($0) }, "port_range_max": rule.portRangeMax.map { .int($0) },
                                    "remote_ip_prefix": rule.remoteIPPrefix.map { .string($0) },
                                    "remote_group_id": rule.remoteGroupID.map { .string($0) }]))
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
