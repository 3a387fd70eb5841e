import XDPPacket

/// Options of a `type: gre` port (`ovs-vsctl set interface NAME type=gre options:...`).
public struct GREOptions: Sendable, Equatable {
    /// How the GRE key is chosen, like OVS's `options:key`.
    public enum Key: Sendable, Equatable {
        /// No key on the wire (and only unkeyed packets are accepted).
        case none
        /// This key on every packet sent; only packets with it are accepted.
        case fixed(UInt32)
        /// `key=flow`: the key is the packet's `tun_id` (`set_tunnel`), and any key is
        /// accepted and becomes `tun_id`.
        case flow
    }

    /// The far end of the tunnel (`options:remote_ip`).
    public var remoteIP: IPv4Address
    /// Our end (`options:local_ip`); the underlay's address when nil.
    public var localIP: IPv4Address?
    /// Which key packets carry (`options:key`): none, a fixed one, or the packet's `tun_id`.
    public var key: Key

    /// Options of a tunnel to `remoteIP`; by default from the underlay's address, unkeyed.
    public init(remoteIP: IPv4Address, localIP: IPv4Address? = nil, key: Key = .none) {
        self.remoteIP = remoteIP
        self.localIP = localIP
        self.key = key
    }
}

/// Options of a `type: vxlan` port (`ovs-vsctl set interface NAME type=vxlan options:...`).
public struct VXLANOptions: Sendable, Equatable {
    /// The far end of the tunnel (`options:remote_ip`).
    public var remoteIP: IPv4Address
    /// Our end (`options:local_ip`); the underlay's address when nil.
    public var localIP: IPv4Address?
    /// The VNI, as OVS's `options:key`: `.none` is VNI 0 (sent and expected), `.fixed(N)`
    /// VNI N (at most 24 bits), `.flow` the packet's `tun_id` (its low 24 bits) and any
    /// VNI accepted as `tun_id`.
    public var key: GREOptions.Key
    /// The UDP destination port we send to and receive on (`options:dst_port`, 4789).
    public var destinationPort: UInt16

    /// Options of a tunnel to `remoteIP`; by default from the underlay's address, VNI 0, UDP port 4789.
    public init(remoteIP: IPv4Address, localIP: IPv4Address? = nil, key: GREOptions.Key = .none,
                destinationPort: UInt16 = VXLANHeader.defaultPort) {
        self.remoteIP = remoteIP
        self.localIP = localIP
        self.key = key
        self.destinationPort = destinationPort
    }
}

/// The network that carries tunnel traffic: one interface with an address, served by
/// the datapath itself (it answers ARP for its address, resolves next hops, and hands
/// GRE and VXLAN packets addressed to it to the matching `gre` or `vxlan` port). In the reference design this is the
/// host's `eth1` carrying the GRE mesh between nodes.
public struct UnderlayConfiguration: Sendable, Equatable {
    /// The interface (an AF_XDP port of its own, in no bridge).
    public var interface: String
    /// Our address on it (a host address: it is the source of our GRE packets and the
    /// address we answer ARP for).
    public var address: IPv4Address
    /// The length of the underlay subnet's prefix: remotes inside it are reached directly,
    /// others through `gateway`.
    public var prefixLength: Int
    /// Our MAC on it; AF_XDP fills it from the interface when nil.
    public var mac: MACAddress?
    /// Next hop for remote endpoints outside `address`'s subnet.
    public var gateway: IPv4Address?
    /// The underlay MTU: an encapsulated packet larger than this is not sent (counted,
    /// and answered with ICMP fragmentation-needed when the inner packet has DF).
    public var mtu: Int
    /// Static neighbours (no ARP needed for these).
    public var neighbours: [IPv4Address: MACAddress]
    /// Frames waiting for one ARP answer, at most (per next hop); further ones are dropped.
    public var pendingLimit: Int
    /// Neighbours the underlay keeps, at most (static ones always fit): half of them may
    /// be learned from ARP requests to us, the rest only from answers we asked for.
    public var neighbourCapacity: Int

    /// An underlay on `interface` with our `address`; by default a /24, MTU 1500, no gateway,
    /// no static neighbours, at most 16 frames waiting per unresolved next hop and 4,096
    /// neighbours.
    public init(interface: String, address: IPv4Address, prefixLength: Int = 24, mac: MACAddress? = nil,
                gateway: IPv4Address? = nil, mtu: Int = 1500, neighbours: [IPv4Address: MACAddress] = [:],
                pendingLimit: Int = 16, neighbourCapacity: Int = 4096) {
        self.interface = interface
        self.address = address
        self.prefixLength = prefixLength
        self.mac = mac
        self.gateway = gateway
        self.mtu = mtu
        self.neighbours = neighbours
        self.pendingLimit = pendingLimit
        self.neighbourCapacity = neighbourCapacity
    }

    /// The underlay subnet (`address/prefixLength` with the host bits cleared).
    public var subnet: IPv4Prefix? { IPv4Prefix(address, length: prefixLength) }
}
