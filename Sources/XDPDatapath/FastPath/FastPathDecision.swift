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

    /// A key; `tci` is ignored (stored as 0) when `tagged` is false, so equal frames make equal keys.
    public init(inPort: PortID, tagged: Bool, tci: UInt16, dst: UInt64, src: UInt64, connection: FastPathConnection? = nil) {
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
        return "in_port(\(inPort.index)),\(vlan),eth(src=\(FastPathKey.macText(src)),dst=\(FastPathKey.macText(dst)))" + connectionText
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

    /// The bridge whose tables the decision went through, and their version then: while it
    /// is the same, every segment of the walk gives the same answer (FlowSegmentCache.swift).
    public var bridge = BridgeID(-1)
    /// See `bridge`.
    public var tablesVersion: UInt64 = 0

    /// The counters of the flows hit, in the order hit (a flow hit twice is here twice);
    /// the frame is as it entered when it hits them (the tables do not change it).
    public var flows: [FlowCounters] = []
    /// The connections looked up, in the order looked up.
    public var connections: [Connection] = []

    /// Equal when the same tables version, the same flows (the same counters) and the same
    /// connections.
    public static func == (a: FastPathDependencies, b: FastPathDependencies) -> Bool {
        a.bridge == b.bridge && a.tablesVersion == b.tablesVersion && a.connections == b.connections
            && a.flows.count == b.flows.count
            && zip(a.flows, b.flows).allSatisfy { $0 === $1 }
    }
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

    /// The actions as `dpctl/dump-flows` words: `pop_vlan`, `push_vlan(vid=..)`, then the port.
    public func actionsText(portName: (PortID) -> String) -> String {
        var words: [String] = []
        switch tagOperation {
        case .keep: break
        case .pop: words.append("pop_vlan")
        case .push: words.append("push_vlan(vid=\(outTCI & 0x0FFF),pcp=\(outTCI >> 13))")
        case .set: words.append("set(vlan(vid=\(outTCI & 0x0FFF),pcp=\(outTCI >> 13)))")
        }
        words.append(portName(outPort))
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
    /// The name of the port they leave by (`decision.outPort`).
    public var outPort: String
    /// Frames the kernel forwarded by it.
    public var packets: UInt64
    /// Bytes of those frames, as they entered.
    public var bytes: UInt64
    /// How long ago a frame last used it; nil when none has.
    public var sinceLastUse: Duration?

    /// An entry.
    public init(decision: FastPathDecision, inPort: String, outPort: String, packets: UInt64, bytes: UInt64, sinceLastUse: Duration?) {
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
        var text = "in_port(\(inPort))"
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
        return text + ", actions:" + decision.actionsText { _ in outPort }
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
