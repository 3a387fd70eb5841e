import XDPDatapath
import XDPPacket

extension SwitchControl {
    /// Router commands; nil when `request` is not one of them.
    ///
    /// - `route-show ROUTER`: the routing table, like `ip route` in the qrouter- namespace
    /// - `route-get ROUTER ADDRESS`: the route and next hop one destination takes (`ip route get`)
    /// - `neigh-show ROUTER`: the neighbours the router learned (`ip neigh`)
    /// - `nat-show ROUTER`: the router's NAT connections (`conntrack -L` in the namespace) and floating IPs
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
        case "router-stats": return .success(datapath.routerStatsDescription(router))
        default:
            guard let address = IPv4Address(args[1]) else { return .failure("route-get: \(args[1]): expected an IPv4 address") }
            return .success(datapath.routeGetDescription(router, destination: address))
        }
    }
}
