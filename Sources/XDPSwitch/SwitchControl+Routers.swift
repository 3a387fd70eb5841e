import XDPDatapath
import XDPPacket

extension SwitchControl {
    /// Router commands; nil when `request` is not one of them.
    ///
    /// - `route-show ROUTER`: the routing table, like `ip route` in the qrouter- namespace
    /// - `route-get ROUTER ADDRESS`: the route and next hop one destination takes (`ip route get`)
    /// - `neigh-show ROUTER`: the neighbours the router learned (`ip neigh`)
    /// - `nat-show ROUTER`: the router's NAT connections (`conntrack -L` in the namespace) and floating IPs
    /// - `floatingip-associate ROUTER FLOATING FIXED`, `floatingip-disassociate ROUTER FLOATING`:
    ///   change a floating IP at run time (its connections are flushed when it goes or moves)
    /// - `router-stats [ROUTER]`: forwarding counters, drops by reason, per-interface counters
    static func handleRouterCommand(_ request: ControlSocket.Request, datapath: Datapath) -> ControlSocket.Reply? {
        let args = request.arguments
        let usage: String
        let count: ClosedRange<Int>
        switch request.command {
        case "route-show": (usage, count) = ("route-show ROUTER", 1...1)
        case "route-get": (usage, count) = ("route-get ROUTER ADDRESS", 2...2)
        case "neigh-show": (usage, count) = ("neigh-show ROUTER", 1...1)
        case "nat-show": (usage, count) = ("nat-show ROUTER", 1...1)
        case "floatingip-associate": (usage, count) = ("floatingip-associate ROUTER FLOATING FIXED", 3...3)
        case "floatingip-disassociate": (usage, count) = ("floatingip-disassociate ROUTER FLOATING", 2...2)
        case "router-stats":
            if args.isEmpty { return .success(datapath.routerStatsDescription()) }
            (usage, count) = ("router-stats [ROUTER]", 1...1)
        default: return nil
        }
        guard count.contains(args.count) else { return .failure("usage: \(usage)") }
        guard let router = datapath.router(named: args[0]) else {
            let known = datapath.routers.map(\.name).joined(separator: ", ")
            return .failure("\(args[0]): no such router (routers: \(known.isEmpty ? "none" : known))")
        }
        switch request.command {
        case "route-show": return .success(datapath.routeDescription(router))
        case "neigh-show": return .success(datapath.neighbourDescription(router))
        case "nat-show": return .success(datapath.natDescription(router))
        case "floatingip-associate", "floatingip-disassociate":
            return floatingIPCommand(request.command, args, router: router)
        case "router-stats": return .success(datapath.routerStatsDescription(router))
        default:
            guard let address = IPv4Address(args[1]) else { return .failure("route-get: \(args[1]): expected an IPv4 address") }
            return .success(datapath.routeGetDescription(router, destination: address))
        }
    }

    /// `floatingip-associate` / `floatingip-disassociate` on `router` (arguments checked for count).
    static func floatingIPCommand(_ command: String, _ args: [String], router: Router) -> ControlSocket.Reply {
        guard let floating = IPv4Address(args[1]) else { return .failure("\(command): \(args[1]): expected an IPv4 address") }
        var list = router.configuration.floatingIPs.filter { $0.floating != floating }
        if command == "floatingip-associate" {
            guard let fixed = IPv4Address(args[2]) else { return .failure("\(command): \(args[2]): expected an IPv4 address") }
            list.append(.init(floating: floating, fixed: fixed))
        } else if list.count == router.configuration.floatingIPs.count {
            return .failure("\(command): \(floating) is not a floating IP of \(router.name)")
        }
        do {
            let flushed = try router.updateFloatingIPs(list)
            return .success("\(router.name): \(list.count) floating IPs, \(flushed) connections flushed\n")
        } catch {
            return .failure("\(command): \(error)")
        }
    }
}
