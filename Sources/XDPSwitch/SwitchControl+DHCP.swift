import XDPDatapath

extension SwitchControl {
    /// DHCP responder commands; nil when `request` is not one of them.
    ///
    /// - `dhcp-stats [NETWORK]`: messages, replies and drops by reason (docs/dhcp.md)
    /// - `dhcp-leases NETWORK`: the static leases (dnsmasq's hosts file)
    static func handleDHCPCommand(_ request: ControlSocket.Request, datapath: Datapath) -> ControlSocket.Reply? {
        let args = request.arguments
        switch request.command {
        case "dhcp-stats":
            if args.isEmpty { return .success(datapath.dhcpStatsDescription()) }
            guard args.count == 1 else { return .failure("usage: dhcp-stats [NETWORK]") }
        case "dhcp-leases":
            guard args.count == 1 else { return .failure("usage: dhcp-leases NETWORK") }
        default:
            return nil
        }
        guard let responder = datapath.dhcpResponder(network: args[0]) else {
            let known = datapath.dhcpResponders.map(\.network).joined(separator: ", ")
            return .failure("\(args[0]): no DHCP responder for this network (networks: \(known.isEmpty ? "none" : known))")
        }
        return .success(request.command == "dhcp-stats" ? datapath.dhcpStatsDescription(responder)
                                                         : datapath.dhcpLeasesDescription(responder))
    }
}
