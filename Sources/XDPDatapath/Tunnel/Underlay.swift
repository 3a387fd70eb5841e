import XDPPacket

/// The live state of the tunnel underlay: our address, the neighbours we know, and the
/// frames waiting for a neighbour's ARP answer.
///
/// Owned by the datapath's worker. Neighbour lookups are one dictionary probe on a
/// `UInt32`; the waiting queues are bounded (`pendingLimit` frames per next hop), and
/// an ARP request for a next hop is sent at most once a second.
public final class Underlay {
    public let configuration: UnderlayConfiguration
    /// `Port.id` of the underlay interface.
    public let portID: Int
    /// Our MAC on the underlay. The AF_XDP layer sets it from the interface when the
    /// configuration gives none.
    public var mac: MACAddress

    @usableFromInline var neighbours: [UInt32: UInt64] = [:]
    /// Addresses of the configured neighbours: ARP never changes their MAC.
    @usableFromInline let staticNeighbours: Set<UInt32>
    /// Encapsulated frames (outer Ethernet destination not yet written) per next hop.
    @usableFromInline var pending: [UInt32: [(address: UInt64, length: UInt32)]] = [:]
    @usableFromInline var lastRequest: [UInt32: UInt64] = [:]
    /// ARP requests sent.
    public internal(set) var arpRequests: UInt64 = 0
    /// ARP requests for our address answered.
    public internal(set) var arpReplies: UInt64 = 0
    /// ICMP fragmentation-needed / ICMPv6 packet-too-big errors sent back into a bridge
    /// for frames too big for the underlay (see `Datapath+PathMTU.swift`).
    public internal(set) var pathMTUErrors: UInt64 = 0

    init(configuration: UnderlayConfiguration, portID: Int) {
        self.configuration = configuration
        self.portID = portID
        self.mac = configuration.mac ?? MACAddress(rawValue: 0x0200_0000_0000 | UInt64(configuration.address.rawValue))
        for (ip, mac) in configuration.neighbours { neighbours[ip.rawValue] = mac.rawValue }
        staticNeighbours = Set(configuration.neighbours.keys.map(\.rawValue))
    }

    /// The neighbours known now (static and learned), by address.
    public var neighbourTable: [IPv4Address: MACAddress] {
        Dictionary(uniqueKeysWithValues: neighbours.map { (IPv4Address(rawValue: $0.key), MACAddress(rawValue: $0.value)) })
    }

    /// Frames waiting for ARP answers.
    public var pendingCount: Int { pending.values.reduce(0) { $0 + $1.count } }

    /// The next hop toward `remote`: itself on our subnet, else the gateway (nil: no route).
    @inlinable
    func nextHop(for remote: UInt32) -> UInt32? {
        let mask = IPv4Prefix.mask(length: configuration.prefixLength)
        if remote & mask == configuration.address.rawValue & mask { return remote }
        return configuration.gateway?.rawValue
    }
}
