/// Counters one port keeps, stored in memory allocated once so the per-packet path
/// bumps them without exclusivity checks or allocation.
public struct PortCounters {
    @usableFromInline static let fixed = 7
    @usableFromInline static let size = fixed + DropReason.allCases.count
    @usableFromInline let slots: UnsafeMutablePointer<UInt64>

    init() {
        slots = .allocate(capacity: Self.size)
        slots.initialize(repeating: 0, count: Self.size)
    }

    func deallocate() { slots.deallocate() }

    @inlinable func received(bytes: UInt32) { slots[0] &+= 1; slots[1] &+= UInt64(bytes) }
    @inlinable func transmitted(bytes: UInt32) { slots[2] &+= 1; slots[3] &+= UInt64(bytes) }
    @inlinable func flooded() { slots[4] &+= 1 }
    @inlinable func unknownEtherType() { slots[5] &+= 1 }
    @inlinable func macMoved() { slots[6] &+= 1 }
    @inlinable func dropped(_ reason: DropReason) { slots[Self.fixed &+ reason.rawValue] &+= 1 }
    func dropped(_ reason: DropReason, count: UInt64) { slots[Self.fixed + reason.rawValue] &+= count }

    /// A copy of the counters at this moment.
    public var snapshot: PortStats {
        var drops: [DropReason: UInt64] = [:]
        for reason in DropReason.allCases where slots[Self.fixed + reason.rawValue] != 0 {
            drops[reason] = slots[Self.fixed + reason.rawValue]
        }
        return PortStats(rxPackets: slots[0], rxBytes: slots[1], txPackets: slots[2], txBytes: slots[3],
                         floodedPackets: slots[4], unknownEtherType: slots[5], macMoves: slots[6], drops: drops)
    }

    func reset() { slots.update(repeating: 0, count: Self.size) }
}

/// A port's counters at one moment (see `DatapathPort.stats`).
public struct PortStats: Sendable, Equatable {
    /// Frames received from the port (handed to the datapath through it).
    public var rxPackets: UInt64
    /// Bytes of those frames, Ethernet header included.
    public var rxBytes: UInt64
    /// Frames the datapath queued for transmission on the port.
    public var txPackets: UInt64
    /// Bytes of those frames, as queued (after any tag push or tunnel header).
    public var txBytes: UInt64
    /// Frames received on this port that were flooded (broadcast, multicast, unknown unicast).
    public var floodedPackets: UInt64
    /// Frames received with an EtherType the packet layer does not parse (forwarded at L2).
    public var unknownEtherType: UInt64
    /// Times a MAC address learned on another port was seen on this one.
    public var macMoves: UInt64
    /// Frames dropped, by reason (reasons with a zero count are absent).
    public var drops: [DropReason: UInt64]

    /// All drops, whatever the reason.
    public var totalDrops: UInt64 { drops.values.reduce(0, +) }
}
