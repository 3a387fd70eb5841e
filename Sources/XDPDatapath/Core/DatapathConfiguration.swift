/// What a `Datapath` is built from: bridges and their ports, in the vocabulary of
/// `ovs-vsctl`. `XDPModel` reads it from YAML; an embedding program may build it directly.
public struct DatapathConfiguration: Sendable, Equatable {
    /// The bridges, in the order `Datapath.bridges` gets them; names must be unique.
    public var bridges: [BridgeConfiguration]
    /// The network carrying GRE tunnels, when the configuration has `gre` ports.
    public var underlay: UnderlayConfiguration?
    /// The connection tracker behind `ct()` actions: size, limits, timeouts. The tracker
    /// is created when a flow with `ct()` is first installed (its memory is allocated
    /// up front: see docs/conntrack.md).
    public var conntrack: ConntrackConfiguration
    /// Routers whose interfaces are `router` ports of the bridges (docs/routers.md).
    public var routers: [RouterConfiguration]
    /// DHCP responders, one per network, each served by the `dhcp` port naming its
    /// network (docs/dhcp.md).
    public var dhcp: [DHCPConfiguration]
    /// Whether whole runs through a bridge's tables are remembered and replayed (the
    /// flow-segment cache, FlowSegmentCache.swift). On by default; off only to compare.
    public var flowSegmentCache: Bool
    /// The seed of every random choice the datapath makes (the connection trackers'
    /// hashes, hence the ports NAT picks); nil: a random seed per run, so an attacker
    /// cannot aim at the hash. With a seed the same input gives byte-identical output
    /// (`xdpswitch replay --seed N`). A seed set on `conntrack.hashSeed` or a router's
    /// `natHashSeed` wins over the one derived from this.
    public var randomSeed: UInt64?
    /// Where the connection trackers keep their connections so that a restarted switch
    /// adopts them (`withStateFiles`, StateFile.swift); nil: in ordinary memory.
    public var stateDirectory: String? = nil

    /// A configuration; with the defaults, no bridges, a default-sized tracker, the segment cache on
    /// and a random seed per run. `Datapath.init` checks it, not this.
    public init(bridges: [BridgeConfiguration] = [], underlay: UnderlayConfiguration? = nil,
                conntrack: ConntrackConfiguration = ConntrackConfiguration(), routers: [RouterConfiguration] = [],
                dhcp: [DHCPConfiguration] = [], flowSegmentCache: Bool = true, randomSeed: UInt64? = nil) {
        self.bridges = bridges
        self.underlay = underlay
        self.conntrack = conntrack
        self.routers = routers
        self.dhcp = dhcp
        self.flowSegmentCache = flowSegmentCache
        self.randomSeed = randomSeed
    }

    /// This configuration with the seeds `randomSeed` implies written into the
    /// tracker's and each router's configuration (those not set already): a distinct
    /// seed per tracker, from SplitMix64 over `randomSeed` and the tracker's place.
    public var withDerivedSeeds: DatapathConfiguration {
        guard let seed = randomSeed else { return self }
        var c = self
        if c.conntrack.hashSeed == nil { c.conntrack.hashSeed = Self.splitMix64(seed, 0) }
        for r in c.routers.indices where c.routers[r].natHashSeed == nil {
            c.routers[r].natHashSeed = Self.splitMix64(seed, UInt64(r) &+ 1)
        }
        return c
    }

    /// SplitMix64's output for `seed` advanced `n` + 1 steps (Steele, Lea, Flood 2014).
    static func splitMix64(_ seed: UInt64, _ n: UInt64) -> UInt64 {
        var z = seed &+ (n &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One bridge (`ovs-vsctl add-br`).
public struct BridgeConfiguration: Sendable, Equatable {
    /// The bridge's name (`br-int`), unique in the configuration.
    public var name: String
    /// Its ports; a port's name is unique across all bridges.
    public var ports: [PortConfiguration]
    /// How long a learned MAC address is remembered without being seen (OVS: `other_config:mac-aging-time`).
    public var macAging: Duration
    /// Slots in the MAC learning table (OVS: `other_config:mac-table-size`).
    public var macTableSize: Int
    /// Flows in `ovs-ofctl add-flow` syntax. Empty: the bridge has the single flow
    /// `priority=0 actions=NORMAL`, as a new OVS bridge does.
    public var flows: [String]

    /// A bridge; by default 300 s MAC aging, 8,192 MAC table slots and only `NORMAL`.
    public init(name: String, ports: [PortConfiguration] = [], macAging: Duration = .seconds(300), macTableSize: Int = 8192,
                flows: [String] = []) {
        self.name = name
        self.ports = ports
        self.macAging = macAging
        self.macTableSize = macTableSize
        self.flows = flows
    }
}

/// The kind of a port (`ovs-vsctl set interface NAME type=...`).
public enum PortType: Sendable, Equatable, CustomStringConvertible {
    /// A network interface of the host (the default), served by AF_XDP.
    case system
    /// A port the embedding program feeds itself (in-memory ports, replay).
    case `internal`
    /// Half of a pair joining two bridges; `peer` names the other half.
    case patch(peer: String)
    /// A GRE tunnel over the underlay.
    case gre(GREOptions)
    /// A VXLAN tunnel over the underlay.
    case vxlan(VXLANOptions)
    /// An interface of a router (`DatapathConfiguration.routers`) with the same name: the
    /// `qr-`/`qg-` port of the reference design's `qrouter-` namespace, served inside the datapath.
    case router
    /// The DHCP responder of `network` (`DatapathConfiguration.dhcp`): the `tap`/`ns-` port
    /// of the reference design's `qdhcp-` namespace, served inside the datapath (docs/dhcp.md).
    case dhcp(network: String)

    /// The type as `ovs-vsctl` spells it (`system`, `patch`, `gre`...), without its options.
    public var description: String {
        switch self {
        case .system: "system"
        case .internal: "internal"
        case .patch: "patch"
        case .gre: "gre"
        case .vxlan: "vxlan"
        case .router: "router"
        case .dhcp: "dhcp"
        }
    }
}

/// One port of a bridge (`ovs-vsctl add-port BRIDGE NAME [tag=N] [trunks=...]`).
public struct PortConfiguration: Sendable, Equatable {
    /// The port's name: for `system` ports the host interface name, else any unique name.
    public var name: String
    /// What kind of port it is; `.system` by default.
    public var type: PortType
    /// OpenFlow port number; the next free number when nil.
    public var ofport: Int?
    /// Access port VLAN: frames are untagged outside and carry this VLAN inside the bridge.
    public var tag: UInt16?
    /// Trunk port VLANs; nil (and no `tag`) means every VLAN.
    public var trunks: [UInt16]?

    /// A port; without `tag` and `trunks` it is a trunk of every VLAN.
    public init(name: String, type: PortType = .system, ofport: Int? = nil, tag: UInt16? = nil, trunks: [UInt16]? = nil) {
        self.name = name
        self.type = type
        self.ofport = ofport
        self.tag = tag
        self.trunks = trunks
    }
}

/// Why a configuration was refused: the one error every part of a datapath's
/// configuration throws (bridges and ports, flows, routers, DHCP, security groups), so
/// a caller has one type to catch. `XDPModel` adds file and line (`ConfigurationError`).
///
/// `path` names where the problem is, outermost first, ending with the key at fault:
/// `["qvo1", "tag"]` for a port, `["router1", "qr-6a1b2c3d-4e", "address"]` for a
/// router's interface, `["net1", "subnet1", "gateway"]` for a DHCP subnet,
/// `["web", "rules[2]"]` for a security group's rule. The description joins path and
/// message with `": "`.
public struct DatapathConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is, outermost first: the element (bridge, port, router,
    /// network, group), any part of it (an interface, a route, a host), then the key.
    public var path: [String]
    /// What is wrong, with the value found.
    public var message: String

    /// An error at `path` (element, parts, key) saying `message`.
    public init(path: [String], message: String) {
        self.path = path
        self.message = message
    }

    /// An error about `key` of `subject` (a bridge, port, group, …) saying `message`.
    public init(subject: String, key: String, message: String) {
        self.init(path: [subject, key], message: message)
    }

    /// An error about `key` of `element` — within its `part` (a router's interface or
    /// route, a DHCP subnet or host) when there is one — saying `message`.
    public init(element: String, part: String?, key: String, message: String) {
        self.init(path: [element] + (part.map { [$0] } ?? []) + [key], message: message)
    }

    /// The element the problem is about (a bridge, port, router, network, group).
    public var element: String { path.first ?? "" }
    /// The part of the element at fault (a router's interface or route, a DHCP subnet
    /// or host), nil when the key is the element's own.
    public var part: String? { path.count > 2 ? path[1..<(path.count - 1)].joined(separator: ": ") : nil }
    /// Everything before the key: the element and its part, joined with `": "`.
    public var subject: String { path.dropLast().joined(separator: ": ") }
    /// The configuration key at fault (`name`, `tag`, `trunks`, `address`, `rules[2]`…).
    public var key: String { path.last ?? "" }

    /// `path: message`, e.g. `qvo1: tag: VLAN id 4095 outside 1-4094`.
    public var description: String { (path + [message]).joined(separator: ": ") }
}
