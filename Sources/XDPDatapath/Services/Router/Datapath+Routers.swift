import XDPPacket

// What the tools print about routers: `xdpswitch show` (interfaces and routes, after the
// bridges), `route-show` (`ip route` in the qrouter- namespace, interfaces by name),
// `route-get` (`ip route get`), `neigh-show` (`ip neigh`) and `router-stats`. Control
// path: called between batches on the thread that owns the datapath.
extension Datapath {
    /// The routers in the layout of `showDescription`: each interface with its MAC,
    /// address and MTU, then the routing table.
    public func routersDescription() -> String {
        var out = ""
        for router in routers {
            out += "    Router \(router.name)\n"
            for interface in router.interfaces {
                let bridgeName = port(named: interface.name).flatMap { self.bridge(of: $0) }?.name ?? "-"
                out += "        Interface \(interface.name)\n"
                out += "            bridge: \(bridgeName)\n"
                out += "            mac: \(interface.mac)\n"
                out += "            address: \(interface.address)/\(interface.prefixLength)\n"
                if interface.mtu != 1500 { out += "            mtu: \(interface.mtu)\n" }
            }
            out += "        routes:\n"
            for line in routeLines(router) { out += "            \(line)\n" }
        }
        return out
    }

    /// `ip route` lines of `router`, interfaces by name.
    func routeLines(_ router: Router) -> [String] {
        router.routes.map { route in
            let head = route.origin == .default ? "default" : route.prefix.description
            let device = router.interfaces[route.interface]
            if let hop = route.nextHop { return "\(head) via \(hop) dev \(device.name)" + (route.origin == .static ? " proto static" : "") }
            return "\(head) dev \(device.name) proto kernel scope link src \(device.address)"
        }
    }

    /// `route-show ROUTER`: the routing table like `ip route` in the namespace.
    public func routeDescription(_ router: Router) -> String {
        routeLines(router).map { $0 + "\n" }.joined()
    }

    /// `route-get ROUTER ADDRESS`: the route one destination takes, like `ip route get`.
    public func routeGetDescription(_ router: Router, destination: IPv4Address) -> String {
        if let local = router.interfaces.first(where: { $0.address == destination }) {
            return "local \(destination) dev \(local.name) src \(local.address)\n"
        }
        guard let route = router.route(to: destination) else { return "\(destination): no route (network unreachable)\n" }
        let device = router.interfaces[route.interface]
        let via = route.nextHop.map { " via \($0)" } ?? ""
        let hop = route.nextHop ?? destination
        let neighbour = router.neighbourTable[hop].map { " lladdr \($0)" } ?? " (neighbour unknown)"
        return "\(destination)\(via) dev \(device.name) src \(device.address)\(neighbour)\n"
    }

    /// `neigh-show ROUTER`: the neighbours the router learned, like `ip neigh`, sorted
    /// by address; then the next hops with frames waiting for an ARP answer.
    public func neighbourDescription(_ router: Router) -> String {
        var out = ""
        for (address, mac) in router.neighbourTable.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let device = router.interfaces.first { $0.subnet.contains(address) }?.name ?? "?"
            out += "\(address) dev \(device) lladdr \(mac) REACHABLE\n"
        }
        if router.pendingCount > 0 { out += "(\(router.pendingCount) frames waiting for ARP answers)\n" }
        return out
    }

    /// `nat-show ROUTER`: the router's translated connections, as `dpctl/dump-conntrack`
    /// prints them (the reply tuple is the translated one), then its floating IPs.
    public func natDescription(_ router: Router) -> String {
        guard let tracker = router.conntrack else { return "\(router.name): no NAT configured\n" }
        var out = tracker.dump().map { $0 + "\n" }.joined()
        for f in router.configuration.floatingIPs { out += "floating \(f.floating) -> \(f.fixed)\n" }
        return out
    }

    /// `router-stats [ROUTER]`: each router's counters, its drops by reason and its
    /// interfaces' packets and bytes.
    public func routerStatsDescription(_ only: Router? = nil) -> String {
        var out = ""
        for router in routers where only == nil || only === router {
            let s = router.stats
            out += "\(router.name): forwarded=\(s.forwarded) echo-replies=\(s.echoReplies) icmp-errors=\(s.icmpErrorsSent)"
            out += " icmp-rate-limited=\(s.icmpErrorsRateLimited) arp-requests=\(s.arpRequestsSent) arp-replies=\(s.arpRepliesSent)"
            out += " neighbours-learned=\(s.neighboursLearned) waiting=\(router.pendingCount)\n"
            if router.conntrack != nil {
                out += "    nat: connections=\(s.natConnections) created=\(s.natConnectionsCreated)"
                out += " translated=\(s.natTranslated) flushed=\(s.natConnectionsFlushed)\n"
            }
            out += "    drops: \(Datapath.dropList(s.drops))\n"
            for i in s.interfaces {
                out += "    \(i.name): rx \(i.rxPackets) pkts \(i.rxBytes) bytes, tx \(i.txPackets) pkts \(i.txBytes) bytes\n"
            }
        }
        return out
    }
}
