import XDPPacket

/// The live state of the tunnel underlay: our address, the neighbours we know, and the
/// frames waiting for a neighbour's ARP answer.
///
/// Owned by the datapath's worker. Neighbours live in a `NeighbourTable` (the routers'
/// cache: bounded, a flood of ARP from made-up senders fills at most half of it); the
/// waiting queues are bounded (`pendingLimit` frames per next hop), and an ARP request
/// for a next hop is sent at most once a second.
public final class Underlay {
    /// The configuration it was built from.
    public let configuration: UnderlayConfiguration
    /// `DatapathPort.id` of the underlay interface.
    public let portID: PortID
    /// Our MAC on the underlay. The AF_XDP layer sets it from the interface when the
    /// configuration gives none.
    public var mac: MACAddress { didSet { refreshTunnels() } }

    /// Learned and static neighbours: address → MAC. Every change goes through `learn`,
    /// which refreshes the tunnels' prebuilt headers (`refreshTunnels`); the per-packet
    /// code never reads this.
    @usableFromInline let neighbours: NeighbourTable
    /// The `gre` ports as the per-packet code reads them (this object owns the memory;
    /// the datapath keeps a copy of the pointers).
    @usableFromInline let tunnels: TunnelTable
    /// Addresses of the configured neighbours: ARP never changes their MAC.
    @usableFromInline let staticNeighbours: Set<UInt32>
    /// Encapsulated frames (outer Ethernet destination not yet written) per next hop.
    @usableFromInline var pending: [UInt32: [(address: UInt64, length: UInt32)]] = [:]
    @usableFromInline var lastRequest: [UInt32: UInt64] = [:]
    /// ARP requests sent.
    public internal(set) var arpRequests: UInt64 = 0
    /// ARP requests for our address answered.
    public internal(set) var arpReplies: UInt64 = 0
    /// New neighbours refused because the table held what its limit allows.
    public internal(set) var neighbourTableFull: UInt64 = 0
    /// ICMP fragmentation-needed / ICMPv6 packet-too-big errors sent back into a bridge
    /// for frames too big for the underlay (see `Datapath+PathMTU.swift`).
    public internal(set) var pathMTUErrors: UInt64 = 0

    /// The underlay of `configuration` on the port with id `portID`, serving the `gre`
    /// ports among `ports`.
    init(configuration: UnderlayConfiguration, portID: PortID, ports: [DatapathPort]) {
        self.configuration = configuration
        self.portID = portID
        self.mac = configuration.mac ?? MACAddress(rawValue: 0x0200_0000_0000 | UInt64(configuration.address.rawValue))
        neighbours = NeighbourTable(capacity: max(configuration.neighbourCapacity, configuration.neighbours.count))
        for (ip, mac) in configuration.neighbours { _ = neighbours.set(ip.rawValue, mac: mac.rawValue) }
        staticNeighbours = Set(configuration.neighbours.keys.map(\.rawValue))
        tunnels = TunnelTable(ports: ports, underlay: configuration, underlayPortID: portID,
                              nextHop: { Self.nextHop(for: $0, configuration: configuration) })
        refreshTunnels()
    }

    deinit {
        tunnels.deallocate()
        neighbours.deallocate()
    }

    /// Learns `address` at `mac` from an ARP packet (`NeighbourTable.learn`; static
    /// neighbours never change) and refreshes the tunnels' headers when it changed.
    func learn(_ address: UInt32, mac: UInt64, askedFor: Bool) {
        guard !staticNeighbours.contains(address), neighbours.lookup(address) != mac else { return }
        if neighbours.learn(address, mac: mac, askedFor: askedFor) == .full {
            neighbourTableFull &+= 1
            return
        }
        refreshTunnels()
    }

    /// Writes our MAC and each tunnel's next-hop MAC (zero while unknown) into the
    /// tunnels' prebuilt headers. Runs whenever `mac` or `neighbours` change.
    func refreshTunnels() {
        headerChanges &+= 1
        tunnels.localMAC?.pointee = mac.rawValue
        guard let endpoints = tunnels.endpoints else { return }
        for i in 0..<tunnels.count {
            let t = endpoints + i
            let known = t.pointee.hasRoute ? neighbours.lookup(t.pointee.nextHop) : nil
            t.pointee.header.storeBE48(known ?? 0, at: 0)
            t.pointee.header.storeBE48(mac.rawValue, at: 6)
            t.pointee.nextHopKnown = known != nil
        }
    }

    /// How many times the tunnels' prebuilt headers were rewritten (our MAC or a next
    /// hop's changed): the in-kernel fast path re-checks the encapsulations it repeats.
    public private(set) var headerChanges: UInt64 = 0

    /// The neighbours known now (static and learned), by address.
    public var neighbourTable: [IPv4Address: MACAddress] {
        Dictionary(uniqueKeysWithValues: neighbours.entries.map { (IPv4Address(rawValue: $0.0), MACAddress(rawValue: $0.1)) })
    }

    /// Frames waiting for ARP answers.
    public var pendingCount: Int { pending.values.reduce(0) { $0 + $1.count } }

    /// The next hop toward `remote`: itself on our subnet, else the gateway (nil: no route).
    static func nextHop(for remote: UInt32, configuration: UnderlayConfiguration) -> UInt32? {
        let mask = IPv4Prefix.mask(length: configuration.prefixLength)
        if remote & mask == configuration.address.rawValue & mask { return remote }
        return configuration.gateway?.rawValue
    }
}
