import XDPDatapath

extension SwitchControl {
    /// DHCP responder commands; nil when `request` is not one of them.
    ///
    /// - `dhcp-stats [NETWORK]`: messages, replies and drops by reason (docs/dhcp.md)
    /// - `dhcp-leases NETWORK`: the static leases (dnsmasq's hosts file)
    /// - `dhcp-host-add NETWORK MAC ADDRESS [HOSTNAME]`: add or replace the lease of MAC
    ///   (a Neutron port created or updated); `dhcp-host-del NETWORK MAC`: remove it
    static func handleDHCPCommand(_ request: ControlSocket.Request, datapath: Datapath) -> ControlSocket.Reply? {
        let args = request.arguments
        switch request.command {
        case "dhcp-stats":
            if args.isEmpty { return .success(datapath.dhcpStatsDescription()) }
            guard args.count == 1 else { return .failure("usage: dhcp-stats [NETWORK]") }
        case "dhcp-leases":
            guard args.count == 1 else { return .failure("usage: dhcp-leases NETWORK") }
        case "dhcp-host-add":
            guard (3...4).contains(args.count) else { return .failure("usage: dhcp-host-add NETWORK MAC ADDRESS [HOSTNAME]") }
        case "dhcp-host-del":
            guard args.count == 2 else { return .failure("usage: dhcp-host-del NETWORK MAC") }
        default:
            return nil
        }
        guard let responder = datapath.dhcpResponder(network: args[0]) else {
            let known = datapath.dhcpResponders.map(\.network).joined(separator: ", ")
            return .failure("\(args[0]): no DHCP responder for this network (networks: \(known.isEmpty ? "none" : known))")
        }
        switch request.command {
        case "dhcp-stats": return .success(datapath.dhcpStatsDescription(responder))
        case "dhcp-leases": return .success(datapath.dhcpLeasesDescription(responder))
        default: return hostCommand(request.command, args, responder: responder)
        }
    }

    /// `dhcp-host-add` / `dhcp-host-del` on `responder` (arguments checked for count).
    static func hostCommand(_ command: String, _ args: [String], responder: DHCPResponder) -> ControlSocket.Reply {
        guard let mac = MACAddress(args[1]) else { return .failure("\(command): \(args[1]): expected a MAC address") }
        var hosts = responder.configuration.hosts.filter { $0.mac != mac }
        if command == "dhcp-host-add" {
            guard let address = IPv4Address(args[2]) else { return .failure("\(command): \(args[2]): expected an IPv4 address") }
            hosts.append(.init(mac: mac, address: address, hostname: args.count == 4 ? args[3] : nil))
        } else if hosts.count == responder.configuration.hosts.count {
            return .failure("\(command): \(mac) has no lease on \(responder.network)")
        }
        do {
            try responder.updateHosts(hosts)
            return .success("\(responder.network): \(hosts.count) leases\n")
        } catch {
            return .failure("\(command): \(error)")
        }
    }
}
