import XDPPacket

/// A port of a bridge: an access port (`tag`), a trunk (`trunks`), a patch to
/// another bridge, a GRE tunnel, or a service port (a router interface: see
/// `Datapath+Services.swift`). The datapath puts frames to transmit on `txQueue`; whoever serves
/// the port (AF_XDP engine, in-memory test harness, replay) drains it.
public final class DatapathPort {
    /// The port's id: its index in `Datapath.ports`.
    public let id: PortID
    /// The port's name, unique in the datapath.
    public let name: String
    /// What kind of port it is, as configured.
    public let type: PortType
    /// OpenFlow port number within its bridge.
    public let ofport: Int
    /// The bridge the port is in; nil for the underlay port, which is in none.
    public let bridgeID: BridgeID?
    /// Access VLAN, 0 for a trunk.
    public let tag: UInt16
    /// VLANs a trunk carries (all when not configured).
    public let trunks: VLANSet
    /// For a patch port, the `id` of its peer; nil otherwise.
    public internal(set) var peerID: PortID?
    /// For a service port, what serves it (`ServiceKind`); `.none` otherwise.
    public internal(set) var serviceKind: ServiceKind = .none
    /// For a service port, the service's index in the datapath's table of its kind
    /// (`Datapath.routers` for a router) and the element within it (the router
    /// interface); nil for a port no service serves.
    public internal(set) var serviceIndex: Int?
    /// For a router port, the interface's index within its router (0 for a DHCP port);
    /// nil for a port no service serves.
    public internal(set) var serviceElement: Int?
    /// Why the port's interface cannot carry frames now (`"absent"`: it does not exist, or
    /// was deleted), as the server of the port (the AF_XDP engine) says; nil when it can,
    /// or the port has no interface. `show` and `stats` print it. Control path only: the
    /// per-packet path never reads it (the server counts frames for a down port as
    /// `port-down` drops, `Datapath.discardTransmitQueue`).
    public var linkDown: String?
    /// Frames the datapath wants transmitted on this port. The server of the port
    /// owns them once `Datapath.process` returns and must empty the queue.
    public let txQueue: PacketBatch

    @usableFromInline let counters = PortCounters()
    /// What egress does with a frame for this port, decided once.
    @usableFromInline let egressKind: EgressKind
    @usableFromInline let trunkBits: UnsafeMutablePointer<UInt64>

    init(id: PortID, configuration: PortConfiguration, ofport: Int, bridgeID: BridgeID?, txQueueCapacity: Int) {
        self.id = id
        self.name = configuration.name
        self.type = configuration.type
        self.ofport = ofport
        self.bridgeID = bridgeID
        self.tag = configuration.tag ?? 0
        let trunks = configuration.trunks.map { VLANSet($0) } ?? .all
        self.trunks = trunks
        self.txQueue = PacketBatch(capacity: txQueueCapacity)
        switch configuration.type {
        case .patch: egressKind = .patch
        case .gre, .vxlan: egressKind = .tunnel
        case .router, .dhcp: egressKind = .service
        case .system, .internal: egressKind = .queue
        }
        trunkBits = .allocate(capacity: 64)
        for i in 0..<64 { trunkBits[i] = trunks.words[i] }
    }

    deinit {
        counters.deallocate()
        trunkBits.deallocate()
    }

    /// True for an access port.
    @inlinable public var isAccess: Bool { tag != 0 }
    /// True for one half of a patch pair (its frames go to `peerID`).
    @inlinable public var isPatch: Bool { peerID != nil }

    /// Whether frames of `vlan` may leave or enter by this port.
    @inlinable
    public func carries(_ vlan: UInt16) -> Bool {
        if tag != 0 { return vlan == tag }
        return trunkBits[Int(vlan >> 6) & 63] & (1 << UInt64(vlan & 63)) != 0
    }

    /// Counters at this moment.
    public var stats: PortStats { counters.snapshot }

    /// Zeroes the counters.
    public func resetStats() { counters.reset() }
}

/// What the per-packet path needs of a port, as a plain value in a table the datapath
/// allocates once: reading it costs no retain and no exclusivity check.
@frozen
@usableFromInline
struct PortFastPath {
    @usableFromInline let tag: UInt16
    @usableFromInline let egressKind: EgressKind
    /// The underlay port, in no bridge: ingress hands its frames to the tunnel stage.
    @usableFromInline let isUnderlay: Bool
    /// The bridge of the port (meaningless for the underlay port).
    @usableFromInline let bridgeID: BridgeID
    /// The peer of a patch port (meaningless for other ports).
    @usableFromInline let peerID: PortID
    @usableFromInline let trunkBits: UnsafeMutablePointer<UInt64>
    @usableFromInline let counters: PortCounters
    @usableFromInline let txQueue: BatchStorage

    init(_ port: DatapathPort) {
        tag = port.tag
        egressKind = port.egressKind
        isUnderlay = port.bridgeID == nil
        bridgeID = port.bridgeID ?? BridgeID(0)
        peerID = port.peerID ?? PortID(0)
        trunkBits = port.trunkBits
        counters = port.counters
        txQueue = port.txQueue.storage
    }

    /// Whether frames of `vlan` may leave or enter by this port.
    @inlinable @inline(__always)
    func carries(_ vlan: UInt16) -> Bool {
        if tag != 0 { return vlan == tag }
        return trunkBits[Int(vlan >> 6) & 63] & (1 << UInt64(vlan & 63)) != 0
    }
}
