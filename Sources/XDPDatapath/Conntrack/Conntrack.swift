import XDPPacket

// Connection tracking
// ===================
//
// What it does
// ------------
// `ConnectionTracker` is the state behind the `ct()` action: it decides, per packet,
// whether the packet opens a connection (+new), belongs to one (+est, +rpl when it
// travels in the reply direction), is an ICMP error about one (+rel), or makes no
// sense (+inv). Every packet it answers is +trk. It follows the userspace tracker of
// Open vSwitch (lib/conntrack*.c) where OVS and netfilter agree, and netfilter where
// the brief asks for it (UDP/ICMP stay +new until a reply is seen; a TCP connection
// must start with a SYN unless `tcpLoose`).
//
//     let ct = ConnectionTracker(configuration: .init())
//     let r = ct.track(frame: p, length: n, meta: meta, zone: 1, commit: true, now: clock)
//     if r.disposition == .drop { count r.reason; drop }
//     key.ctState = r.state.rawValue; key.ctMark = r.mark; key.ctZone = r.zone
//
// A connection is remembered only when a packet is tracked with `commit: true` (as
// `ct(commit)`): an uncommitted packet gets +trk+new and leaves nothing behind, so a
// security group that drops the packet never fills the table.
//
// Layout and invariants
// ---------------------
// * Entries live in one array of `capacity` `ConntrackEntry` values allocated at init;
//   unused entries are on a free list threaded through `next`. A connection never
//   moves, so its index (plus one) is a stable handle while it lives.
// * The index is an open-addressing table of 64-bit slots (power of two, at least 4×
//   capacity, so the load factor stays ≤ ½ with two keys per connection), linear
//   probing, backward-shift deletion (no tombstones, so probe chains never rot). A slot
//   is 0 when empty, else `hash32 << 32 | (entry * 2 + direction + 1)`: the probe
//   compares 32 hash bits before touching the entry. Every live entry has exactly two
//   slots, one per direction; a lookup finds either.
// * Each connection is on exactly one of eleven expiry lists, one per timeout class
//   (TCP SYN_SENT, …, ICMP reply). Within a list every entry got the same timeout, so
//   appending on each update keeps the list sorted by expiration and the head is
//   always the next to expire (OVS's `exp_lists`). Expiry pops heads: `track` looks at
//   one list per call and frees at most `expiryBudget` entries, `expire(now:budget:)`
//   does the same for a caller that is idle. A lookup that finds an expired entry
//   deletes it on the spot, so an entry is never used past its expiration no matter
//   how far behind the sweep is; the sweep only bounds how long memory stays taken.
// * Counts: `live` = entries off the free list; `zoneCounts[z]` = live entries in
//   zone z. A commit is refused (counted, the packet still +trk+new, disposition
//   `.drop`) when live ≥ the global limit or the zone's count ≥ its limit; packets of
//   existing connections never consult the limits, so established traffic keeps
//   flowing through a SYN flood.
// * TCP per-direction state lives in a parallel `TCPPeer` array (two per entry),
//   tracked as in OVS conntrack-tcp.c (Guido van Rooij's window tracking via pf): see
//   Conntrack+TCP.swift.
// * IP fragments are reassembled first (Conntrack+Fragments.swift) in a fixed pool of
//   contexts and bytes; the datagram is tracked once complete and its result is the
//   result for every fragment of it.
//
// Memory bounds
// -------------
// Everything is allocated in `init` and never grows: entries (`capacity` × ~136 bytes
// including TCP peers), index (≥ 4 × capacity × 8 bytes), two zone arrays (65 536 × 4
// bytes each), fragment contexts (`fragmentContexts` × `maxDatagramSize` bytes plus
// `maxFragmentsPerDatagram` ranges each). With the defaults (65 536 connections, 32
// contexts of 64 KiB) that is about 14 MiB; 1 M connections take about 170 MiB.
// The per-packet path allocates nothing, never throws and takes no lock;
// dump/flush/limits allocate and are control-path. With `stateFile` set, the entries and
// TCP peers are the payload of a file mapped shared instead of heap memory, so a restarted
// switch adopts the connections (ConntrackStateFile.swift); the per-packet code is the same.
//
// Threads
// -------
// A tracker is owned by one thread: the datapath worker that processes the packets.
// It is not thread-safe and has no lock. Today the datapath is single-worker, so one
// tracker serves every bridge. With several workers, give each worker its own
// tracker and steer flows so both directions of a connection reach the same worker
// (a symmetric RSS hash, or steering by zone + sorted address pair in the XDP
// program); this is "one tracker per worker" rather than a shared table with locks.
// Control operations (dump, flush, limits) must run on the owning thread, e.g.
// through `AFXDPEngine.perform` between iterations.
//
// Time
// ----
// The tracker never reads a clock: each call passes `now` in nanoseconds from the
// datapath's monotonic clock (an engine's is CLOCK_BOOTTIME, which a state file's
// expirations stay valid on across processes). Tests inject any clock they like.
//
// NAT (Conntrack+NAT.swift): a translated connection's reply key is not the reverse of
// its original key; both are indexed, so either direction still finds it with one lookup.
//
// Not done here (the datapath's side): ALGs (`alg=`), `force`, `ct_label`,
// and holding fragment frames while their datagram is incomplete (see `TrackResult`).

/// Per-state timeouts (a negative one counts as zero). Defaults follow the brief (OVS's
/// userspace defaults are in parentheses where they differ): TCP SYN_SENT 30, SYN_RECV 30, ESTABLISHED
/// 24 h, FIN_WAIT 30 (OVS 15 min), TIME_WAIT/CLOSED 120 (OVS 45/30); UDP first 30 (60),
/// UDP both ways 180 (30); ICMP 30 (60 first); other protocols as UDP.
public struct ConntrackTimeouts: Sendable, Equatable {
    /// A SYN was seen, nothing else yet (also a picked-up connection's first packet).
    public var tcpSynSent: Duration = .seconds(30)
    /// The handshake is under way (either side not yet ESTABLISHED).
    public var tcpSynReceived: Duration = .seconds(30)
    /// Both sides ESTABLISHED.
    public var tcpEstablished: Duration = .seconds(86_400)
    /// One or both sides sent a FIN.
    public var tcpFinWait: Duration = .seconds(30)
    /// Both FINs acknowledged, or a RST: TIME_WAIT.
    public var tcpTimeWait: Duration = .seconds(120)
    /// UDP: only the original direction has been seen.
    public var udpFirst: Duration = .seconds(30)
    /// UDP: both directions seen.
    public var udpMultiple: Duration = .seconds(180)
    /// ICMP query: no answer yet.
    public var icmpFirst: Duration = .seconds(30)
    /// ICMP query answered.
    public var icmpReply: Duration = .seconds(30)
    /// Other protocols: one direction seen.
    public var otherFirst: Duration = .seconds(30)
    /// Other protocols: both directions seen.
    public var otherMultiple: Duration = .seconds(180)

    /// The defaults listed above.
    public init() {}

    func duration(_ c: ConntrackTimeoutClass) -> Duration {
        switch c {
        case .tcpSynSent: tcpSynSent
        case .tcpSynReceived: tcpSynReceived
        case .tcpEstablished: tcpEstablished
        case .tcpFinWait: tcpFinWait
        case .tcpTimeWait: tcpTimeWait
        case .udpFirst: udpFirst
        case .udpMultiple: udpMultiple
        case .icmpFirst: icmpFirst
        case .icmpReply: icmpReply
        case .otherFirst: otherFirst
        case .otherMultiple: otherMultiple
        }
    }
}

/// Which timeout a connection is running on; also the expiry list it is on.
public enum ConntrackTimeoutClass: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// TCP, by the state of the handshake or teardown (the `ConntrackTimeouts` of the same names).
    case tcpSynSent, tcpSynReceived, tcpEstablished, tcpFinWait, tcpTimeWait
    /// UDP, ICMP and other protocols: one direction seen, or both (a reply for ICMP).
    case udpFirst, udpMultiple, icmpFirst, icmpReply, otherFirst, otherMultiple

    /// The number of classes, as a constant (`allCases` builds an array: not per packet).
    static var count: Int { 11 }

    /// The class in kebab case, as `dump-conntrack` and the counters print it (`tcp-syn-recv`).
    public var description: String {
        switch self {
        case .tcpSynSent: "tcp-syn-sent"
        case .tcpSynReceived: "tcp-syn-recv"
        case .tcpEstablished: "tcp-established"
        case .tcpFinWait: "tcp-fin-wait"
        case .tcpTimeWait: "tcp-time-wait"
        case .udpFirst: "udp-first"
        case .udpMultiple: "udp-multiple"
        case .icmpFirst: "icmp-first"
        case .icmpReply: "icmp-reply"
        case .otherFirst: "other-first"
        case .otherMultiple: "other-multiple"
        }
    }
}

/// How a `ConnectionTracker` is sized and behaves. Everything here is fixed at init
/// except the limits, which `setLimit`/`setZoneLimit` change at run time.
public struct ConntrackConfiguration: Sendable, Equatable {
    /// Connections the tracker can hold (entries allocated at init). Also the initial
    /// global limit.
    public var capacity: Int = 65_536
    /// Limit for zones without their own (0: unlimited), as `ovs-appctl dpctl/ct-set-limits default=N`.
    public var defaultZoneLimit: UInt32 = 0
    /// Per-zone limits (0: unlimited for that zone).
    public var zoneLimits: [UInt16: UInt32] = [:]
    /// Per-state timeouts.
    public var timeouts = ConntrackTimeouts()
    /// Accept a TCP connection whose first packet is not a SYN (picking up connections
    /// that were established before the tracker saw them, netfilter's `tcp_loose`; OVS
    /// does this always). Off: such a packet is +inv.
    public var tcpLoose = false
    /// Check TCP sequence and acknowledgment windows (OVS's `tcp_seq_chk`). Off: only
    /// flags are checked.
    public var tcpWindowChecking = true
    /// Expired connections freed at most per `track` call (the incremental sweep).
    public var expiryBudget = 4
    /// Datagrams that can be under reassembly at once.
    public var fragmentContexts = 32
    /// Largest reassembled L4 payload (bytes after the IPv4 header / IPv6 fragment header).
    public var maxDatagramSize = 65_535
    /// Bytes all incomplete datagrams may hold together.
    public var fragmentMemory = 1 << 20
    /// Fragments one datagram may have.
    public var maxFragmentsPerDatagram = 64
    /// An incomplete datagram is dropped this long after its first fragment (OVS's ipf
    /// uses 15 s, Linux 30 s; a negative one counts as zero).
    public var fragmentTimeout: Duration = .seconds(15)
    /// `fragmentTimeout` in the clock's nanoseconds.
    var fragmentTimeoutNanoseconds: UInt64 { UInt64(max(0, fragmentTimeout.nanosecondsClamped)) }
    /// Seed of the table hash; nil picks a random one (hash flooding is then a guess).
    public var hashSeed: UInt64? = nil
    /// A file the connections are kept in, mapped shared, so that a restarted switch
    /// adopts them (ConntrackStateFile.swift); nil: ordinary memory, lost with the process.
    public var stateFile: String? = nil

    /// 65,536 connections, no zone limits, the default timeouts, window checking on,
    /// loose TCP pickup off, 32 reassembly contexts of up to 64 fragments, no state file.
    public init() {}
}

/// What the datapath should do with the frame after tracking.
public enum ConntrackDisposition: UInt8, Sendable {
    /// Continue with the ct state in the result (which may be +inv: the flows decide).
    case forward
    /// Drop: a commit refused at a limit, or a fragment that cannot be reassembled.
    /// `reason` says why (counted).
    case drop
    /// A fragment whose datagram is not complete yet: its bytes were copied; the
    /// datapath holds the frame until a later fragment of the same `datagram` returns
    /// `.forward` (then every held fragment gets that result) or until
    /// `fragmentTimeout` passes (then it drops them).
    case held
}

/// Counters and the reasons in `TrackResult.reason`. Invalid packets, refusals and
/// fragment drops each have their own; `none` is "nothing to report".
public enum ConntrackCounter: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Nothing to report (the reason of a packet tracked normally).
    case none
    /// Life of connections: committed, timed out, removed by a flush, replaced by a SYN on
    /// a closed connection.
    case created, expired, flushed, recreated
    /// +inv reasons: cut-off or impossible headers, not IP, TCP flag combinations, a first
    /// packet that is not a SYN, a SYN-ACK with no connection, a segment out of window.
    case malformed, notIP, tcpBadFlags, tcpNoSYN, tcpSynAckWithoutConnection, tcpOutOfWindow
    /// +inv reasons of ICMP: a type not tracked, a reply or an error with no connection, an
    /// error whose inner packet cannot be read.
    case icmpUnsupportedType, icmpReplyWithoutConnection, icmpErrorWithoutConnection, icmpErrorMalformed
    /// Commit refused: the global limit or the zone's limit is reached.
    case globalLimit, zoneLimit
    /// NAT: no free translated tuple in the requested range (commit refused); translations made.
    case natExhausted, natTranslated
    /// Fragments: held for reassembly, datagrams completed, and fragments dropped for
    /// overlapping, repeating, being malformed or making the datagram too large.
    case fragmentHeld, reassembled, fragmentOverlap, fragmentDuplicate, fragmentMalformed, fragmentTooLarge
    /// Fragments dropped at the limits: too many per datagram, no free context, the memory
    /// budget spent, or the datagram not complete within `fragmentTimeout`.
    case fragmentTooMany, fragmentContextsFull, fragmentMemoryFull, fragmentTimeout

    /// The counter in kebab case, as statistics print it (`tcp-out-of-window`).
    public var description: String {
        switch self {
        case .none: "none"
        case .created: "created"
        case .expired: "expired"
        case .flushed: "flushed"
        case .recreated: "recreated"
        case .malformed: "malformed"
        case .notIP: "not-ip"
        case .tcpBadFlags: "tcp-bad-flags"
        case .tcpNoSYN: "tcp-no-syn"
        case .tcpSynAckWithoutConnection: "tcp-syn-ack-without-connection"
        case .tcpOutOfWindow: "tcp-out-of-window"
        case .icmpUnsupportedType: "icmp-unsupported-type"
        case .icmpReplyWithoutConnection: "icmp-reply-without-connection"
        case .icmpErrorWithoutConnection: "icmp-error-without-connection"
        case .icmpErrorMalformed: "icmp-error-malformed"
        case .globalLimit: "global-limit"
        case .zoneLimit: "zone-limit"
        case .natExhausted: "nat-exhausted"
        case .natTranslated: "nat-translated"
        case .fragmentHeld: "fragment-held"
        case .reassembled: "reassembled"
        case .fragmentOverlap: "fragment-overlap"
        case .fragmentDuplicate: "fragment-duplicate"
        case .fragmentMalformed: "fragment-malformed"
        case .fragmentTooLarge: "fragment-too-large"
        case .fragmentTooMany: "fragment-too-many"
        case .fragmentContextsFull: "fragment-contexts-full"
        case .fragmentMemoryFull: "fragment-memory-full"
        case .fragmentTimeout: "fragment-timeout"
        }
    }
}

/// The answer for one packet.
@frozen
public struct TrackResult: Sendable, Equatable {
    /// ct_state bits (always +trk unless the frame is a held fragment).
    public var state: CTState
    /// ct_mark of the connection (0 when there is none).
    public var mark: UInt32
    /// The zone the packet was tracked in.
    public var zone: UInt16
    /// Forward, drop or held (see `ConntrackDisposition`).
    public var disposition: ConntrackDisposition
    /// Why the packet is +inv or dropped or held; `.none` otherwise.
    public var reason: ConntrackCounter
    /// Handle of the connection (entry index + 1), 0 when there is none. Valid until
    /// the next call that may delete connections (`track`, `expire`, `flush`).
    public var connection: UInt32
    /// For fragments: the datagram (unique per reassembly), else 0.
    public var datagram: UInt32

    /// A result; by default forwarded, with no connection, reason or datagram.
    @inlinable
    public init(state: CTState, mark: UInt32 = 0, zone: UInt16, disposition: ConntrackDisposition = .forward,
                reason: ConntrackCounter = .none, connection: UInt32 = 0, datagram: UInt32 = 0) {
        self.state = state; self.mark = mark; self.zone = zone; self.disposition = disposition
        self.reason = reason; self.connection = connection; self.datagram = datagram
    }

    /// The packet travels in the connection's reply direction (+rpl).
    public var isReply: Bool { state.contains(.reply) }
}

/// A connection as the control path sees it (`lookup`, `connections`).
public struct ConnectionInfo: Sendable, Equatable {
    /// The tuple of the original direction (the first packet's), as seen before NAT.
    public var original: ConntrackKey
    /// The tuple replies carry: `original` reversed, with NAT's translation applied.
    public var reply: ConntrackKey
    /// The connection's `ct_mark`.
    public var mark: UInt32
    /// The timeout it runs on now.
    public var timeoutClass: ConntrackTimeoutClass
    /// When (on the tracker's clock) it expires unless a packet refreshes it.
    public var expiration: DatapathInstant
    /// A packet was seen in the reply direction.
    public var seenReply: Bool
    /// TCP state of each side (OVS's per-peer states), nil for other protocols.
    public var tcpStates: (original: TCPConnectionState, reply: TCPConnectionState)?

    /// Field by field (written out because the `tcpStates` tuple is not `Equatable`).
    public static func == (a: ConnectionInfo, b: ConnectionInfo) -> Bool {
        a.original == b.original && a.reply == b.reply && a.mark == b.mark && a.timeoutClass == b.timeoutClass
            && a.expiration == b.expiration && a.seenReply == b.seenReply
            && a.tcpStates?.original == b.tcpStates?.original && a.tcpStates?.reply == b.tcpStates?.reply
    }
}

/// One connection's entry. Plain data in a preallocated array.
@usableFromInline
struct ConntrackEntry {
    var original = ConntrackKey()
    var reply = ConntrackKey()
    var expiration: UInt64 = 0
    /// Expiry list links (entry indices, `nilIndex` at the ends); `next` also threads the free list.
    var prev: UInt32 = ConnectionTracker.nilIndex
    var next: UInt32 = ConnectionTracker.nilIndex
    var mark: UInt32 = 0
    var timeoutClass: UInt8 = 0
    /// `inUse`, `seenReply`, `natSource`, `natDestination`.
    var flags: UInt8 = 0

    static let inUse: UInt8 = 1
    static let seenReply: UInt8 = 2
    /// The reply key's destination is not the original source (SNAT).
    static let natSource: UInt8 = 4
    /// The reply key's source is not the original destination (DNAT).
    static let natDestination: UInt8 = 8
    static let natMask: UInt8 = natSource | natDestination
    /// Its TCP segments are not refused for their window: the in-kernel fast path carried
    /// some of them (Conntrack+FastPath.swift).
    static let liberal: UInt8 = 16
}

/// Mutable scalars of a tracker, in memory allocated once (no class property writes
/// on the per-packet path).
struct ConntrackScalars {
    var freeHead: UInt32 = ConnectionTracker.nilIndex
    var live = 0
    var globalLimit = 0
    var defaultZoneLimit: UInt32 = 0
    var sweepCursor = 0
    var fragmentBytes = 0
    var nextDatagram: UInt32 = 1
}

/// The connection tracker: see the essay at the top of Conntrack.swift.
public final class ConnectionTracker {
    /// The configuration it was built with.
    public let configuration: ConntrackConfiguration
    /// Connections it can hold.
    public let capacity: Int

    static let nilIndex = UInt32.max
    /// Expired connections freed per timeout class when a commit meets a limit.
    static let limitSweepBudget = 8
    /// A zone limit slot that is not set (the default limit applies).
    static let unsetLimit = UInt32.max

    let entries: UnsafeMutablePointer<ConntrackEntry>
    let peers: UnsafeMutablePointer<TCPPeer>
    let slots: UnsafeMutablePointer<UInt64>
    let slotMask: Int
    let listHeads: UnsafeMutablePointer<UInt32>
    let listTails: UnsafeMutablePointer<UInt32>
    let timeoutNanos: UnsafeMutablePointer<UInt64>
    let counters: UnsafeMutablePointer<UInt64>
    let zoneLimits: UnsafeMutablePointer<UInt32>
    let zoneCounts: UnsafeMutablePointer<UInt32>
    let scalars: UnsafeMutablePointer<ConntrackScalars>
    let fragments: FragmentStore
    /// The mapped file `entries` and `peers` live in, when `configuration.stateFile` is set.
    let stateFile: StateFile?
    /// One line on the state file: connections adopted, or why it was refused or could
    /// not be made (nil without a state file, or for a new file where there was none).
    public private(set) var stateReport: String? = nil
    let seed: UInt64
    let tcpLoose: Bool
    let windowChecking: Bool
    let expiryBudget: Int

    /// Allocates everything the tracker will ever use.
    public init(configuration: ConntrackConfiguration = ConntrackConfiguration()) {
        precondition(ConntrackTimeoutClass.count == ConntrackTimeoutClass.allCases.count)
        precondition(configuration.capacity > 0 && configuration.capacity < 1 << 30, "conntrack capacity out of range")
        self.configuration = configuration
        capacity = configuration.capacity
        var size = 16
        while size < capacity * 4 { size <<= 1 }
        slotMask = size - 1
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0, count: size)
        let memory = Self.connectionMemory(configuration)
        stateFile = memory.file
        entries = memory.entries
        peers = memory.peers
        if memory.file?.adopted != true {
            entries.initialize(repeating: ConntrackEntry(), count: capacity)
            peers.initialize(repeating: TCPPeer(), count: capacity * 2)
        }
        let classes = ConntrackTimeoutClass.allCases.count
        listHeads = .allocate(capacity: classes)
        listHeads.initialize(repeating: Self.nilIndex, count: classes)
        listTails = .allocate(capacity: classes)
        listTails.initialize(repeating: Self.nilIndex, count: classes)
        timeoutNanos = .allocate(capacity: classes)
        for c in ConntrackTimeoutClass.allCases {
            (timeoutNanos + Int(c.rawValue)).initialize(to: UInt64(max(0, configuration.timeouts.duration(c).nanosecondsClamped)))
        }
        counters = .allocate(capacity: ConntrackCounter.allCases.count)
        counters.initialize(repeating: 0, count: ConntrackCounter.allCases.count)
        zoneLimits = .allocate(capacity: 65_536)
        zoneLimits.initialize(repeating: Self.unsetLimit, count: 65_536)
        for (zone, limit) in configuration.zoneLimits { zoneLimits[Int(zone)] = limit }
        zoneCounts = .allocate(capacity: 65_536)
        zoneCounts.initialize(repeating: 0, count: 65_536)
        scalars = .allocate(capacity: 1)
        scalars.initialize(to: ConntrackScalars())
        scalars.pointee.globalLimit = capacity
        scalars.pointee.defaultZoneLimit = configuration.defaultZoneLimit
        fragments = FragmentStore(configuration)
        seed = configuration.hashSeed ?? UInt64.random(in: .min ... .max)
        tcpLoose = configuration.tcpLoose
        windowChecking = configuration.tcpWindowChecking
        expiryBudget = max(0, configuration.expiryBudget)
        // The free list (0 → 1 → … → capacity-1), or everything rebuilt from the entries
        // of an adopted state file.
        let adoption = rebuildFromEntries()
        stateReport = Self.describe(memory, adoption: adoption)
    }

    deinit {
        slots.deallocate()
        if stateFile == nil { entries.deallocate(); peers.deallocate() }
        listHeads.deallocate(); listTails.deallocate(); timeoutNanos.deallocate()
        counters.deallocate(); zoneLimits.deallocate(); zoneCounts.deallocate(); scalars.deallocate()
        fragments.deallocate()
    }

    /// The number of times `counter` happened.
    public func count(_ counter: ConntrackCounter) -> UInt64 { counters[counter.rawValue] }

    /// Every non-zero counter, by name (for `show` output and tests).
    public var nonZeroCounters: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for c in ConntrackCounter.allCases where c != .none && counters[c.rawValue] != 0 {
            out[c.description] = counters[c.rawValue]
        }
        return out
    }

    /// Connections currently held.
    public var connectionCount: Int { scalars.pointee.live }

    @inline(__always)
    func bump(_ c: ConntrackCounter) { counters[c.rawValue] &+= 1 }

    // MARK: Per packet

    /// Tracks the parsed frame of `length` bytes at `frame` in `zone` (the `ct()`
    /// action). With `commit`, a new connection is remembered (subject to the limits)
    /// and `markMask` bits of its ct_mark are set to `markValue`
    /// (`exec(set_field:V/M->ct_mark)`) at `now` on the datapath's clock.
    ///
    /// With `nat` (OVS `ct(nat…)`, see Conntrack+NAT.swift) a committed new connection
    /// gets a translation and every packet of a translated connection, in either
    /// direction, is rewritten in place (state +snat/+dnat); ICMP errors about one are
    /// translated back, quoted headers included. `.none` (the default): no rewriting.
    ///
    /// Never throws, never allocates: refusals and malformed input come back as
    /// `disposition`/`reason` and are counted.
    public func track(frame: UnsafeMutableRawPointer, length: Int, meta: PacketMetadata, zone: UInt16,
                      commit: Bool, now: DatapathInstant, markValue: UInt32 = 0, markMask: UInt32 = 0,
                      nat: ConntrackNAT = .none) -> TrackResult {
        track(frame: frame, length: length, meta: meta, zone: zone, commit: commit, now: now.nanoseconds,
              markValue: markValue, markMask: markMask, nat: nat)
    }

    /// `track` at `now` nanoseconds on the datapath's clock: what the per-packet path calls.
    @usableFromInline func track(frame: UnsafeMutableRawPointer, length: Int, meta: PacketMetadata, zone: UInt16,
               commit: Bool, now: UInt64, markValue: UInt32 = 0, markMask: UInt32 = 0,
               nat: ConntrackNAT = .none) -> TrackResult {
        sweepStep(now: now)
        // A first fragment often fails the parser's L4 length check (a UDP length
        // covering the whole datagram); reassembly does not need the L4 fields.
        let fragment = meta.flags.contains(.fragment)
        guard meta.error == .none || (fragment && meta.error == .truncatedL4) else { return invalid(.malformed, zone: zone) }
        let v6 = meta.flags.contains(.ipv6)
        guard v6 || meta.flags.contains(.ipv4) else { return invalid(.notIP, zone: zone) }
        if fragment {
            return trackFragment(frame: frame, length: length, meta: meta, zone: zone, commit: commit, now: now,
                                 markValue: markValue, markMask: markMask, nat: nat)
        }
        var key = ConntrackKey()
        key.zone = zone
        key.proto = meta.nwProto
        let l3 = Int(meta.l3Offset)
        let end: Int
        if v6 {
            key.family = 6
            key.srcHi = meta.ipv6SrcHi; key.srcLo = meta.ipv6SrcLo
            key.dstHi = meta.ipv6DstHi; key.dstLo = meta.ipv6DstLo
            end = l3 &+ 40 &+ Int(frame.loadBE16(at: l3 &+ 4))
        } else {
            key.family = 4
            key.srcLo = UInt64(meta.nwSrc); key.dstLo = UInt64(meta.nwDst)
            end = l3 &+ Int(frame.loadBE16(at: l3 &+ 2))
        }
        let l4 = Int(meta.l4Offset)
        // Protocols the parser does not open (l4Offset 0) are tracked by address pair.
        let l4Length = l4 == 0 ? 0 : end &- l4
        return trackPacket(key: key, l4: frame + (l4 == 0 ? l3 : l4), l4Length: l4Length, commit: commit,
                           now: now, markValue: markValue, markMask: markMask, nat: nat,
                           ip: nat.flags == 0 ? nil : frame + l3)
    }

    @inline(__always)
    func invalid(_ reason: ConntrackCounter, zone: UInt16) -> TrackResult {
        bump(reason)
        return TrackResult(state: [.tracked, .invalid], zone: zone, reason: reason)
    }

    /// The common path for a whole packet (or reassembled datagram): `key` has zone,
    /// family, protocol and addresses; the L4 header and payload are `l4Length` bytes
    /// at `l4`. `ip`: the frame's IP header when the packet is to be translated in place
    /// (nil for a reassembled datagram, whose bytes are a copy, or without `nat`).
    func trackPacket(key k: ConntrackKey, l4: UnsafeMutableRawPointer, l4Length: Int, commit: Bool, now: UInt64,
                     markValue: UInt32, markMask: UInt32, nat: ConntrackNAT = .none,
                     ip: UnsafeMutableRawPointer? = nil) -> TrackResult {
        var key = k
        let zone = key.zone
        let v6 = key.family == 6
        // L4 identifiers; the parser checked them for whole frames, but reassembled
        // datagrams come here unparsed, so every length is checked again.
        switch key.proto {
        case 6:
            guard l4Length >= 20 else { return invalid(.malformed, zone: zone) }
            let headerLength = Int(l4.loadBE8(at: 12) >> 4) &* 4
            guard headerLength >= 20, headerLength <= l4Length else { return invalid(.malformed, zone: zone) }
            key.ports = l4.loadBE32(at: 0)
        case 17, 33, 132, 136:
            guard l4Length >= 8 else { return invalid(.malformed, zone: zone) }
            key.ports = l4.loadBE32(at: 0)
        case 1 where !v6, 58 where v6:
            guard l4Length >= 8 else { return invalid(.malformed, zone: zone) }
            let type = l4.loadBE8(at: 0)
            if ConntrackKey.isICMPError(type, v6: v6) {
                return trackICMPError(key: key, l4: l4, l4Length: l4Length, now: now, ip: ip)
            }
            guard ConntrackKey.icmpAnswerType(type, v6: v6) != nil else { return invalid(.icmpUnsupportedType, zone: zone) }
            key.ports = UInt32(l4.loadBE16(at: 4)) << 16 | UInt32(type) << 8 | UInt32(l4.loadBE8(at: 1))
        default:
            key.ports = 0
        }

        let hash = key.hash(seed: seed)
        var found = lookup(key, hash: hash)
        if found >= 0 {
            let e = found >> 1
            if entries[e].expiration <= now {
                bump(.expired)
                remove(entry: e)
                found = -1
            }
        }
        if found >= 0 {
            let e = found >> 1
            let reply = found & 1 == 1
            var update = ConntrackUpdate.valid
            switch key.proto {
            case 6: update = tcpUpdate(entry: e, reply: reply, l4: l4, l4Length: l4Length, now: now)
            case 1 where !v6, 58 where v6: icmpUpdate(entry: e, reply: reply, now: now)
            case 17: otherUpdate(entry: e, reply: reply, now: now, first: .udpFirst, multiple: .udpMultiple)
            default: otherUpdate(entry: e, reply: reply, now: now, first: .otherFirst, multiple: .otherMultiple)
            }
            switch update {
            case .valid, .validNew:
                if reply { entries[e].flags |= ConntrackEntry.seenReply }
                if commit && markMask != 0 {
                    entries[e].mark = entries[e].mark & ~markMask | markValue & markMask
                }
                var state: CTState = [.tracked]
                if reply {
                    state.formUnion([.established, .reply])
                } else if update == .validNew || entries[e].flags & ConntrackEntry.seenReply == 0 {
                    state.insert(.new)
                } else {
                    state.insert(.established)
                }
                if let ip, entries[e].flags & ConntrackEntry.natMask != 0 {
                    state.formUnion(translate(entry: e, reply: reply, ip: ip, l4: l4, l4Length: l4Length, family: key.family))
                }
                return TrackResult(state: state, mark: entries[e].mark, zone: zone, connection: UInt32(e + 1))
            case .invalid(let reason):
                bump(reason)
                return TrackResult(state: [.tracked, .invalid], mark: entries[e].mark, zone: zone, reason: reason,
                                   connection: UInt32(e + 1))
            case .recreate:
                // A SYN on a closed connection: the old one goes, a new one may start.
                bump(.recreated)
                remove(entry: e)
            }
        }

        // No connection: may this packet open one?
        switch key.proto {
        case 6:
            let flags = UInt16(l4.loadBE8(at: 12) & 1) << 8 | UInt16(l4.loadBE8(at: 13))
            if let reason = tcpNewInvalidReason(flags: flags) { return invalid(reason, zone: zone) }
        case 1 where !v6, 58 where v6:
            if !ConntrackKey.isICMPQuery(key.icmpType, v6: v6) { return invalid(.icmpReplyWithoutConnection, zone: zone) }
        default:
            break
        }
        guard commit else { return TrackResult(state: [.tracked, .new], zone: zone) }
        let limit = zoneLimit(zone)
        if scalars.pointee.live >= scalars.pointee.globalLimit || (limit != 0 && zoneCounts[Int(zone)] >= limit) {
            // At a limit: first free what has expired (bounded), then decide.
            for c in 0..<ConntrackTimeoutClass.count {
                _ = expireList(c, now: now, budget: Self.limitSweepBudget)
            }
        }
        if scalars.pointee.live >= scalars.pointee.globalLimit {
            bump(.globalLimit)
            return TrackResult(state: [.tracked, .new], zone: zone, disposition: .drop, reason: .globalLimit)
        }
        if limit != 0 && zoneCounts[Int(zone)] >= limit {
            bump(.zoneLimit)
            return TrackResult(state: [.tracked, .new], zone: zone, disposition: .drop, reason: .zoneLimit)
        }
        var e: Int
        if nat.flags & (ConntrackNAT.source | ConntrackNAT.destination) != 0 {
            guard let translated = allocateTranslation(key, nat: nat, now: now) else {
                bump(.natExhausted)
                return TrackResult(state: [.tracked, .new], zone: zone, disposition: .drop, reason: .natExhausted)
            }
            e = insert(key, hash: hash, reply: translated.reversed())
            if translated != key {
                if translated.srcLo != key.srcLo || translated.srcHi != key.srcHi
                    || (key.isICMP ? translated.icmpID != key.icmpID : translated.sourcePort != key.sourcePort) {
                    entries[e].flags |= ConntrackEntry.natSource
                }
                if translated.dstLo != key.dstLo || translated.dstHi != key.dstHi
                    || (!key.isICMP && translated.destinationPort != key.destinationPort) {
                    entries[e].flags |= ConntrackEntry.natDestination
                }
            }
        } else {
            e = insert(key, hash: hash)
        }
        entries[e].mark = markValue & markMask
        switch key.proto {
        case 6: tcpNew(entry: e, l4: l4, l4Length: l4Length, now: now)
        case 1 where !v6, 58 where v6: setTimeout(entry: e, .icmpFirst, now: now)
        case 17: setTimeout(entry: e, .udpFirst, now: now)
        default: setTimeout(entry: e, .otherFirst, now: now)
        }
        bump(.created)
        var state: CTState = [.tracked, .new]
        if let ip, entries[e].flags & ConntrackEntry.natMask != 0 {
            state.formUnion(translate(entry: e, reply: false, ip: ip, l4: l4, l4Length: l4Length, family: key.family))
        }
        return TrackResult(state: state, mark: entries[e].mark, zone: zone, connection: UInt32(e + 1))
    }

    /// Sets `mask` bits of the ct_mark of `connection` (a `TrackResult.connection`) to `value`.
    public func setMark(_ value: UInt32, mask: UInt32 = .max, connection: UInt32) {
        guard connection > 0, Int(connection) <= capacity else { return }
        let e = Int(connection - 1)
        guard entries[e].flags & ConntrackEntry.inUse != 0 else { return }
        entries[e].mark = entries[e].mark & ~mask | value & mask
    }
}

/// What a protocol's update decided about a packet of an existing connection.
enum ConntrackUpdate: Equatable {
    /// In order: the packet belongs to the connection.
    case valid
    /// Valid, and still opening (a retransmitted SYN): +new.
    case validNew
    /// Does not belong (+inv), with the reason.
    case invalid(ConntrackCounter)
    /// The connection is over and this packet starts a new one with the same tuple.
    case recreate
}
