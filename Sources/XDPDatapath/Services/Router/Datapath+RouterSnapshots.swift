import XDPPacket

// What a router holds, as plain values: its interfaces and routing table (`ip addr`,
// `ip route` in the qrouter- namespace), its neighbours (`ip neigh`), its translated
// connections and floating IPs, its counters (`RouterSnapshot`); and the route one
// destination takes (`ip route get`, `RouteDecision`). The tools' text is built from them
// above the datapath, in XDPControl. Control path: called between batches on the thread
// that owns the datapath.

/// A router at one moment: interfaces, routes, neighbours, NAT and counters (see
/// `Datapath.routerSnapshot(_:)`).
public struct RouterSnapshot: Sendable, Equatable {
    /// One interface of the router and the bridge its port is on.
    public struct Interface: Sendable, Equatable {
        /// The device name (`qr-…`, `qg-…`).
        public var name: String
        /// The bridge the interface's port is on; nil when no port carries it.
        public var bridge: String?
        /// The interface's MAC.
        public var mac: MACAddress
        /// The interface's address.
        public var address: IPv4Address
        /// The subnet's prefix length.
        public var prefixLength: Int
        /// Largest IPv4 packet sent out of the interface.
        public var mtu: Int

        /// An interface.
        public init(name: String, bridge: String?, mac: MACAddress, address: IPv4Address, prefixLength: Int, mtu: Int) {
            self.name = name
            self.bridge = bridge
            self.mac = mac
            self.address = address
            self.prefixLength = prefixLength
            self.mtu = mtu
        }
    }

    /// One route of the routing table, interfaces by name.
    public struct Route: Sendable, Equatable, CustomStringConvertible {
        /// The destinations (`0.0.0.0/0` for the default route).
        public var prefix: IPv4Prefix
        /// Connected, static or default.
        public var origin: RouterConfiguration.ResolvedRoute.Origin
        /// The gateway; nil for a connected route.
        public var nextHop: IPv4Address?
        /// The interface packets leave by.
        public var device: String
        /// That interface's address (the source of packets the router itself sends).
        public var source: IPv4Address

        /// A route.
        public init(prefix: IPv4Prefix, origin: RouterConfiguration.ResolvedRoute.Origin, nextHop: IPv4Address?,
                    device: String, source: IPv4Address) {
            self.prefix = prefix
            self.origin = origin
            self.nextHop = nextHop
            self.device = device
            self.source = source
        }

        /// The route as `ip route` prints it: `default via 172.24.4.1 dev qg-1`,
        /// `10.0.0.0/24 dev qr-1 proto kernel scope link src 10.0.0.1`.
        public var description: String {
            let head = origin == .default ? "default" : prefix.description
            if let hop = nextHop { return "\(head) via \(hop) dev \(device)" + (origin == .static ? " proto static" : "") }
            return "\(head) dev \(device) proto kernel scope link src \(source)"
        }
    }

    /// One neighbour the router learned.
    public struct Neighbour: Sendable, Equatable, CustomStringConvertible {
        /// Its address.
        public var address: IPv4Address
        /// Its MAC.
        public var mac: MACAddress
        /// The interface whose subnet holds the address; nil when none does.
        public var device: String?

        /// A neighbour.
        public init(address: IPv4Address, mac: MACAddress, device: String?) {
            self.address = address
            self.mac = mac
            self.device = device
        }

        /// The neighbour as `ip neigh` prints it: `10.0.0.5 dev qr-1 lladdr fa:16:3e:… REACHABLE`.
        public var description: String { "\(address) dev \(device ?? "?") lladdr \(mac) REACHABLE" }
    }

    /// The router's name.
    public var name: String
    /// Its interfaces, in configuration order.
    public var interfaces: [Interface]
    /// Its routing table, in lookup-table order (connected, static, default).
    public var routes: [Route]
    /// The neighbours it learned, sorted by address.
    public var neighbours: [Neighbour]
    /// Frames waiting for an ARP answer.
    public var waitingFrames: Int
    /// Whether the router translates (SNAT, floating IPs or metadata): it has a NAT tracker.
    public var natConfigured: Bool
    /// The translated connections (the reply tuple is the translated one), sorted as
    /// `dump-conntrack` prints them (by their `description`); empty without NAT.
    public var natConnections: [ConnectionInfo]
    /// The floating IPs, in configuration order.
    public var floatingIPs: [RouterConfiguration.FloatingIP]
    /// Its counters.
    public var stats: RouterStats

    /// A router snapshot.
    public init(name: String, interfaces: [Interface], routes: [Route], neighbours: [Neighbour], waitingFrames: Int,
                natConfigured: Bool, natConnections: [ConnectionInfo], floatingIPs: [RouterConfiguration.FloatingIP],
                stats: RouterStats) {
        self.name = name
        self.interfaces = interfaces
        self.routes = routes
        self.neighbours = neighbours
        self.waitingFrames = waitingFrames
        self.natConfigured = natConfigured
        self.natConnections = natConnections
        self.floatingIPs = floatingIPs
        self.stats = stats
    }
}

/// The route one destination takes through a router, like `ip route get` (see
/// `DatapathRouter.routeDecision(to:)`).
public enum RouteDecision: Sendable, Equatable, CustomStringConvertible {
    /// The destination is one of the router's own addresses, on `device`.
    case local(IPv4Address, device: String)
    /// The destination leaves by `device` (source `source`), to `nextHop` (nil: directly),
    /// whose MAC is `neighbour` when the router knows it.
    case forward(IPv4Address, nextHop: IPv4Address?, device: String, source: IPv4Address, neighbour: MACAddress?)
    /// No route covers the destination.
    case unreachable(IPv4Address)

    /// The decision as `ip route get` prints it, on one line:
    /// `10.0.0.5 dev qr-1 src 10.0.0.1 lladdr fa:16:3e:…`, `8.8.8.8: no route (network unreachable)`.
    public var description: String {
        switch self {
        case .local(let destination, let device):
            return "local \(destination) dev \(device) src \(destination)"
        case .forward(let destination, let nextHop, let device, let source, let neighbour):
            let via = nextHop.map { " via \($0)" } ?? ""
            let known = neighbour.map { " lladdr \($0)" } ?? " (neighbour unknown)"
            return "\(destination)\(via) dev \(device) src \(source)\(known)"
        case .unreachable(let destination):
            return "\(destination): no route (network unreachable)"
        }
    }
}

extension DatapathRouter {
    /// The route `destination` takes now, and whether its next hop's MAC is known.
    public func routeDecision(to destination: IPv4Address) -> RouteDecision {
        if let local = interfaces.first(where: { $0.address == destination }) {
            return .local(destination, device: local.name)
        }
        guard let route = route(to: destination) else { return .unreachable(destination) }
        let device = interfaces[route.interface]
        return .forward(destination, nextHop: route.nextHop, device: device.name, source: device.address,
                        neighbour: neighbourTable[route.nextHop ?? destination])
    }
}

extension Datapath {
    /// `router` at this moment: its interfaces (with the bridge of each one's port), routes,
    /// neighbours, NAT connections, floating IPs and counters.
    public func routerSnapshot(_ router: DatapathRouter) -> RouterSnapshot {
        let interfaces = router.interfaces.map { interface in
            RouterSnapshot.Interface(name: interface.name, bridge: port(named: interface.name).flatMap { self.bridge(of: $0) }?.name,
                                     mac: interface.mac, address: interface.address, prefixLength: interface.prefixLength,
                                     mtu: interface.mtu)
        }
        let routes = router.routes.map { route in
            let device = router.interfaces[route.interface]
            return RouterSnapshot.Route(prefix: route.prefix, origin: route.origin, nextHop: route.nextHop,
                                        device: device.name, source: device.address)
        }
        let neighbours = router.neighbourTable.sorted { $0.key.rawValue < $1.key.rawValue }.map { address, mac in
            RouterSnapshot.Neighbour(address: address, mac: mac, device: router.interfaces.first { $0.subnet.contains(address) }?.name)
        }
        return RouterSnapshot(name: router.name, interfaces: interfaces, routes: routes, neighbours: neighbours,
                              waitingFrames: router.pendingCount, natConfigured: router.conntrack != nil,
                              natConnections: router.conntrack?.sortedConnections() ?? [],
                              floatingIPs: router.configuration.floatingIPs, stats: router.stats)
    }

    /// Every router at this moment, in configuration order.
    public func routerSnapshots() -> [RouterSnapshot] { routers.map { routerSnapshot($0) } }
}
