import XDPPacket

// The `ct(...)` action: connection tracking in the flow pipeline.
//
// How a packet goes through `ct(zone=Z,commit,table=T,exec(...))`, as in Open vSwitch:
//
// 1. Header changes the flows made so far are written into the frame (conntrack sees
//    the packet as it would leave). Its metadata is the parse it entered the bridge
//    with, brought up to date from the flow context (`refreshFrameMeta`), not a
//    second parse. Only a NAT rewrite re-reads the frame (`refreshAddresses`).
// 2. The zone is `zone=N`, or read from a field (`zone=NXM_NX_REG6[0..15]`, Neutron's
//    per-network zones).
// 3. The tracker (one per datapath, `ConnectionTracker`) classifies the packet:
//    +trk and new/est/rel/rpl/inv. With `commit`, a new connection is remembered and
//    the `exec(set_field:V->ct_mark)` / `exec(load:V->NXM_NX_CT_MARK[])` actions set
//    its mark. At a limit the commit is refused and the packet dropped
//    (`conntrack-limit`); packets of existing connections never consult the limits.
// 4. Without `table=`, that is all: the action list goes on and, as in OVS, the
//    packet's `ct_state`/`ct_zone`/`ct_mark` do not change (the packet was only sent
//    through the tracker, e.g. to commit it). With `table=T` the packet is
//    recirculated: its ct fields are set from the result and table T runs, with the
//    registers, metadata and input port it has now. Here `ct(table=T)` ends the
//    action list (OVS forks: actions after it would run on the pre-ct packet;
//    Neutron's flows never put any there), and it counts as a resubmit toward
//    `Datapath.maximumResubmits`.
//
// Fragments. The tracker reassembles IP fragments before tracking. A fragment whose
// datagram is not complete yet is `.held`: for `ct(table=T)` the datapath keeps the
// frame, with its flow context, in a small fixed queue (`HeldFragmentQueue`); when a
// later fragment completes the datagram, every held fragment of it is recirculated
// with the datagram's result, in arrival order, before the completing one goes on.
// Fragments of a datagram that fails (overlap, too many, out of memory) are dropped
// (`conntrack-fragment`); held ones are dropped when their datagram dies or after the
// tracker's fragment timeout (`fragment-timeout`); a full hold queue drops the new
// fragment (`fragment-hold-full`). A held fragment of a `ct()` without `table=` goes
// straight on (its action list cannot be resumed later, and a ct() without table does
// not change what the flows see).
//
// NAT. `ct(commit,nat(src=IP[-IP][:P-P]))`, `nat(dst=...)` and plain `ct(nat)` ask the
// tracker for the translation (Conntrack+NAT.swift): new committed connections get a
// translated tuple (none free: dropped, `nat-exhausted`), every packet of a translated
// connection is rewritten in place in either direction, and the packet's address and
// port fields are read again so later flows match what is on the wire. Held fragments
// are translated when released.
//
// Cost. The per-packet path allocates nothing and touches no reference count: the
// tracker is reached through an unmanaged pointer cell, and the `ct()` arguments
// through the flow's action list, prepared when the table was built
// (`FlowTable.ActionList.conntrackSteps`, ConntrackStep.swift).
extension Datapath {
    /// Fragments one datapath holds at most while their datagrams complete.
    public static let heldFragmentCapacity = 64

    /// The connection tracker, once a flow with `ct()` has been installed (or
    /// `startConntrack()` was called). Control-path: use it on the thread that runs the
    /// datapath (the engine's worker, through `AFXDPEngine.perform`).
    public var conntrack: ConnectionTracker? { connectionTracking.instance }

    /// Creates the connection tracker from the configuration, if there is none yet.
    /// Called when a table with `ct()` is installed; an embedding program may call it
    /// earlier to pay for the allocation up front.
    @discardableResult
    public func startConntrack() -> ConnectionTracker {
        connectionTracking.start()
    }

    /// Runs `ct(...)` number `index` of `list` on the frame in `ctx`. Returns whether the
    /// action list goes on (false: the frame was recirculated, held or dropped).
    @inlinable
    func executeConntrack(_ index: Int32, list: FlowTable.ActionList, ctx: inout FlowContext, now: UInt64) -> Bool {
        guard let cell = connectionTracking.tracker.pointee else {
            drop(ctx.address, reason: .conntrackUnavailable, port: ctx.inPortID)
            ctx.consumed = true
            return false
        }
        let step = list.conntrackSteps + Int(index)
        writeKeyToFrame(&ctx)
        if ctx.consumed { return false }
        let frame = pool.pointer(ctx.address)
        // The parse the frame entered the bridge with (`ingress` parses into
        // `frameMeta[depth]`), brought up to date with what the actions wrote: no second parse.
        refreshFrameMeta(&ctx)
        let meta = frameMeta[ctx.depth]
        let zone = step.pointee.zone(of: &ctx.key)
        let length = Int(ctx.length)
        // `_withUnsafeGuaranteedRef`: the cell's reference is kept alive by
        // `connectionTracking.instance`, so no retain/release per packet.
        let result = cell._withUnsafeGuaranteedRef {
            $0.track(frame: frame, length: length, meta: meta, zone: zone, commit: step.pointee.commit, now: now,
                     markValue: step.pointee.markValue, markMask: step.pointee.markMask, nat: step.pointee.nat)
        }
        let table = step.pointee.table
        // Fragments (held, released with other frames' contexts) are never remembered.
        if result.datagram != 0 && openFlow.recorder.pointee.depth > 0 { openFlow.recorder.pointee.poisonAll() }
        switch result.disposition {
        case .forward:
            break
        case .drop:
            if result.datagram != 0 { dropHeldFragments(datagram: result.datagram) }
            let reason: DropReason = result.reason == .globalLimit || result.reason == .zoneLimit ? .conntrackLimit
                : result.reason == .natExhausted ? .natExhausted : .conntrackFragment
            drop(ctx.address, reason: reason, port: ctx.inPortID)
            ctx.consumed = true
            return false
        case .held:
            guard table >= 0 else { return true }
            let t = UInt8(table)
            if !connectionTracking.heldFragments.append(ctx, datagram: result.datagram, table: t, now: now) {
                drop(ctx.address, reason: .fragmentHoldFull, port: ctx.inPortID)
            }
            ctx.consumed = true
            return false
        }
        if result.state.contains(.snat) || result.state.contains(.dnat) { refreshAddresses(&ctx) }
        guard table >= 0 else { return true }
        if result.datagram != 0 && connectionTracking.heldFragments.count > 0 { releaseHeldFragments(result, now: now) }
        recirculate(&ctx, result: result, table: Int(table), now: now)
        return false
    }

    /// Sets the packet's ct fields from `result` and runs table `t`.
    @inlinable
    func recirculate(_ ctx: inout FlowContext, result: TrackResult, table t: Int, now: UInt64) {
        guard ctx.resubmits < Datapath.maximumResubmits else {
            drop(ctx.address, reason: .resubmitLimit, port: ctx.inPortID)
            ctx.consumed = true
            return
        }
        ctx.resubmits &+= 1
        ctx.key.ctState = result.state.rawValue; ctx.key.ctZone = result.zone; ctx.key.ctMark = result.mark
        // The ct fields are not in the frame's bytes: keep the frame's key equal.
        ctx.frameKey.ctState = result.state.rawValue; ctx.frameKey.ctZone = result.zone; ctx.frameKey.ctMark = result.mark
        runSegment(t, table: openFlow.views[ctx.bridgeID.index], ctx: &ctx, now: now)
    }

    /// After NAT rewrote the frame: its addresses and ports, read again, become the
    /// packet's (and the frame's) key fields.
    @inlinable
    func refreshAddresses(_ ctx: inout FlowContext) {
        var meta = PacketMetadata()
        _ = PacketParser.parse(pool.pointer(ctx.address), length: Int(ctx.length), into: &meta)
        func reread(_ key: inout FlowKey) {
            key.nwSrc = meta.nwSrc; key.nwDst = meta.nwDst
            key.ipv6SrcHi = meta.ipv6SrcHi; key.ipv6SrcLo = meta.ipv6SrcLo
            key.ipv6DstHi = meta.ipv6DstHi; key.ipv6DstLo = meta.ipv6DstLo
            if meta.l4Offset != 0 { key.tpSrc = meta.tpSrc; key.tpDst = meta.tpDst }
        }
        reread(&ctx.key)
        reread(&ctx.frameKey)
    }

    /// Recirculates every held fragment of `result.datagram`, oldest first, and finishes
    /// each as `interpretFlows` finishes a frame.
    @usableFromInline
    func releaseHeldFragments(_ result: TrackResult, now: UInt64) {
        var i = 0
        while i < connectionTracking.heldFragments.count {
            let slot = connectionTracking.heldFragments.slots + i
            guard slot.pointee.datagram == result.datagram else { i &+= 1; continue }
            var ctx = slot.pointee.context
            let table = Int(slot.pointee.table)
            connectionTracking.heldFragments.remove(at: i)
            if result.state.contains(.snat) || result.state.contains(.dnat), let tracker = connectionTracking.instance {
                // NAT rewrote only the fragment that completed the datagram.
                var meta = PacketMetadata()
                let frame = pool.pointer(ctx.address)
                _ = PacketParser.parse(frame, length: Int(ctx.length), into: &meta)
                tracker.translate(frame: frame, length: Int(ctx.length), meta: meta, result: result)
                refreshAddresses(&ctx)
            }
            recirculate(&ctx, result: result, table: table, now: now)
            endOfTables(&ctx, now: now)
        }
    }

    /// Drops every held fragment of `datagram` (its reassembly failed).
    @usableFromInline
    func dropHeldFragments(datagram: UInt32) {
        var i = 0
        while i < connectionTracking.heldFragments.count {
            let slot = connectionTracking.heldFragments.slots + i
            guard slot.pointee.datagram == datagram else { i &+= 1; continue }
            drop(slot.pointee.context.address, reason: .conntrackFragment, port: slot.pointee.context.inPortID)
            connectionTracking.heldFragments.remove(at: i)
        }
    }

    /// Drops held fragments older than the tracker's fragment timeout, and frees every
    /// connection whose expiration passed. `tick` calls it. Catching up in one call: after
    /// an idle gap (or a jump between a replay's timestamps) `dump-conntrack`,
    /// `conntrack-stats` and the limits see exactly the connections alive at `now`, not
    /// those a bounded sweep had not reached yet. The work is one look at each expiry
    /// list's head plus one removal per expired connection, each paid once.
    @usableFromInline
    func conntrackHousekeeping(now: UInt64) {
        if connectionTracking.heldFragments.count > 0 {
            let timeout = connectionTracking.configuration.fragmentTimeoutNanoseconds
            var i = 0
            while i < connectionTracking.heldFragments.count {
                let slot = connectionTracking.heldFragments.slots + i
                guard now &- slot.pointee.since >= timeout else { i &+= 1; continue }
                drop(slot.pointee.context.address, reason: .fragmentTimeout, port: slot.pointee.context.inPortID)
                connectionTracking.heldFragments.remove(at: i)
            }
        }
        _ = connectionTracking.instance?.expire(now: DatapathInstant(nanoseconds: now))
    }

    /// Frames held in the datapath: fragments waiting for their datagram.
    public var heldFrameCount: Int { connectionTracking.heldFragments.count }

    // MARK: Control

    /// What `ovs-appctl dpctl/dump-conntrack [zone=N]` lists: the connections of the
    /// `ct()` flows, then each router's NAT connections (with the translated reply; a
    /// router tracks them in `DatapathRouter.natZone` of its own tracker, so overlapping tenants
    /// stay apart), each tracker's sorted by `description`.
    public func conntrackConnections(zone: UInt16? = nil) -> [ConnectionInfo] {
        var connections = connectionTracking.instance?.sortedConnections(zone: zone) ?? []
        for router in routers { if let tracker = router.conntrack { connections += tracker.sortedConnections(zone: zone) } }
        return connections
    }

    /// `ovs-appctl dpctl/flush-conntrack [zone=N] [tuple]`: removes the connections
    /// selected (all without arguments). Returns how many.
    @discardableResult
    public func flushConntrack(zone: UInt16? = nil, tuple: ConntrackTupleFilter? = nil) -> Int {
        guard let tracker = connectionTracking.instance else { return 0 }
        return tracker.flush { info in
            if let zone, info.original.zone != zone { return false }
            if let tuple, !tuple.matches(info.original) { return false }
            return true
        }
    }

    /// The flows' connection tracker at this moment (what `xdpswitch conntrack-stats`
    /// prints); nil while it has not started (no flow uses `ct()`).
    public func conntrackStatistics() -> ConntrackStatistics? {
        guard let tracker = connectionTracking.instance else { return nil }
        var zones: [UInt16: Int] = [:]
        for c in tracker.connections() { zones[c.original.zone, default: 0] += 1 }
        return ConntrackStatistics(connections: tracker.connectionCount, capacity: tracker.capacity, zones: zones,
                                   counters: tracker.nonZeroCounters, heldFragments: connectionTracking.heldFragments.count)
    }
}

/// The flows' connection tracker at one moment (see `Datapath.conntrackStatistics()`).
public struct ConntrackStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Connections held.
    public var connections: Int
    /// The most it can hold.
    public var capacity: Int
    /// Connections per zone; zones with none are absent.
    public var zones: [UInt16: Int]
    /// The tracker's counters by name (`ConntrackCounter`); counters at zero are absent.
    public var counters: [String: UInt64]
    /// Fragments held in the datapath waiting for the rest of their datagram.
    public var heldFragments: Int

    /// A snapshot with every field given.
    public init(connections: Int, capacity: Int, zones: [UInt16: Int], counters: [String: UInt64], heldFragments: Int) {
        self.connections = connections
        self.capacity = capacity
        self.zones = zones
        self.counters = counters
        self.heldFragments = heldFragments
    }

    /// `connections: 3 (limit 65536), 2 zones, 1 held fragments`.
    public var description: String {
        "connections: \(connections) (limit \(capacity)), \(zones.count) zones, \(heldFragments) held fragments"
    }
}

/// Which connections `flush-conntrack` removes, in the syntax of
/// `ovs-appctl dpctl/flush-conntrack`'s tuple: `ct_nw_src=IP,ct_nw_dst=IP,ct_nw_proto=N,
/// ct_tp_src=P,ct_tp_dst=P` (IPv6: `ct_ipv6_src`, `ct_ipv6_dst`), any subset. Fields are
/// compared with the connection's original direction.
public struct ConntrackTupleFilter: Sendable, Equatable {
    /// 4 or 6 when a source address is given (`ct_nw_src`, `ct_ipv6_src`), 0: any source.
    public var sourceFamily: UInt8 = 0
    /// The source address as `ConntrackKey` holds it: IPv4 in `sourceLo`, IPv6 in both halves, host order.
    public var sourceHi: UInt64 = 0, sourceLo: UInt64 = 0
    /// 4 or 6 when a destination address is given, 0: any destination.
    public var destinationFamily: UInt8 = 0
    /// The destination address, held as the source is.
    public var destinationHi: UInt64 = 0, destinationLo: UInt64 = 0
    /// `ct_nw_proto`: the IP protocol; nil: any.
    public var proto: UInt8?
    /// `ct_tp_src`; nil: any. Given, it selects only connections with ports (`ConntrackKey.hasPorts`).
    public var sourcePort: UInt16?
    /// `ct_tp_dst`; nil: any. Given, it selects only connections with ports.
    public var destinationPort: UInt16?

    /// An empty filter, which selects every connection.
    public init() {}

    /// Parses `ct_nw_src=10.0.0.1,ct_tp_dst=80,...`.
    /// - Throws: a message naming the bad field.
    public init(parsing text: String) throws(ConntrackTupleFilterError) {
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ConntrackTupleFilterError(message: "\(item): expected FIELD=VALUE") }
            let (name, value) = (parts[0], parts[1])
            switch name {
            case "ct_nw_src", "ct_nw_dst":
                guard let a = IPv4Address(value) else { throw ConntrackTupleFilterError(message: "\(name): \(value) is not an IPv4 address") }
                if name == "ct_nw_src" { sourceFamily = 4; sourceLo = UInt64(a.rawValue) } else { destinationFamily = 4; destinationLo = UInt64(a.rawValue) }
            case "ct_ipv6_src", "ct_ipv6_dst":
                guard let a = IPv6Address(value) else { throw ConntrackTupleFilterError(message: "\(name): \(value) is not an IPv6 address") }
                if name == "ct_ipv6_src" {
                    sourceFamily = 6; sourceHi = a.high; sourceLo = a.low
                } else {
                    destinationFamily = 6; destinationHi = a.high; destinationLo = a.low
                }
            case "ct_nw_proto":
                guard let n = UInt8(value) else { throw ConntrackTupleFilterError(message: "ct_nw_proto: \(value) is not 0-255") }
                proto = n
            case "ct_tp_src", "ct_tp_dst":
                guard let n = UInt16(value) else { throw ConntrackTupleFilterError(message: "\(name): \(value) is not 0-65535") }
                if name == "ct_tp_src" { sourcePort = n } else { destinationPort = n }
            default:
                throw ConntrackTupleFilterError(
                    message: "\(name): unknown field (ct_nw_src, ct_nw_dst, ct_ipv6_src, ct_ipv6_dst, ct_nw_proto, ct_tp_src, ct_tp_dst)")
            }
        }
    }

    /// Whether `key` (a connection's original direction) is selected.
    public func matches(_ key: ConntrackKey) -> Bool {
        if sourceFamily != 0 && (key.family != sourceFamily || key.srcHi != sourceHi || key.srcLo != sourceLo) { return false }
        if destinationFamily != 0 && (key.family != destinationFamily || key.dstHi != destinationHi || key.dstLo != destinationLo) {
            return false
        }
        if let proto, key.proto != proto { return false }
        if let sourcePort, !(key.hasPorts && key.sourcePort == sourcePort) { return false }
        if let destinationPort, !(key.hasPorts && key.destinationPort == destinationPort) { return false }
        return true
    }
}

/// A `flush-conntrack` tuple that does not parse.
public struct ConntrackTupleFilterError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the field (`ct_tp_dst: 70000 is not 0-65535`).
    public var message: String
    /// `message` alone, as an error printed by the command line reads.
    public var description: String { message }
}

/// Fragments held by the datapath while their datagram is reassembled: a fixed array
/// of slots, filled in arrival order (`remove` keeps the order).
@usableFromInline
final class HeldFragmentQueue {
    @usableFromInline
    struct Slot {
        @usableFromInline var context: Datapath.FlowContext
        @usableFromInline var datagram: UInt32
        @usableFromInline var table: UInt8
        @usableFromInline var since: UInt64
    }

    @usableFromInline let slots: UnsafeMutablePointer<Slot>
    @usableFromInline let capacity: Int
    @usableFromInline var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    @usableFromInline
    func append(_ context: Datapath.FlowContext, datagram: UInt32, table: UInt8, now: UInt64) -> Bool {
        guard count < capacity else { return false }
        (slots + count).initialize(to: Slot(context: context, datagram: datagram, table: table, since: now))
        count &+= 1
        return true
    }

    @usableFromInline
    func remove(at i: Int) {
        (slots + i).deinitialize(count: 1)
        let rest = count &- i &- 1
        if rest > 0 { (slots + i).moveInitialize(from: slots + i + 1, count: rest) }
        count &-= 1
    }
}
