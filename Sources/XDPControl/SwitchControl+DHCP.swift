import XDPDatapath
import XDPPacket

extension SwitchControl {
    /// DHCP responder commands (docs/dhcp.md): counters, the static leases (dnsmasq's
    /// hosts file), and leases added, replaced or removed as Neutron ports come and go.
    static let dhcpCommands: [ControlCommand] = [
        ControlCommand("dhcp-stats", "[NETWORK]", summary: "DHCP responders' messages, replies and drops by reason") { call in
            let responders = call.arguments.isEmpty ? call.datapath.dhcpResponders : [try responder(call)]
            return SwitchText.dhcpStats(responders.map { ($0.network, $0.stats) })
        },
        ControlCommand("dhcp-leases", "NETWORK", summary: "a DHCP responder's static leases (MAC,hostname,address)") { call in
            SwitchText.dhcpLeases(try responder(call).configuration)
        },
        ControlCommand("dhcp-host-add", "NETWORK MAC ADDRESS [HOSTNAME]", summary: "add or replace a static DHCP lease") { call in
            try hostCommand("dhcp-host-add", call.arguments, responder: try responder(call))
        },
        ControlCommand("dhcp-host-del", "NETWORK MAC", summary: "remove a static DHCP lease") { call in
            try hostCommand("dhcp-host-del", call.arguments, responder: try responder(call))
        },
    ]

    /// The DHCP responder of the network the first argument names, or a failure listing them.
    private static func responder(_ call: ControlCommand.Invocation) throws(ControlCommand.Failure) -> DHCPResponder {
        try found(call.datapath.dhcpResponder(network: call.arguments[0]), call.arguments[0],
                  missing: "no DHCP responder for this network", known: "networks", call.datapath.dhcpResponders.map(\.network))
    }

    /// `dhcp-host-add` / `dhcp-host-del` on `responder` (arguments checked for count).
    private static func hostCommand(_ command: String, _ args: [String], responder: DHCPResponder) throws(ControlCommand.Failure) -> String {
        guard let mac = MACAddress(args[1]) else { throw ControlCommand.Failure("\(command): \(args[1]): expected a MAC address") }
        var hosts = responder.configuration.hosts.filter { $0.mac != mac }
        if command == "dhcp-host-add" {
            guard let address = IPv4Address(args[2]) else { throw ControlCommand.Failure("\(command): \(args[2]): expected an IPv4 address") }
            hosts.append(.init(mac: mac, address: address, hostname: args.count == 4 ? args[3] : nil))
        } else if hosts.count == responder.configuration.hosts.count {
            throw ControlCommand.Failure("\(command): \(mac) has no lease on \(responder.network)")
        }
        do {
            try responder.updateHosts(hosts)
            return "\(responder.network): \(hosts.count) leases\n"
        } catch {
            throw ControlCommand.Failure("\(command): \(error)")
        }
    }
}
