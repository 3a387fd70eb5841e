import XDPDatapath
import XDPPacket

extension SwitchText {
    /// `dump-conntrack`: one line per connection, as `ovs-appctl dpctl/dump-conntrack` prints them.
    public static func conntrack(_ connections: [ConnectionInfo]) -> String {
        lines(connections)
    }

    /// `conntrack-stats`: live connections per zone and the tracker's counters;
    /// `conntrack: not started` when no flow uses `ct()`.
    public static func conntrackStats(_ statistics: ConntrackStatistics?) -> String {
        guard let s = statistics else { return "conntrack: not started (no flow uses ct())\n" }
        var out = "connections: \(s.connections) (limit \(s.capacity))\n"
        for (zone, n) in s.zones.sorted(by: { $0.key < $1.key }) { out += "  zone \(zone): \(n)\n" }
        if !s.counters.isEmpty {
            out += "counters:\n"
            for (name, n) in s.counters.sorted(by: { $0.key < $1.key }) { out += "  \(name): \(n)\n" }
        }
        if s.heldFragments > 0 { out += "held fragments: \(s.heldFragments)\n" }
        return out
    }

    /// `dhcp-stats`: each responder's messages, replies and drops by reason.
    public static func dhcpStats(_ responders: [(network: String, stats: DHCPStats)]) -> String {
        var out = ""
        for (network, s) in responders {
            out += "\(network): received=\(s.received) discovers=\(s.discovers) requests=\(s.requests)"
            out += " informs=\(s.informs) releases=\(s.releases) declines=\(s.declines)"
            out += " offers=\(s.offers) acks=\(s.acks) naks=\(s.naks) arp-replies=\(s.arpReplies)\n"
            out += "    drops: \(dropList(s.drops))\n"
        }
        return out
    }

    /// `dhcp-leases`: a responder's static leases like dnsmasq's hosts file
    /// (`MAC,HOSTNAME,ADDRESS`), with the subnet and whether it has DHCP.
    public static func dhcpLeases(_ configuration: DHCPConfiguration) -> String {
        var out = ""
        for host in configuration.hosts {
            let subnet = configuration.subnetIndex(of: host.address).map { configuration.subnets[$0] }
            out += "\(host.mac),\(host.effectiveHostname ?? "-"),\(host.address) subnet=\(subnet?.name ?? "-")"
            out += subnet?.enableDHCP == false ? " dhcp=disabled\n" : "\n"
        }
        return out
    }
}
