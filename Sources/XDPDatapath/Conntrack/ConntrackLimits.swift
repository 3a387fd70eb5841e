// Global and per-zone connection limits, in the manner of
// `ovs-appctl dpctl/ct-set-maxconns` and `dpctl/ct-set-limits`.
//
// A limit is checked only when a packet commits a new connection: at the limit the
// commit is refused (the packet is +trk+new with disposition `.drop` and reason
// `globalLimit`/`zoneLimit`, counted) and nothing is stored. Packets of connections
// already in the table never look at the limits. Lowering a limit below the current
// count removes nothing; new connections wait until expiry brings the count down.

extension ConnectionTracker {
    /// The limit of `zone` in force (0: unlimited): its own, else the default.
    @inline(__always)
    func zoneLimit(_ zone: UInt16) -> UInt32 {
        let own = zoneLimits[Int(zone)]
        return own == Self.unsetLimit ? scalars.pointee.defaultZoneLimit : own
    }

    /// The global limit (at most `capacity`): connections beyond it are refused.
    public var limit: Int {
        get { scalars.pointee.globalLimit }
        set { scalars.pointee.globalLimit = min(max(0, newValue), capacity) }
    }

    /// Limit for zones without their own (0: unlimited).
    public var defaultZoneLimit: UInt32 {
        get { scalars.pointee.defaultZoneLimit }
        set { scalars.pointee.defaultZoneLimit = newValue }
    }

    /// Sets `zone`'s own limit (0: unlimited), or with nil goes back to the default.
    public func setZoneLimit(_ limit: UInt32?, zone: UInt16) {
        zoneLimits[Int(zone)] = limit ?? Self.unsetLimit
    }

    /// The limit in force for `zone` (0: unlimited).
    public func limit(zone: UInt16) -> UInt32 { zoneLimit(zone) }

    /// Connections in `zone`.
    public func count(zone: UInt16) -> Int { Int(zoneCounts[Int(zone)]) }

    /// Every zone that has connections, with its count, by zone.
    public func zoneCountList() -> [(zone: UInt16, count: Int)] {
        var out: [(zone: UInt16, count: Int)] = []
        for z in 0..<65_536 where zoneCounts[z] != 0 { out.append((UInt16(z), Int(zoneCounts[z]))) }
        return out
    }

    /// What `ovs-appctl dpctl/ct-get-limits` lists after the default (`defaultZoneLimit`):
    /// each zone with its own limit or with connections, by zone.
    public func zoneLimitList() -> [ConntrackZoneLimit] {
        var list: [ConntrackZoneLimit] = []
        for z in 0..<65_536 where zoneLimits[z] != Self.unsetLimit || zoneCounts[z] != 0 {
            list.append(ConntrackZoneLimit(zone: UInt16(z), limit: zoneLimit(UInt16(z)), count: Int(zoneCounts[z])))
        }
        return list
    }
}

/// One zone's connection limit in force and its connections (see
/// `ConnectionTracker.zoneLimitList()`).
public struct ConntrackZoneLimit: Sendable, Equatable, CustomStringConvertible {
    /// The zone.
    public var zone: UInt16
    /// The limit in force (its own or the default; 0: unlimited).
    public var limit: UInt32
    /// Connections in the zone.
    public var count: Int

    /// A zone's limit and count.
    public init(zone: UInt16, limit: UInt32, count: Int) {
        self.zone = zone
        self.limit = limit
        self.count = count
    }

    /// The zone as `ovs-appctl dpctl/ct-get-limits` prints it: `zone=5,limit=2,count=2`.
    public var description: String { "zone=\(zone),limit=\(limit),count=\(count)" }
}
