import XDPPacket

/// The IPv4 and transport fields of a cached connection's frames: what a decision through
/// OpenFlow tables and the connection tracker depends on besides the Ethernet header
/// (every field of `FlowKey` a frame of the connection carries, exactly).
public struct FastPathConnection: Sendable, Hashable, CustomStringConvertible {
    /// The IPv4 source address.
    public var source: IPv4Address
    /// The IPv4 destination address.
    public var destination: IPv4Address
    /// The IP protocol: 6 (TCP) or 17 (UDP).
    public var proto: UInt8
    /// The IPv4 TOS byte (DSCP and ECN).
    public var tos: UInt8
    /// The IPv4 TTL.
    public var ttl: UInt8
    /// The TCP flags byte (0 for UDP).
    public var tcpFlags: UInt8
    /// The transport source port.
    public var sourcePort: UInt16
    /// The transport destination port.
    public var destinationPort: UInt16

    /// A connection's fields.
    public init(source: IPv4Address, destination: IPv4Address, proto: UInt8, tos: UInt8, ttl: UInt8, tcpFlags: UInt8,
                sourcePort: UInt16, destinationPort: UInt16) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.tos = tos
        self.ttl = ttl
        self.tcpFlags = tcpFlags
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }

    /// Whether `other` is the same connection, in either direction: the same protocol,
    /// addresses and ports (the TOS, TTL and flags aside).
    public func sameTuple(_ other: FastPathConnection) -> Bool {
        guard proto == other.proto else { return false }
        return (source, destination, sourcePort, destinationPort) == (other.source, other.destination, other.sourcePort, other.destinationPort)
            || (source, destination, sourcePort, destinationPort) == (other.destination, other.source, other.destinationPort, other.sourcePort)
    }

    /// `ipv4(src=…,dst=…,proto=17,tos=0,ttl=64),udp(src=…,dst=…)`, as `dpctl/dump-flows`.
    public var description: String {
        let l4 = proto == 6 ? "tcp(src=\(sourcePort),dst=\(destinationPort)),tcp_flags(0x\(String(tcpFlags, radix: 16)))"
            : "udp(src=\(sourcePort),dst=\(destinationPort))"
        return "ipv4(src=\(source),dst=\(destination),proto=\(proto),tos=\(tos),ttl=\(ttl)),\(l4)"
    }
}

/// What decided a cached frame's fate: the port it entered by, its Ethernet header and,
/// for a decision through OpenFlow tables, its connection's fields (`connection`).
/// The in-kernel fast path keys its entries by exactly this (with the port's ifindex).
public struct FastPathKey: Sendable, Hashable, CustomStringConvertible {
    /// The port the frame entered by.
    public var inPort: PortID
    /// Whether the frame carried one 802.1Q tag.
    public var tagged: Bool
    /// The tag's TCI (PCP, DEI, VID) as on the wire; 0 when untagged.
    public var tci: UInt16
    /// The Ethernet destination in the low 48 bits.
    public var dst: UInt64
    /// The Ethernet source in the low 48 bits.
    public var src: UInt64
    /// For a decision that went through OpenFlow tables: the IPv4 and transport fields it
    /// depends on; nil for a NORMAL-only decision (a function of the Ethernet header).
    public var connection: FastPathConnection?
    /// For a frame that enters by a tunnel port (decapsulated): the tun_id it enters with
    /// (the GRE key, 0 without one); nil for a frame that enters by an interface.
    public var tunnelID: UInt64?

    /// A key; `tci` is ignored (stored as 0) when `tagged` is false, so equal frames make equal keys.
    public init(inPort: PortID, tagged: Bool, tci: UInt16, dst: UInt64, src: UInt64, connection: FastPathConnection? = nil,
                tunnelID: UInt64? = nil) {
        self.tunnelID = tunnelID
        self.inPort = inPort
        self.tagged = tagged
        self.tci = tagged ? tci : 0
        self.dst = dst
        self.src = src
        self.connection = connection
    }

    /// `in_port(N),vlan(...),eth(src=...,dst=...)`, then the connection's fields when any.
    public var description: String {
        let vlan = tagged ? "vlan(vid=\(tci & 0x0FFF),pcp=\(tci >> 13))" : "vlan(none)"
        let connectionText = connection.map { "," + $0.description } ?? ""
        return (tunnelID.map { "tunnel(tun_id=0x\(String($0, radix: 16))),"} ?? "") + "in_port(\(inPort.index)),\(vlan),eth(src=\(FastPathKey.macText(src)),dst=\(FastPathKey.macText(dst)))" + connectionText
    }

    /// A 48-bit MAC in the low bits of `mac` as `aa:bb:cc:dd:ee:ff`.
    public static func macText(_ mac: UInt64) -> String {
        (0..<6).map { i -> String in
            let byte = UInt8(truncatingIfNeeded: mac >> UInt64(40 - 8 * i))
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined(separator: ":")
    }
}

/// What the fast path does to the outer VLAN tag of a cached frame.
public enum FastPathTagOperation: UInt16, Sendable, Equatable {
    /// Leave the frame's tag (or its absence) as it is.
    case keep = 0
    /// Remove the outer tag.
    case pop = 1
    /// Add a tag with `outTCI` to an untagged frame.
    case push = 2
    /// Rewrite the outer tag's TCI to `outTCI`.
    case set = 3

    /// What turns a frame that entered tagged (or not) with `tci` into one that leaves
    /// tagged (or not) with `outTCI`.
    static func between(tagged: Bool, tci: UInt16, outTagged: Bool, outTCI: UInt16) -> FastPathTagOperation {
        switch (tagged, outTagged) {
        case (false, false): .keep
        case (true, false): .pop
        case (false, true): .push
        case (true, true): tci == outTCI ? .keep : .set
        }
    }
}

/// One NORMAL decision along a cached path: on `bridge`, in `vlan`, the frame went from
/// `inPort` to `outPort`. Lengths are relative to the frame as it entered the datapath.
public struct FastPathStep: Sendable, Equatable {
    /// The bridge the decision was made on.
    public var bridge: BridgeID
    /// The VLAN the bridge's MAC lookups were made in.
    public var vlan: UInt16
    /// The port the frame entered the bridge by.
    public var inPort: PortID
    /// The port NORMAL sent it to.
    public var outPort: PortID
    /// Bytes the frame had more (or fewer) than at entry when it reached `inPort`
    /// (4 per tag pushed, -4 per tag popped).
    public var inLengthDelta: Int
    /// The same when it left by `outPort`.
    public var outLengthDelta: Int
    /// Whether the bridge learned the frame's source MAC on the way (NORMAL did; an
    /// OpenFlow `output:N` does not), so the fast path's frames refresh that entry.
    public var learnsSource: Bool = true
    /// Whether NORMAL flooded the frame, its destination unknown in `vlan`, and `outPort`
    /// was the one port but `inPort` to carry the VLAN: the decision holds while the MAC
    /// table has no entry for the destination there.
    public var flooded: Bool = false

    /// `bytes` of `packets` frames as they entered, `delta` bytes more (or fewer) each.
    static func bytes(_ bytes: UInt64, packets: UInt64, delta: Int) -> UInt64 {
        delta >= 0 ? bytes &+ packets &* UInt64(delta) : bytes &- packets &* UInt64(-delta)
    }
}

/// What a decision through OpenFlow tables depends on besides MAC entries: the flows it
/// hit (whose counters the fast path's frames must count) and the tracked connections it
/// found established (whose timers they must refresh). Compared by identity of the flows'
/// counters and by connection entry.
public struct FastPathDependencies: Sendable, Equatable {
    /// One tracked connection a decision found established.
    public struct Connection: Sendable, Equatable {
        /// The tracker's entry (`TrackResult.connection` - 1).
        public var entry: Int
        /// The connection's tuple in its original direction.
        public var original: ConntrackKey
        /// Whether the cached frames travel in its reply direction.
        public var reply: Bool
        /// The tuple the cached frames carry, in the lookup's zone.
        public var tuple: ConntrackKey
        /// The connection's `ct_mark` when looked up (the next tables may match it).
        public var mark: UInt32
    }

    /// One bridge whose tables a decision went through, and their version then: while it
    /// is the same, every segment of the walk there gives the same answer
    /// (FlowSegmentCache.swift).
    public struct Tables: Sendable, Equatable {
        /// The bridge.
        public var bridge: BridgeID
        /// Its tables' version when the decision was made.
        public var version: UInt64
    }

    /// One flow a decision hit: its counters, and how many bytes more (or fewer) than as
    /// it entered the datapath the frame had there (a tag NORMAL pushed on the way to a
    /// second bridge).
    public struct Flow: Sendable {
        /// The flow's counters.
        public var counters: FlowCounters
        /// See `Flow`.
        public var lengthDelta: Int
    }

    /// The bridges with tables the decision went through, in the order crossed (the
    /// first is the one the frame entered by).
    public var tables: [Tables] = []
    /// The first bridge whose tables the decision went through; -1 for none.
    public var bridge: BridgeID { tables.first?.bridge ?? BridgeID(-1) }

    /// The flows hit, in the order hit (a flow hit twice is here twice).
    public var flows: [Flow] = []
    /// The connections looked up, in the order looked up.
    public var connections: [Connection] = []

    /// Equal when the same tables versions, the same flows (the same counters, the same
    /// lengths) and the same connections.
    public static func == (a: FastPathDependencies, b: FastPathDependencies) -> Bool {
        a.tables == b.tables && a.connections == b.connections
            && a.flows.count == b.flows.count
            && zip(a.flows, b.flows).allSatisfy { $0.counters === $1.counters && $0.lengthDelta == $1.lengthDelta }
    }
}

/// What a router along a cached path does to the frame, flattened into fields to write
/// and checksum deltas (RFC 1624): the kernel program writes the MACs, the addresses, the
/// ports and the TTL, and adds each delta to the complemented checksum it covers. The key
/// fixes every old value, so the deltas are constants of the entry.
public struct FastPathRewrite: Sendable, Equatable {
    /// The Ethernet destination as the frame leaves (the next hop's), in the low 48 bits.
    public var dst: UInt64
    /// The Ethernet source as it leaves (the router interface's).
    public var src: UInt64
    /// The IPv4 source as it leaves (translated or not).
    public var source: IPv4Address
    /// The IPv4 destination as it leaves.
    public var destination: IPv4Address
    /// The transport source port as it leaves.
    public var sourcePort: UInt16
    /// The transport destination port as it leaves.
    public var destinationPort: UInt16
    /// The TTL as it leaves (one less than it entered with).
    public var ttl: UInt8
    /// The one's complement sum to add to the complemented IPv4 header checksum.
    public var ipChecksumDelta: UInt16
    /// The same for the TCP or UDP checksum (pseudo-header addresses and ports); a UDP
    /// checksum of 0 (none) stays 0.
    public var transportChecksumDelta: UInt16

    /// The rewrite of a frame whose fields are `connection` into one that leaves with these
    /// MACs, addresses, ports and TTL.
    public init(dst: UInt64, src: UInt64, from connection: FastPathConnection, source: IPv4Address, destination: IPv4Address,
                sourcePort: UInt16, destinationPort: UInt16, ttl: UInt8) {
        self.dst = dst
        self.src = src
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ttl = ttl
        // The words that change, as the router's own updates count them (Conntrack+NAT.swift:
        // a changed address as both its halves, a changed port, the TTL's word), so the
        // result has the same bits.
        var addresses: [(UInt16, UInt16)] = []
        for (old, new) in [(connection.source, source), (connection.destination, destination)] where old != new {
            addresses += [(UInt16(truncatingIfNeeded: old.rawValue >> 16), UInt16(truncatingIfNeeded: new.rawValue >> 16)),
                          (UInt16(truncatingIfNeeded: old.rawValue), UInt16(truncatingIfNeeded: new.rawValue))]
        }
        let ttlWord = (UInt16(connection.ttl) << 8 | UInt16(connection.proto), UInt16(ttl) << 8 | UInt16(connection.proto))
        ipChecksumDelta = Self.delta(addresses, [ttlWord])
        transportChecksumDelta = Self.delta(addresses, [(connection.sourcePort, sourcePort),
                                                        (connection.destinationPort, destinationPort)])
    }

    /// The one's complement sum of `~old + new` over every pair of `always` (the halves of
    /// a changed address, changed or not) and the pairs of `ifChanged` whose words differ.
    static func delta(_ always: [(UInt16, UInt16)], _ ifChanged: [(UInt16, UInt16)]) -> UInt16 {
        var sum: UInt64 = 0
        for (old, new) in always { sum &+= UInt64(~old) &+ UInt64(new) }
        for (old, new) in ifChanged where old != new { sum &+= UInt64(~old) &+ UInt64(new) }
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        return UInt16(truncatingIfNeeded: sum)
    }

    /// `checksum` with `delta` added the way the kernel program does: `~(~checksum + delta)`.
    static func adjusted(_ checksum: UInt16, by delta: UInt16) -> UInt16 {
        var sum = UInt32(~checksum) &+ UInt32(delta)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        return ~UInt16(truncatingIfNeeded: (sum & 0xFFFF) &+ (sum >> 16))
    }

    /// Applies the rewrite to the `length`-byte frame at `frame` whose IPv4 header (no
    /// options) starts at `l3`, as the kernel program does.
    func apply(to frame: UnsafeMutableRawPointer, l3: Int, length: Int) {
        guard length >= l3 + 28 else { return }
        frame.storeBE48(dst, at: 0)
        frame.storeBE48(src, at: 6)
        let ip = frame + l3
        let proto = ip.loadBE8(at: 9)
        ip.storeBE32(source.rawValue, at: 12)
        ip.storeBE32(destination.rawValue, at: 16)
        ip.storeBE8(ttl, at: 8)
        ip.storeBE16(Self.adjusted(ip.loadBE16(at: 10), by: ipChecksumDelta), at: 10)
        let l4 = ip + 20
        l4.storeBE16(sourcePort, at: 0)
        l4.storeBE16(destinationPort, at: 2)
        if proto == 6, length >= l3 + 40 {
            l4.storeBE16(Self.adjusted(l4.loadBE16(at: 16), by: transportChecksumDelta), at: 16)
        } else if proto == 17, l4.loadBE16(at: 6) != 0 {
            let checksum = Self.adjusted(l4.loadBE16(at: 6), by: transportChecksumDelta)
            l4.storeBE16(checksum == 0 ? 0xFFFF : checksum, at: 6)
        }
    }

    /// `set(eth(src=…,dst=…)),set(ipv4(src=…,dst=…,ttl=…)),set(udp(src=…,dst=…))`, as
    /// `dpctl/dump-flows`.
    public func actionsText(proto: UInt8) -> String {
        "set(eth(src=\(FastPathKey.macText(src)),dst=\(FastPathKey.macText(dst)))),"
            + "set(ipv4(src=\(source),dst=\(destination),ttl=\(ttl))),"
            + "set(\(proto == 6 ? "tcp" : "udp")(src=\(sourcePort),dst=\(destinationPort)))"
    }
}

/// What a GRE tunnel port at the end of a cached path does to the frame: the outer
/// Ethernet, IPv4 and GRE headers it pushes, as the tunnel writes them, and the underlay
/// port the encapsulated frame leaves by. The kernel program copies `header` in front of
/// the frame and writes the outer IPv4 total length and checksum (`headerSum` + the total
/// length, complemented), as `TunnelEndpoint.write` does.
public struct FastPathEncapsulation: Sendable, Equatable {
    /// The tunnel port the frame is output to (the decision's `outPort`).
    public var tunnelPort: PortID
    /// The underlay port the encapsulated frame leaves by.
    public var underlayPort: PortID
    /// The outer headers (38 bytes, or 42 with the GRE key), the IPv4 total length and
    /// checksum zero.
    public var header: [UInt8]
    /// The one's complement sum (RFC 1071, folded) of the outer IPv4 header in `header`.
    public var headerSum: UInt16
    /// The longest frame, as received, whose encapsulated packet fits the underlay MTU
    /// (longer ones take the slow path, which refuses them).
    public var maximumLength: UInt32
    /// The tun_id the frame reaches the port with: 0 after NORMAL, what the tables set
    /// before an `output` (a `key=flow` port writes it as the GRE key).
    public var tunnelID: UInt64 = 0

    /// `frame` (the inner frame as it leaves the bridge) inside the outer headers.
    public func applied(to frame: [UInt8]) -> [UInt8] {
        var out = header + frame
        let total = UInt16(truncatingIfNeeded: header.count - 14 + frame.count)
        var sum = UInt32(headerSum) &+ UInt32(total)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        let checksum = ~UInt16(truncatingIfNeeded: sum)
        out[16] = UInt8(total >> 8); out[17] = UInt8(total & 0xFF)
        out[24] = UInt8(checksum >> 8); out[25] = UInt8(checksum & 0xFF)
        return out
    }

    /// `tnl_push(tnl_port(gre-1),header(size=42,type=gre,eth(dst=…,src=…),ipv4(src=…,dst=…),gre(key=0x7)))`,
    /// as `dpctl/dump-flows`.
    public func actionsText(tunnelName: String) -> String {
        func mac(_ at: Int) -> UInt64 { header[at..<at + 6].reduce(0) { $0 << 8 | UInt64($1) } }
        func ip(_ at: Int) -> IPv4Address { IPv4Address(header[at], header[at + 1], header[at + 2], header[at + 3]) }
        let key = header.count >= 42 ? ",gre(key=0x" + String(header[38..<42].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, radix: 16) + ")" : ""
        return "tnl_push(tnl_port(\(tunnelName)),header(size=\(header.count),type=gre,"
            + "eth(dst=\(FastPathKey.macText(mac(0))),src=\(FastPathKey.macText(mac(6)))),"
            + "ipv4(src=\(ip(26)),dst=\(ip(30)))\(key)))"
    }
}

/// Where the frames of a decision that enters by a GRE tunnel port come from: GRE packets
/// on the underlay, to our MAC and address, from the port's remote, with its key (or
/// none). The kernel program recognises them as the underlay does on its common path
/// (`decapsulation` in bpf/datapath/xsk_steer.bpf.c), strips the `headerLength` outer
/// bytes and looks the inner frame up as entering by the tunnel.
public struct FastPathDecapsulation: Sendable, Hashable {
    /// The underlay port the GRE packets arrive on.
    public var underlayPort: PortID
    /// Our underlay MAC (the outer destination), in the low 48 bits.
    public var localMAC: UInt64
    /// Our underlay address (the outer IPv4 destination).
    public var local: IPv4Address
    /// The tunnel port's remote (the outer IPv4 source).
    public var remote: IPv4Address
    /// The GRE key on the wire; nil for a port without a key (no GRE flags).
    public var key: UInt32?

    /// Bytes of outer headers: Ethernet, IPv4, GRE (and key).
    public var headerLength: Int { key == nil ? GREEncapsulation.overheadWithoutKey : GREEncapsulation.overheadWithKey }
}

/// The router a routed decision went through and what it depends on there: the route and
/// neighbour that sent the frame on (worked out again on every re-check) and the
/// translated connection, if any, whose timer the cached frames refresh.
public struct FastPathRoute: Sendable, Equatable {
    /// The router (its index in `Datapath.routers`).
    public var router: Int
    /// The interface the frame entered the router by (its index in `DatapathRouter.interfaces`).
    public var inInterface: Int
    /// The interface it left by.
    public var outInterface: Int
    /// The next hop whose MAC the frame leaves with.
    public var nextHop: IPv4Address
    /// The translated connection in the router's tracker (NAT), if any.
    public var translation: FastPathDependencies.Connection?
    /// How many of the decision's `steps` come before the router (those after it see the
    /// rewritten MACs).
    public var stepsBefore: Int
    /// The longest frame, as received, whose IPv4 packet fits the output interface's MTU.
    public var maximumLength: UInt32
}

/// A decision of the Swift pipeline that the in-kernel fast path may repeat: a frame with
/// `key` leaves by `outPort` after `tagOperation`, through `steps` (one per bridge, joined
/// by patch ports). It holds while every step's MAC lookups give the same ports, the
/// bridges stay NORMAL-only, and the datapath is the same (`Datapath.fastPathExpiry`).
public struct FastPathDecision: Sendable, Equatable {
    /// The frames the decision is for.
    public var key: FastPathKey
    /// The NORMAL decisions the path took, one per bridge in the order crossed.
    public var steps: [FastPathStep]
    /// The port the frame leaves by (a port with a transmit queue).
    public var outPort: PortID
    /// What happens to the outer VLAN tag on the way out.
    public var tagOperation: FastPathTagOperation
    /// The TCI pushed or set.
    public var outTCI: UInt16
    /// The flows and connections a decision through OpenFlow tables depends on (empty for
    /// a NORMAL-only one).
    public var dependencies = FastPathDependencies()
    /// For a decision through a router: what the kernel rewrites.
    public var rewrite: FastPathRewrite? = nil
    /// For a decision through a router: the router's part (what it depends on there).
    public var route: FastPathRoute? = nil
    /// For a decision that ends on a GRE tunnel port: the outer headers pushed and the
    /// underlay port the frame leaves by.
    public var encapsulation: FastPathEncapsulation? = nil
    /// For a decision whose frames enter by a GRE tunnel port: the GRE packets they arrive in.
    public var decapsulation: FastPathDecapsulation? = nil

    /// The port whose interface the frames arrive on: the key's, or the underlay when they
    /// enter by a tunnel.
    public var ingressPort: PortID { decapsulation?.underlayPort ?? key.inPort }

    /// `bytes` of `packets` frames as they entered the bridge, as they arrived on
    /// `ingressPort` (inside the outer headers of a tunnel).
    public func bytesArriving(_ bytes: UInt64, packets: UInt64) -> UInt64 {
        FastPathStep.bytes(bytes, packets: packets, delta: decapsulation?.headerLength ?? 0)
    }

    /// The port whose interface the frame leaves by: `outPort`, or the underlay when the
    /// decision ends on a tunnel.
    public var egressPort: PortID { encapsulation?.underlayPort ?? outPort }

    /// The MACs (source, destination) the frame carries on step `index`: the key's, or the
    /// router's rewrite after it.
    public func macs(onStep index: Int) -> (src: UInt64, dst: UInt64) {
        if let route, let rewrite, index >= route.stepsBefore { return (rewrite.src, rewrite.dst) }
        return (key.src, key.dst)
    }

    /// `bytes` of `packets` frames as they entered, as they leave by `egressPort` (a tag
    /// pushed or popped on the way, the outer headers of a tunnel).
    public func bytesLeaving(_ bytes: UInt64, packets: UInt64) -> UInt64 {
        FastPathStep.bytes(bytes, packets: packets, delta: (steps.last?.outLengthDelta ?? 0) + (encapsulation?.header.count ?? 0))
    }

    /// `frame` (one with the decision's key: for a decision that enters by a tunnel, the
    /// inner frame) as the kernel program sends it on: the tag operation, then the router's
    /// rewrite, then a tunnel's outer headers.
    public func applied(to frame: [UInt8]) -> [UInt8] {
        var out = frame
        switch tagOperation {
        case .keep: break
        case .pop: out.removeSubrange(12..<16)
        case .push: out.insert(contentsOf: [0x81, 0x00, UInt8(outTCI >> 8), UInt8(outTCI & 0xFF)], at: 12)
        case .set: out[14] = UInt8(outTCI >> 8); out[15] = UInt8(outTCI & 0xFF)
        }
        guard let rewrite else { return encapsulation?.applied(to: out) ?? out }
        let tagged = tagOperation == .push || tagOperation == .set || (tagOperation == .keep && key.tagged)
        out.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            rewrite.apply(to: base, l3: tagged ? 18 : 14, length: raw.count)
        }
        return encapsulation?.applied(to: out) ?? out
    }

    /// The actions as `dpctl/dump-flows` words: the router's `set(…)`s, `pop_vlan`,
    /// `push_vlan(vid=..)`, a tunnel's `tnl_push(…)`, then the port the frame leaves by
    /// (`egressPort`).
    public func actionsText(portName: (PortID) -> String) -> String {
        var words: [String] = []
        if let rewrite { words.append(rewrite.actionsText(proto: key.connection?.proto ?? 0)) }
        switch tagOperation {
        case .keep: break
        case .pop: words.append("pop_vlan")
        case .push: words.append("push_vlan(vid=\(outTCI & 0x0FFF),pcp=\(outTCI >> 13))")
        case .set: words.append("set(vlan(vid=\(outTCI & 0x0FFF),pcp=\(outTCI >> 13)))")
        }
        if let encapsulation { words.append(encapsulation.actionsText(tunnelName: portName(outPort))) }
        words.append(portName(egressPort))
        return words.joined(separator: ",")
    }
}

/// One entry of the in-kernel fast path with its counters, as `dump-fastpath` lists it
/// (see `Datapath.fastPathDump(now:)`).
public struct FastPathEntry: Sendable, Equatable, CustomStringConvertible {
    /// The decision the entry repeats.
    public var decision: FastPathDecision
    /// The name of the port its frames enter by (`decision.key.inPort`).
    public var inPort: String
    /// The name of the port they leave by (`decision.egressPort`: the underlay when the
    /// decision ends on a tunnel).
    public var outPort: String
    /// The name of the tunnel port they are output to, when the decision ends on one.
    public var tunnelPort: String?
    /// Frames the kernel forwarded by it.
    public var packets: UInt64
    /// Bytes of those frames, as they entered.
    public var bytes: UInt64
    /// How long ago a frame last used it; nil when none has.
    public var sinceLastUse: Duration?

    /// An entry.
    public init(decision: FastPathDecision, inPort: String, outPort: String, packets: UInt64, bytes: UInt64, sinceLastUse: Duration?,
                tunnelPort: String? = nil) {
        self.tunnelPort = tunnelPort
        self.decision = decision
        self.inPort = inPort
        self.outPort = outPort
        self.packets = packets
        self.bytes = bytes
        self.sinceLastUse = sinceLastUse
    }

    /// The entry as `ovs-appctl dpctl/dump-flows` prints a flow, ports by name:
    /// `in_port(vm1),eth(src=…,dst=…), packets:3, bytes:180, used:0.250s, actions:vm2`.
    public var description: String {
        let key = decision.key
        var text = (key.tunnelID.map { "tunnel(tun_id=0x\(String($0, radix: 16)),src=\(decision.decapsulation?.remote.description ?? "?")),"} ?? "")
            + "in_port(\(inPort))"
        text += key.tagged ? ",vlan(vid=\(key.tci & 0x0FFF),pcp=\(key.tci >> 13))" : ""
        text += ",eth(src=\(FastPathKey.macText(key.src)),dst=\(FastPathKey.macText(key.dst)))"
        if let connection = key.connection { text += "," + connection.description }
        var used = "never"
        if let sinceLastUse {
            let ms = sinceLastUse.components.seconds * 1000 + sinceLastUse.components.attoseconds / 1_000_000_000_000_000
            let fraction = String(ms % 1000)
            used = "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction + "s"
        }
        text += ", packets:\(packets), bytes:\(bytes), used:\(used)"
        return text + ", actions:" + decision.actionsText { $0 == decision.egressPort ? outPort : tunnelPort ?? outPort }
    }
}

/// The in-kernel fast path at one moment (see `Datapath.fastPathDump(now:)`).
public struct FastPathDump: Sendable, Equatable {
    /// Its entries, oldest first.
    public var entries: [FastPathEntry]
    /// Frames the kernel program dropped while no socket served their queue.
    public var framesDroppedWithoutSocket: UInt64

    /// A dump.
    public init(entries: [FastPathEntry], framesDroppedWithoutSocket: UInt64) {
        self.entries = entries
        self.framesDroppedWithoutSocket = framesDroppedWithoutSocket
    }
}
