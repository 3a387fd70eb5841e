import XDPDatapath
import XDPPacket

/// The commands a running switch answers on its control socket, as a library function so
/// an embedding program can serve the same commands from its own engine.
///
/// Called on the thread that owns the datapath (the engine's worker, via
/// `Engine.perform`), with that thread's clock.
public enum SwitchControl {
    /// The commands, with their arguments, as `xdpswitch --help` lists them.
    public static let commands: [String: String] = [
        "show": "bridges and ports, like ovs-vsctl show",
        "stats": "per-port counters and drop reasons",
        "fdb/show BRIDGE": "the MAC learning table, like ovs-appctl fdb/show",
        "dump-flows BRIDGE": "the flows with counters, like ovs-ofctl dump-flows",
        "add-flow BRIDGE FLOW": "add (or replace) a flow",
        "del-flows BRIDGE [FLOW] [--strict]": "delete the selected flows",
        "mod-flows BRIDGE FLOW [--strict]": "replace the selected flows' actions",
        "trace BRIDGE FLOW": "the tables and flows a packet hits, like ofproto/trace",
        "dump-conntrack [zone=N]": "tracked connections, like ovs-appctl dpctl/dump-conntrack",
        "flush-conntrack [zone=N] [TUPLE]": "remove tracked connections (all, by zone, by ct_nw_src=...,ct_tp_dst=...)",
        "conntrack-stats": "connections per zone and conntrack counters",
        "set-security-groups FILE": "make FILE's security_groups:/ports: the firewall (docs/security-groups.md)",
        "route-show ROUTER": "a router's routing table, like ip route in its qrouter- namespace",
        "route-get ROUTER ADDRESS": "the route and next hop for one destination, like ip route get",
        "neigh-show ROUTER": "the neighbours a router learned, like ip neigh",
        "nat-show ROUTER": "a router's NAT connections (translated reply tuples) and floating IPs",
        "floatingip-associate ROUTER FLOATING FIXED": "add or move a floating IP (its connections are flushed when it moves)",
        "floatingip-disassociate ROUTER FLOATING": "remove a floating IP and flush its connections",
        "router-stats [ROUTER]": "routers' forwarding counters, drops by reason, interface counters",
        "dhcp-stats [NETWORK]": "DHCP responders' messages, replies and drops by reason",
        "dhcp-leases NETWORK": "a DHCP responder's static leases (MAC,hostname,address)",
        "dhcp-host-add NETWORK MAC ADDRESS [HOSTNAME]": "add or replace a static DHCP lease",
        "dhcp-host-del NETWORK MAC": "remove a static DHCP lease",
    ]

    public static func handle(_ request: ControlSocket.Request, datapath: Datapath, now: UInt64) -> ControlSocket.Reply {
        let args = request.arguments
        switch request.command {
        case "show":
            return .success(datapath.showDescription())
        case "stats":
            return .success(datapath.statsDescription())
        case "fdb/show":
            guard args.count == 1 else { return .failure("usage: fdb/show BRIDGE") }
            guard let bridge = datapath.bridge(named: args[0]) else { return .failure("\(args[0]): no such bridge") }
            return .success(datapath.fdbDescription(bridge, now: now))
        default:
            if let flowReply = handleFlowCommand(request, datapath: datapath, now: now) { return flowReply }
            if let reply = handleConntrackCommand(request, datapath: datapath) { return reply }
            if let reply = handleSecurityGroupCommand(request, datapath: datapath, now: now) { return reply }
            if let reply = handleRouterCommand(request, datapath: datapath) { return reply }
            if let reply = handleDHCPCommand(request, datapath: datapath) { return reply }
            return .failure("unknown command \"\(request.command)\"")
        }
    }
}
