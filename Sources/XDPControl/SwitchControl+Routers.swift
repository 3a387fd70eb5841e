import XDPDatapath
import XDPPacket

extension SwitchControl {
    /// Router commands, like `ip route`, `ip neigh` and `conntrack -L` in a Neutron
    /// `qrouter-` namespace; floating IPs change at run time (their connections are
    /// flushed when one goes or moves).
    static let routerCommands: [ControlCommand] = [
        ControlCommand("route-show", "ROUTER", summary: "a router's routing table, like ip route in its qrouter- namespace") { call in
            SwitchText.routes(call.datapath.routerSnapshot(try router(call)))
        },
        ControlCommand("route-get", "ROUTER ADDRESS", summary: "the route and next hop for one destination, like ip route get") { call in
            let router = try router(call)
            guard let address = IPv4Address(call.arguments[1]) else {
                throw ControlCommand.Failure("route-get: \(call.arguments[1]): expected an IPv4 address")
            }
            return SwitchText.routeGet(router.routeDecision(to: address))
        },
        ControlCommand("neigh-show", "ROUTER", summary: "the neighbours a router learned, like ip neigh") { call in
            SwitchText.neighbours(call.datapath.routerSnapshot(try router(call)))
        },
        ControlCommand("nat-show", "ROUTER", summary: "a router's NAT connections (translated reply tuples) and floating IPs") { call in
            SwitchText.nat(call.datapath.routerSnapshot(try router(call)))
        },
        ControlCommand("floatingip-associate", "ROUTER FLOATING FIXED",
                       summary: "add or move a floating IP (its connections are flushed when it moves)") { call in
            try floatingIPCommand("floatingip-associate", call.arguments, router: try router(call))
        },
        ControlCommand("floatingip-disassociate", "ROUTER FLOATING", summary: "remove a floating IP and flush its connections") { call in
            try floatingIPCommand("floatingip-disassociate", call.arguments, router: try router(call))
        },
        ControlCommand("router-stats", "[ROUTER]", summary: "routers' forwarding counters, drops by reason, interface counters") { call in
            SwitchText.routerStats(call.arguments.isEmpty ? call.datapath.routerSnapshots() : [call.datapath.routerSnapshot(try router(call))])
        },
    ]

    /// The router the first argument names, or a failure listing the routers.
    private static func router(_ call: ControlCommand.Invocation) throws(ControlCommand.Failure) -> DatapathRouter {
        try found(call.datapath.router(named: call.arguments[0]), call.arguments[0], missing: "no such router",
                  known: "routers", call.datapath.routers.map(\.name))
    }

    /// `element`, or a failure saying `name: missing (known: a, b)` (`none` when empty).
    static func found<T>(_ element: T?, _ name: String, missing: String, known: String, _ names: [String]) throws(ControlCommand.Failure) -> T {
        guard let element else {
            throw ControlCommand.Failure("\(name): \(missing) (\(known): \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        return element
    }

    /// `floatingip-associate` / `floatingip-disassociate` on `router` (arguments checked for count).
    private static func floatingIPCommand(_ command: String, _ args: [String], router: DatapathRouter) throws(ControlCommand.Failure) -> String {
        guard let floating = IPv4Address(args[1]) else { throw ControlCommand.Failure("\(command): \(args[1]): expected an IPv4 address") }
        var list = router.configuration.floatingIPs.filter { $0.floating != floating }
        if command == "floatingip-associate" {
            guard let fixed = IPv4Address(args[2]) else { throw ControlCommand.Failure("\(command): \(args[2]): expected an IPv4 address") }
            list.append(.init(floating: floating, fixed: fixed))
        } else if list.count == router.configuration.floatingIPs.count {
            throw ControlCommand.Failure("\(command): \(floating) is not a floating IP of \(router.name)")
        }
        do {
            let flushed = try router.updateFloatingIPs(list)
            return "\(router.name): \(list.count) floating IPs, \(flushed) connections flushed\n"
        } catch {
            throw ControlCommand.Failure("\(command): \(error)")
        }
    }
}
