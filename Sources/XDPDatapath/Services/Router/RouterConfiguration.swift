import XDPPacket

/// What a `DatapathRouter` is built from: the reference design's `qrouter-<id>` namespace as data.
///
/// ```swift
/// let r1 = RouterConfiguration(name: "router1", interfaces: [
///     .init(name: "qr-6a1b2c3d-4e", mac: MACAddress("fa:16:3e:00:00:01")!, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
///     .init(name: "qg-7f8e9d0c-1b", mac: MACAddress("fa:16:3e:00:00:02")!, address: IPv4Address(172, 24, 4, 227), prefixLength: 28),
/// ], defaultGateway: IPv4Address(172, 24, 4, 225))
/// ```
///
/// Routes come from three places, as in the namespace's `ip route`:
/// - **connected**: each interface's subnet (`10.1.0.0/24 dev qr-…`), derived, never written;
/// - **static**: `prefix via nextHop` (Neutron's router `routes` attribute, "extra routes");
/// - **default**: `default via defaultGateway` (the external gateway of the `qg-` interface).
/// Next hops must lie in a connected subnet (Neutron refuses others too); the interface a
/// route leaves by is the one whose subnet holds its next hop.
public struct RouterConfiguration: Sendable, Equatable {
    /// One interface of the router: a `qr-` port on an internal network (the subnet's
    /// gateway address) or the `qg-` port on the external network.
    public struct Interface: Sendable, Equatable {
        /// The device name (`qr-XXXXXXXX-XX`, `qg-XXXXXXXX-XX`), at most 15 bytes like a Linux device.
        public var name: String
        /// The interface's MAC: the router answers ARP with it and sends from it.
        public var mac: MACAddress
        /// The interface's address.
        public var address: IPv4Address
        /// The subnet's prefix length (1–32).
        public var prefixLength: Int
        /// Largest IPv4 packet sent out of this interface (68–9000). Larger ones are refused
        /// (ICMP fragmentation needed when DF is set; the router does not fragment).
        public var mtu: Int

        /// An interface `address/prefixLength` with `mac`.
        public init(name: String, mac: MACAddress, address: IPv4Address, prefixLength: Int, mtu: Int = 1500) {
            self.name = name
            self.mac = mac
            self.address = address
            self.prefixLength = prefixLength
            self.mtu = mtu
        }

        /// The connected subnet, host bits cleared (nil when `prefixLength` is out of range).
        public var subnet: IPv4Prefix? { IPv4Prefix(address, length: prefixLength) }
    }

    /// A static route: packets for `prefix` go to `nextHop`.
    public struct Route: Sendable, Equatable {
        /// The destinations (`destination` in Neutron's extra routes).
        public var prefix: IPv4Prefix
        /// The gateway; it must lie in a subnet of one of the router's interfaces.
        public var nextHop: IPv4Address

        /// `prefix via nextHop`.
        public init(prefix: IPv4Prefix, nextHop: IPv4Address) {
            self.prefix = prefix
            self.nextHop = nextHop
        }
    }

    /// Source NAT of the internal subnets behind the gateway address (Neutron's
    /// `enable_snat` on the router's external gateway).
    public struct SNAT: Sendable, Equatable {
        /// Translate connections from internal subnets that leave by the gateway interface
        /// to the gateway interface's address (iptables `-o qg-… -j SNAT --to-source`).
        public var enabled: Bool
        /// The lowest source port (or ICMP query identifier) a translated connection may
        /// get. A connection keeps its own port when it is in the range and free.
        public var portMin: UInt16
        /// The highest such port, inclusive.
        public var portMax: UInt16

        /// SNAT over `portMin...portMax` (default: enabled, ports 1024–65535).
        public init(enabled: Bool = true, portMin: UInt16 = 1024, portMax: UInt16 = 65535) {
            self.enabled = enabled
            self.portMin = portMin
            self.portMax = portMax
        }

        /// No default SNAT (floating IPs still translate).
        public static let disabled = SNAT(enabled: false)
    }

    /// A floating IP: `floating` on the external network is `fixed` (a VM's address on an
    /// internal subnet) 1:1, both ways (DNAT in, SNAT out), before the default SNAT.
    public struct FloatingIP: Sendable, Equatable, Hashable {
        /// The public address (answered by ARP on the gateway interface when in its subnet).
        public var floating: IPv4Address
        /// The VM's address behind the router.
        public var fixed: IPv4Address

        /// `floating` ↔ `fixed`.
        public init(floating: IPv4Address, fixed: IPv4Address) {
            self.floating = floating
            self.fixed = fixed
        }
    }

    /// The metadata redirect: TCP to `address:port` (169.254.169.254:80) arriving on an
    /// internal interface is DNATed to `endpoint:endpointPort` (the metadata proxy; the
    /// reference design's namespace runs it on port 9697). The endpoint must be a host the router routes
    /// to and whose replies come back through the router (the router has no TCP stack of its
    /// own); the connection is never source-NATed, so the proxy sees the VM's address.
    public struct Metadata: Sendable, Equatable {
        /// The well-known metadata address.
        public var address: IPv4Address
        /// The well-known metadata port.
        public var port: UInt16
        /// Where the connections go.
        public var endpoint: IPv4Address
        /// The endpoint's port.
        public var endpointPort: UInt16

        /// `address:port` → `endpoint:endpointPort`.
        public init(endpoint: IPv4Address, endpointPort: UInt16 = 9697,
                    address: IPv4Address = IPv4Address(169, 254, 169, 254), port: UInt16 = 80) {
            self.address = address
            self.port = port
            self.endpoint = endpoint
            self.endpointPort = endpointPort
        }
    }

    /// The router's name (Neutron's router id or name); errors and stats carry it.
    public var name: String
    /// The `qr-` and `qg-` interfaces, in the order `DatapathRouter.receive(…on:)` numbers them.
    public var interfaces: [Interface]
    /// Static routes ("extra routes").
    public var routes: [Route]
    /// `default via` this address; none: no default route.
    public var defaultGateway: IPv4Address?
    /// Frames that may wait for one next hop's ARP answer (0–4096); more are dropped.
    public var pendingLimit: Int
    /// Frames that may wait for ARP answers in all, whatever the next hop (0–65536): a
    /// sweep of a connected /16 cannot take the frame pool.
    public var pendingTotalLimit: Int
    /// Time between two ARP requests for one next hop (Linux `retrans_time_ms`, 1 s).
    public var arpRetransmitInterval: Duration
    /// ARP requests for a next hop before its waiting frames are given up, each answered
    /// with ICMP host unreachable (Linux `mcast_solicit`, 3).
    public var arpMaximumRequests: Int
    /// Neighbours the router can remember (power of two not required; 1–1048576).
    public var neighbourCapacity: Int
    /// ICMP errors sent per second in the long run (0–1000000; a token bucket). RFC 1812
    /// §4.3.2.8 asks routers to limit them; Linux's default is 1000 per second, burst 50.
    public var icmpErrorsPerSecond: Int
    /// Errors that may go out at once (0–1000000): what the bucket holds when full, and
    /// at the start. A burst of 0 sends no ICMP errors at all.
    public var icmpErrorBurst: Int
    /// The external gateway interface (`qg-…`) by name; nil: the interface whose name starts
    /// with `qg-`, else the one the default gateway is on. NAT needs one.
    public var gatewayInterface: String?
    /// Default source NAT (disabled unless set).
    public var snat: SNAT
    /// Floating IPs (each floating and each fixed address at most once).
    public var floatingIPs: [FloatingIP]
    /// The metadata redirect, nil: none.
    public var metadata: Metadata?
    /// Connections the router's NAT tracker holds (entries allocated when NAT is
    /// configured; 16–16777216). At this many, new translated connections are refused.
    public var natConnections: Int
    /// Seed of the NAT tracker's hash (which also picks translated ports); nil picks a
    /// random one. `DatapathConfiguration.randomSeed` fills it for reproducible runs.
    public var natHashSeed: UInt64? = nil
    /// The file the NAT connections are kept in across restarts (StateFile.swift); set
    /// from `DatapathConfiguration.stateDirectory`. nil: ordinary memory.
    public var natStateFile: String? = nil

    /// A router; see the type's documentation for how routes are derived.
    public init(name: String, interfaces: [Interface], routes: [Route] = [], defaultGateway: IPv4Address? = nil,
                pendingLimit: Int = 16, pendingTotalLimit: Int = 256, arpRetransmitInterval: Duration = .seconds(1),
                arpMaximumRequests: Int = 3, neighbourCapacity: Int = 4096, icmpErrorsPerSecond: Int = 1000,
                icmpErrorBurst: Int = 50, gatewayInterface: String? = nil, snat: SNAT = .disabled,
                floatingIPs: [FloatingIP] = [], metadata: Metadata? = nil, natConnections: Int = 16384) {
        self.name = name
        self.interfaces = interfaces
        self.routes = routes
        self.defaultGateway = defaultGateway
        self.pendingLimit = pendingLimit
        self.pendingTotalLimit = pendingTotalLimit
        self.arpRetransmitInterval = arpRetransmitInterval
        self.arpMaximumRequests = arpMaximumRequests
        self.neighbourCapacity = neighbourCapacity
        self.icmpErrorsPerSecond = icmpErrorsPerSecond
        self.icmpErrorBurst = icmpErrorBurst
        self.gatewayInterface = gatewayInterface
        self.snat = snat
        self.floatingIPs = floatingIPs
        self.metadata = metadata
        self.natConnections = natConnections
    }

    /// True when anything is translated: SNAT enabled, a floating IP, or the metadata redirect.
    public var usesNAT: Bool { snat.enabled || !floatingIPs.isEmpty || metadata != nil }

    /// The index of the external gateway interface (see `gatewayInterface`), nil when
    /// there is none.
    public var gatewayInterfaceIndex: Int? {
        if let name = gatewayInterface { return interfaces.firstIndex { $0.name == name } }
        if let i = interfaces.firstIndex(where: { $0.name.hasPrefix("qg-") }) { return i }
        if let gateway = defaultGateway { return interfaces.firstIndex { $0.subnet?.contains(gateway) == true } }
        return nil
    }

    /// What a route resolves to once validated.
    public struct ResolvedRoute: Sendable, Equatable, CustomStringConvertible {
        /// Where the route came from.
        public enum Origin: Sendable, Equatable {
            /// An interface's subnet (`proto kernel scope link`).
            case connected
            /// A static route.
            case `static`
            /// The default route.
            case `default`
        }
        /// The destinations.
        public var prefix: IPv4Prefix
        /// Index in `interfaces` of the interface packets leave by.
        public var interface: Int
        /// The gateway; nil for a connected route (the destination itself is the next hop).
        public var nextHop: IPv4Address?
        /// Connected, static or default.
        public var origin: Origin

        /// `10.1.0.0/24 dev 0`, `default via 172.24.4.225 dev 1`: like `ip route`, interfaces by index.
        public var description: String {
            let head = origin == .default ? "default" : prefix.description
            return nextHop.map { "\(head) via \($0) dev \(interface)" } ?? "\(head) dev \(interface)"
        }
    }

    /// The connected routes, one per interface, in interface order.
    public var connectedRoutes: [ResolvedRoute] {
        interfaces.enumerated().compactMap { i, interface in
            interface.subnet.map { ResolvedRoute(prefix: $0, interface: i, nextHop: nil, origin: .connected) }
        }
    }

    /// Checks everything and returns the routing table's contents: connected, then static,
    /// then default routes. Errors name the router, the interface (or route) and the key.
    public func resolvedRoutes() throws(DatapathConfigurationError) -> [ResolvedRoute] {
        try validate()
        var table = connectedRoutes
        func onLink(_ hop: IPv4Address) -> Int? {
            // Interface subnets do not overlap (validated), so at most one holds the hop.
            interfaces.firstIndex { $0.subnet?.contains(hop) == true }
        }
        var seen = Set(table.map(\.prefix))
        for (i, route) in routes.enumerated() {
            let subject = "routes[\(i)]"
            guard let out = onLink(route.nextHop) else {
                throw error(subject, "nexthop", "\(route.nextHop) is not in a subnet of the router's interfaces")
            }
            guard !interfaces.contains(where: { $0.address == route.nextHop }) else {
                throw error(subject, "nexthop", "\(route.nextHop) is the router's own address")
            }
            guard route.prefix.length > 0 || defaultGateway == nil else {
                throw error(subject, "destination", "0.0.0.0/0 and default_gateway are both given")
            }
            guard seen.insert(route.prefix).inserted else {
                throw error(subject, "destination", "\(route.prefix) has another route already")
            }
            table.append(ResolvedRoute(prefix: route.prefix, interface: out, nextHop: route.nextHop,
                                       origin: route.prefix.length == 0 ? .default : .static))
        }
        if let gateway = defaultGateway {
            guard let out = onLink(gateway) else {
                throw error(nil, "default_gateway", "\(gateway) is not in a subnet of the router's interfaces")
            }
            guard !interfaces.contains(where: { $0.address == gateway }) else {
                throw error(nil, "default_gateway", "\(gateway) is the router's own address")
            }
            let all = IPv4Prefix(.any, length: 0)!
            table.append(ResolvedRoute(prefix: all, interface: out, nextHop: gateway, origin: .default))
        }
        return table
    }

    /// Checks names, addresses and limits without building the table.
    public func validate() throws(DatapathConfigurationError) {
        guard !name.isEmpty else { throw error(nil, "name", "a router needs a name") }
        guard !interfaces.isEmpty else { throw error(nil, "interfaces", "a router needs at least one interface") }
        for (i, interface) in interfaces.enumerated() {
            let subject = interface.name.isEmpty ? "interfaces[\(i)]" : interface.name
            guard !interface.name.isEmpty, interface.name.utf8.count <= 15 else {
                throw error(subject, "name", "an interface name has 1 to 15 bytes, found \"\(interface.name)\"")
            }
            guard !interfaces[..<i].contains(where: { $0.name == interface.name }) else {
                throw error(subject, "name", "two interfaces are named \(interface.name)")
            }
            guard !interface.mac.isMulticast, interface.mac != .zero else {
                throw error(subject, "mac", "\(interface.mac) is not a unicast MAC")
            }
            guard (1...32).contains(interface.prefixLength), let subnet = interface.subnet else {
                throw error(subject, "prefix_length", "expected 1 to 32, found \(interface.prefixLength)")
            }
            let a = interface.address.rawValue
            guard PathMTU.isUnicastHost(a) else {
                throw error(subject, "address", "\(interface.address) is not a unicast host address")
            }
            if interface.prefixLength <= 30 {
                guard a != subnet.address.rawValue, a != subnet.broadcast.rawValue else {
                    throw error(subject, "address", "\(interface.address) is the network or broadcast address of \(subnet)")
                }
            }
            guard (68...9000).contains(interface.mtu) else {
                throw error(subject, "mtu", "expected 68 to 9000, found \(interface.mtu)")
            }
            for other in interfaces[..<i] {
                guard let theirs = other.subnet else { continue }
                if theirs.contains(subnet.address) || subnet.contains(theirs.address) {
                    throw error(subject, "address", "\(subnet) overlaps \(theirs) of \(other.name)")
                }
            }
        }
        guard (0...4096).contains(pendingLimit) else { throw error(nil, "pending_limit", "expected 0 to 4096, found \(pendingLimit)") }
        guard (0...65536).contains(pendingTotalLimit) else {
            throw error(nil, "pending_total_limit", "expected 0 to 65536, found \(pendingTotalLimit)")
        }
        guard arpRetransmitInterval > .zero else { throw error(nil, "arp_retransmit_interval", "must be positive") }
        guard (1...100).contains(arpMaximumRequests) else {
            throw error(nil, "arp_maximum_requests", "expected 1 to 100, found \(arpMaximumRequests)")
        }
        guard (1...1_048_576).contains(neighbourCapacity) else {
            throw error(nil, "neighbour_capacity", "expected 1 to 1048576, found \(neighbourCapacity)")
        }
        guard (0...1_000_000).contains(icmpErrorsPerSecond) else {
            throw error(nil, "icmp_errors_per_second", "expected 0 to 1000000, found \(icmpErrorsPerSecond)")
        }
        guard (0...1_000_000).contains(icmpErrorBurst) else {
            throw error(nil, "icmp_error_burst", "expected 0 to 1000000, found \(icmpErrorBurst)")
        }
        try validateNAT()
    }

    /// Checks the NAT settings: an external interface when anything is translated, port
    /// ranges, floating IPs (unique, fixed on an internal subnet, floating not the
    /// router's nor on an internal subnet), the metadata endpoint.
    func validateNAT() throws(DatapathConfigurationError) {
        if let name = gatewayInterface, !interfaces.contains(where: { $0.name == name }) {
            throw error(nil, "gateway_interface", "\(name) is not an interface of the router")
        }
        guard (16...16_777_216).contains(natConnections) else {
            throw error(nil, "nat_connections", "expected 16 to 16777216, found \(natConnections)")
        }
        guard usesNAT else { return }
        guard let gw = gatewayInterfaceIndex else {
            throw error(nil, "gateway_interface", "NAT needs an external gateway interface (qg-…, or the default gateway's)")
        }
        if snat.enabled {
            guard snat.portMin >= 1, snat.portMin <= snat.portMax else {
                throw error(nil, "snat.ports", "expected 1 ≤ min ≤ max ≤ 65535, found \(snat.portMin)-\(snat.portMax)")
            }
        }
        func internalSubnet(_ a: IPv4Address) -> Bool {
            interfaces.indices.contains { $0 != gw && interfaces[$0].subnet?.contains(a) == true }
        }
        var floating = Set<IPv4Address>(), fixed = Set<IPv4Address>()
        for (i, f) in floatingIPs.enumerated() {
            let subject = "floating_ips[\(i)]"
            guard PathMTU.isUnicastHost(f.floating.rawValue) else {
                throw error(subject, "floating", "\(f.floating) is not a unicast host address")
            }
            guard !interfaces.contains(where: { $0.address == f.floating }) else {
                throw error(subject, "floating", "\(f.floating) is the router's own address")
            }
            guard !internalSubnet(f.floating) else {
                throw error(subject, "floating", "\(f.floating) is on an internal subnet")
            }
            guard internalSubnet(f.fixed), !interfaces.contains(where: { $0.address == f.fixed }) else {
                throw error(subject, "fixed", "\(f.fixed) is not a host on an internal subnet of the router")
            }
            guard floating.insert(f.floating).inserted else {
                throw error(subject, "floating", "\(f.floating) is given twice")
            }
            guard fixed.insert(f.fixed).inserted else {
                throw error(subject, "fixed", "\(f.fixed) has two floating IPs")
            }
        }
        if let m = metadata {
            guard m.port != 0, m.endpointPort != 0 else { throw error(nil, "metadata", "ports must not be 0") }
            guard PathMTU.isUnicastHost(m.endpoint.rawValue), !interfaces.contains(where: { $0.address == m.endpoint }) else {
                throw error(nil, "metadata.endpoint", "\(m.endpoint) is not a unicast host the router can route to")
            }
        }
    }

    private func error(_ subject: String?, _ key: String, _ message: String) -> DatapathConfigurationError {
        DatapathConfigurationError(element: name.isEmpty ? "(unnamed)" : name, part: subject, key: key, message: message)
    }
}

extension RouterConfiguration {
    /// Whether `other` is this configuration with other floating IPs, static routes or
    /// default gateway only: what a running router changes in place.
    func differsOnlyInFloatingIPsAndRoutes(from other: RouterConfiguration) -> Bool {
        var adjusted = self
        adjusted.floatingIPs = other.floatingIPs
        adjusted.routes = other.routes
        adjusted.defaultGateway = other.defaultGateway
        return adjusted == other
    }
}
