// The flow-segment cache: a whole run through a bridge's tables, remembered.
//
// A frame entering a bridge with OpenFlow tables walks them from table 0: a lookup per
// table, the flow's actions (most of them only change the flow key: `load`,
// `mod_vlan_vid`, `strip_vlan`, `set_field`...), a `resubmit` or `goto_table` to the
// next table, until an output or a `ct(table=T)`, which sends the packet through the
// connection tracker and starts again at table T with the ct fields set. Neutron's
// firewall takes five such lookups for a packet that conntrack finds established (0 →
// 60 → 81 → ct → 82 → 92), its br-tun three or four. The per-table exact-match cache
// (ExactMatchCache.swift) makes each lookup one hash and one compare, but the chain of
// lookups, flow counters and actions is still most of the cost of such a packet.
//
// What a segment is. Between two entries — the start of the pipeline (table 0) and a
// recirculation (`ct(table=T)`) — everything a packet does depends on its flow key
// alone: lookups are functions of the key, and so is every key-changing action. So for
// a segment whose end is one of
//
//   * one output (a port, NORMAL, FLOOD, ALL, IN_PORT) as the last thing that happens,
//   * a `ct(...,table=T)` as the last thing that happens,
//   * nothing (no flow matched, or the flows dropped it),
//
// the cache remembers, under the entry key (the full `FlowKey`, the table, the input
// port, the table version): the flows the segment hit (their counters must still
// count), the key at the end, and the end. The next packet with the same entry key
// skips the tables: it bumps the flows' counters, takes the end key, and does the end
// — the output through `setPendingOutput`, the conntrack action through `executeConntrack` — live,
// exactly as the walk would have. What happens after the end is never cached: NORMAL's
// MAC learning and lookup, patch ports, tunnels and services, the tracker's verdict
// (which sets the key of the next segment, itself looked up in the cache).
//
// How segments are recorded. A segment that misses runs through the tables as usual
// while a recorder watches (`SegmentRecord`, a small stack: a recirculation inside a
// recorded segment records the next segment on top of it). It notes each flow hit,
// the output or `ct()` that ends it, and gives up on the segment ("poisoned") when
// anything happens that a replay would not reproduce: a second output, any action or
// flow hit after the end (a `resubmit` whose caller goes on after the output, actions
// after `ct()` in an outer flow), `learn`, a drop in the middle (`dec_ttl` at TTL 1,
// the resubmit limit, no tracker), output to the controller or LOCAL, `ct()` without
// `table=`, fragments (held and released out of order), more than
// `SegmentRecord.hitCapacity` flow hits. A clean segment is stored when its walk
// returns. Tracing (`xdpswitch trace`) bypasses the cache: a trace shows every table.
//
// Validity. Each slot is tagged with the table version it was recorded under; any
// change of the tables (add/mod/del-flows, learning, expiry, security-group updates)
// bumps the version and so invalidates every slot at once, as with the exact-match
// cache. The entry's key also carries the input port id and the two parse facts that
// actions read besides the key (IPv4 or not, which L4 checksum follows): a hit means
// the walk would have taken exactly the same steps.
//
// Collisions. The array is direct mapped: a segment goes to the slot its key and table
// hash to, replacing what was there. Two segments of one frame's walk that hash alike
// replace each other on every frame: such a connection always walks the tables, and the
// fast path, which works a path out from the cache, never repeats it (`bench sg --flows
// 1000`: 0.4% of the frames). Two slots per hash, filled alternately, end that, but in
// the forms tried they cost every hit 9 to 16 instructions more (`make bench-instructions`,
// flows-1), a price the common case would pay for the rare one; the map stays direct.
//
// Cost. A hit is a hash of the key (17 multiply-adds), one 17-word compare, a copy of
// the end key and the counter updates: about the cost of one exact-match lookup,
// instead of one per table plus the actions. Memory is allocated once per bridge;
// the per-packet path uses it through raw pointers and allocates nothing.

/// One remembered segment (see the essay above).
@usableFromInline
struct FlowSegment {
    /// The key the segment started with.
    @usableFromInline var key: FlowKey
    /// The key at its end: what the output or `ct()` saw.
    @usableFromInline var endKey: FlowKey
    /// `FlowTableView.cacheTag(table:)` of the fill (0: empty).
    @usableFromInline var tag: UInt64
    @usableFromInline var inPortID: Int32
    /// `FlowContext.isIPv4` (bit 8) and `l4Protocol` (bits 0-7) at the start.
    @usableFromInline var parseFacts: UInt16
    @usableFromInline var end: SegmentEnd
    @usableFromInline var hitCount: UInt8
    /// Resubmits the walk made (counted toward `Datapath.maximumResubmits` on a replay).
    @usableFromInline var resubmits: UInt8
    /// Where an `.output` end sends the frame (`setPendingOutput`'s argument).
    @usableFromInline var output: OutputTarget
    /// For a `.conntrack` end, the flow holding the `ct()`.
    @usableFromInline var conntrackFlow: Int32
    /// Which `ct()` of that flow.
    @usableFromInline var conntrackIndex: Int32
    /// The flows hit, in order (indices into the table version's action lists).
    @usableFromInline var hits: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32)

    @usableFromInline
    enum SegmentEnd: UInt8 { case none, output, conntrack }

    init() {
        key = FlowKey()
        endKey = FlowKey()
        tag = 0
        inPortID = -1
        parseFacts = 0
        end = .none
        hitCount = 0
        resubmits = 0
        output = .normal
        conntrackFlow = 0
        conntrackIndex = 0
        hits = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// Flow hit `i` (0..<hitCount) of the segment at `segment`, read in place.
    @inlinable @inline(__always)
    static func hit(_ segment: UnsafeMutablePointer<FlowSegment>, _ i: Int) -> Int32 {
        withUnsafeBytes(of: &segment.pointee.hits) { $0.load(fromByteOffset: i &* 4, as: Int32.self) }
    }

    @inlinable
    mutating func setHit(_ i: Int, _ index: Int32) {
        withUnsafeMutableBytes(of: &hits) { $0.storeBytes(of: index, toByteOffset: i &* 4, as: Int32.self) }
    }
}

/// A segment being recorded: the slot it will fill, and what can still spoil it.
@usableFromInline
struct SegmentRecord {
    /// Most flow hits a cached segment holds.
    @usableFromInline static var hitCapacity: Int { 8 }
    @usableFromInline var segment: FlowSegment
    /// The resubmit count when the segment started.
    @usableFromInline var resubmitsAtStart: Int
    @usableFromInline var poisoned: Bool
    /// Whether the segment's end (an output, a `ct()`) has happened.
    @inlinable var ended: Bool { segment.end != .none }

    init() {
        segment = FlowSegment()
        resubmitsAtStart = 0
        poisoned = false
    }
}

/// A bridge's flow-segment cache: a direct-mapped array of segments, and the recorder.
@frozen
@usableFromInline
struct FlowSegmentCache {
    @usableFromInline let slots: UnsafeMutablePointer<FlowSegment>
    @usableFromInline let mask: Int
    /// hits, misses, segments stored, segments given up (poisoned).
    @usableFromInline let counters: UnsafeMutablePointer<UInt64>

    init(slots count: Int) {
        var size = 16
        while size < count { size <<= 1 }
        mask = size - 1
        slots = .allocate(capacity: size)
        slots.initialize(repeating: FlowSegment(), count: size)
        counters = .allocate(capacity: 4)
        counters.initialize(repeating: 0, count: 4)
    }

    func deallocate() {
        slots.deallocate()
        counters.deallocate()
    }

    /// The slot of `key` entering table `t`.
    @inlinable @inline(__always)
    func slot(key: FlowKey, table t: Int) -> UnsafeMutablePointer<FlowSegment> {
        slots + (Int(truncatingIfNeeded: key.fastHash &+ UInt64(t) &* 0x9E37_79B9) & mask)
    }

    @inlinable func countHit() { counters[0] &+= 1 }
    @inlinable func countMiss() { counters[1] &+= 1 }
    @inlinable func countStored() { counters[2] &+= 1 }
    @inlinable func countPoisoned() { counters[3] &+= 1 }

    public var hits: UInt64 { counters[0] }
    public var misses: UInt64 { counters[1] }
    public var stored: UInt64 { counters[2] }
    public var poisoned: UInt64 { counters[3] }
}

/// The datapath's segment recorder: a stack of records (a recirculation inside a recorded
/// segment records the next segment on top), and whether the top record takes events
/// (false during a replay and outside recordings). Lives behind a pointer of the datapath.
@usableFromInline
struct SegmentRecorder {
    /// Recirculations deep a recording goes; deeper segments run unrecorded (and spoil
    /// the record below them).
    @usableFromInline static var depthLimit: Int { 4 }
    @usableFromInline let records: UnsafeMutablePointer<SegmentRecord>
    @usableFromInline var depth = 0
    @usableFromInline var active = false

    init() {
        records = .allocate(capacity: Self.depthLimit)
        records.initialize(repeating: SegmentRecord(), count: Self.depthLimit)
    }

    func deallocate() { records.deallocate() }

    /// The record taking events (valid while `active`).
    @inlinable var top: UnsafeMutablePointer<SegmentRecord> { records + (depth &- 1) }

    /// Gives up on every open record (fragments).
    @inlinable
    func poisonAll() {
        for i in 0..<depth { records[i].poisoned = true }
    }
}
