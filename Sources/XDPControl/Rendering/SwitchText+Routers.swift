import XDPDatapath
import XDPPacket

extension SwitchText {
    /// The routers in the layout of `show`: each interface with its bridge, MAC, address
    /// and MTU, then the routing table.
    public static func routers(_ routers: [RouterSnapshot]) -> String {
        var out = ""
        for router in routers {
            out += "    Router \(router.name)\n"
            for interface in router.interfaces {
                out += "        Interface \(interface.name)\n"
                out += "            bridge: \(interface.bridge ?? "-")\n"
                out += "            mac: \(interface.mac)\n"
                out += "            address: \(interface.address)/\(interface.prefixLength)\n"
                if interface.mtu != 1500 { out += "            mtu: \(interface.mtu)\n" }
            }
            out += "        routes:\n"
            for route in router.routes { out += "            \(route)\n" }
        }
        return out
    }

    /// `route-show`: a router's routing table like `ip route` in its namespace.
    public static func routes(_ router: RouterSnapshot) -> String {
        lines(router.routes)
    }

    /// `route-get`: the route one destination takes, like `ip route get`.
    public static func routeGet(_ decision: RouteDecision) -> String {
        decision.description + "\n"
    }

    /// `neigh-show`: the neighbours a router learned like `ip neigh`, then the frames
    /// waiting for an ARP answer when any.
    public static func neighbours(_ router: RouterSnapshot) -> String {
        lines(router.neighbours) + (router.waitingFrames > 0 ? "(\(router.waitingFrames) frames waiting for ARP answers)\n" : "")
    }

    /// `nat-show`: a router's translated connections as `dpctl/dump-conntrack` prints them,
    /// then its floating IPs.
    public static func nat(_ router: RouterSnapshot) -> String {
        guard router.natConfigured else { return "\(router.name): no NAT configured\n" }
        var out = lines(router.natConnections)
        for f in router.floatingIPs { out += "floating \(f.floating) -> \(f.fixed)\n" }
        return out
    }

    /// `router-stats`: each router's counters, its drops by reason and its interfaces'
    /// packets and bytes.
    public static func routerStats(_ routers: [RouterSnapshot]) -> String {
        var out = ""
        for router in routers {
            let s = router.stats
            out += "\(router.name): forwarded=\(s.forwarded) echo-replies=\(s.echoReplies) icmp-errors=\(s.icmpErrorsSent)"
            out += " icmp-rate-limited=\(s.icmpErrorsRateLimited) arp-requests=\(s.arpRequestsSent) arp-replies=\(s.arpRepliesSent)"
            out += " neighbours-learned=\(s.neighboursLearned) waiting=\(router.waitingFrames)\n"
            if router.natConfigured {
                out += "    nat: connections=\(s.natConnections) created=\(s.natConnectionsCreated)"
                out += " translated=\(s.natTranslated) flushed=\(s.natConnectionsFlushed)\n"
            }
            out += "    drops: \(dropList(s.drops))\n"
            for i in s.interfaces {
                out += "    \(i.name): rx \(i.rxPackets) pkts \(i.rxBytes) bytes, tx \(i.txPackets) pkts \(i.txBytes) bytes\n"
            }
        }
        return out
    }
}
