/// One OpenFlow action, as `ovs-ofctl add-flow` writes it.
///
/// `FlowAction` is a trivial (POD) enum: every payload is a fixed-size integer or a
/// `FlowSubfield`, so copying an action list or switching over it per packet does no
/// reference counting. Actions whose arguments have variable size keep them in side
/// tables on the `FlowRule` and carry an index: `learn` → `FlowRule.learns`, `note` →
/// `FlowRule.notes`, `ct` → `FlowRule.conntrack` (whose nested `exec(...)` actions live
/// in `FlowRule.nestedActions`).
///
/// Equivalent spellings are normalized the way OVS does when it prints a flow for
/// OpenFlow 1.0 (`ovs-ofctl`'s default): `output:NORMAL` is `.normal`, `pop_vlan` is
/// `.stripVLAN`, `set_field:V->eth_src` is `.setEthSrc`, other `set_field`s become one
/// `.load` per contiguous run of mask bits (at most 64 bits each), `resubmit:P` is
/// `.resubmit(port: P, table: 255)`.
public enum FlowAction: Hashable, Sendable {
    /// `output:N` (or a bare port number) for a port below 0xff00.
    case output(UInt16)
    /// `output:FIELD[a..b]`: the port number is read from a field.
    case outputField(FlowSubfield)
    /// `NORMAL`: the bridge's L2 learning switch.
    case normal
    /// `FLOOD`: every port but the input port (and ports excluded from flooding).
    case flood
    /// `ALL`: every port but the input port.
    case all
    /// `IN_PORT`: back out the input port.
    case inPort
    /// `LOCAL`: the bridge's local port.
    case local
    /// `CONTROLLER[:max_len]`. There is no controller: executes as a drop (docs/flows.md).
    case controller(maxLength: UInt16)
    /// `mod_vlan_vid:V`: set the VID, pushing an 802.1Q tag first if there is none.
    case setVLANVID(UInt16)
    /// `mod_vlan_pcp:P`: set the PCP, pushing an 802.1Q tag first if there is none.
    case setVLANPCP(UInt8)
    /// `strip_vlan` / `pop_vlan`: remove the outer 802.1Q tag.
    case stripVLAN
    /// `push_vlan:ETHERTYPE` (0x8100 or 0x88a8): push a tag with VID 0.
    case pushVLAN(UInt16)
    /// `mod_dl_src:MAC` (48 bits in the low bits).
    case setEthSrc(UInt64)
    /// `mod_dl_dst:MAC`.
    case setEthDst(UInt64)
    /// `mod_nw_src:IP`.
    case setIPv4Src(UInt32)
    /// `mod_nw_dst:IP`.
    case setIPv4Dst(UInt32)
    /// `mod_nw_tos:TOS`: the DSCP bits (TOS byte, low two bits zero).
    case setIPTOS(UInt8)
    /// `mod_tp_src:PORT` (TCP, UDP or SCTP).
    case setTransportSrc(UInt16)
    /// `mod_tp_dst:PORT`.
    case setTransportDst(UInt16)
    /// `dec_ttl`: decrement the IPv4 TTL / IPv6 hop limit; drop at 0.
    case decTTL
    /// `set_tunnel:ID` or (`wide`) `set_tunnel64:ID`.
    case setTunnel(UInt64, wide: Bool)
    /// `load:V->FIELD[a..b]` (also what `set_field` becomes): write `V` (right-justified)
    /// into the subfield (≤ 64 bits).
    case load(FlowSubfield, UInt64)
    /// `move:SRC[a..b]->DST[c..d]`: copy bits (≤ 64; both sides equally wide).
    case move(FlowSubfield, FlowSubfield)
    /// `resubmit(PORT,TABLE)`: run table `table` (255: the current one) as if the packet
    /// had arrived on `port` (`OpenFlowPort.inPort`: the real input port).
    case resubmit(port: UInt16, table: UInt8)
    /// `goto_table:T`: continue in table `T` (the action list ends here).
    case gotoTable(UInt8)
    /// `learn(...)`: index into `FlowRule.learns`.
    case learn(Int32)
    /// `note:HEX`: index into `FlowRule.notes`; does nothing.
    case note(Int32)
    /// `ct(...)`: index into `FlowRule.conntrack`.
    case conntrack(Int32)
    /// `conjunction(ID,K/N)`: the flow is clause `clause` (0-based, printed K = clause + 1)
    /// of the `clauses`-dimension conjunctive match `id` (FlowTable+Conjunction.swift). A
    /// flow with this action has only such actions and is never executed itself.
    case conjunction(id: UInt32, clause: UInt8, clauses: UInt8)
}

extension FlowAction {
    /// Whether this is a `conjunction(...)` action.
    @inlinable
    public var isConjunction: Bool {
        if case .conjunction = self { return true }
        return false
    }
}

/// Reserved OpenFlow 1.0 port numbers.
public enum OpenFlowPort {
    /// Ports 0xff00 and above are reserved.
    public static let max: UInt16 = 0xff00
    /// `IN_PORT`: output back to the port the packet came in on.
    public static let inPort: UInt16 = 0xfff8
    /// `TABLE`: the flow table itself, for packet-outs only; the flow parser refuses it in `output`.
    public static let table: UInt16 = 0xfff9
    /// `NORMAL`: hand the packet to the bridge's MAC-learning switch.
    public static let normal: UInt16 = 0xfffa
    /// `FLOOD`: every port of the bridge but the input port (the same set as `ALL` here).
    public static let flood: UInt16 = 0xfffb
    /// `ALL`: every port of the bridge but the input port.
    public static let all: UInt16 = 0xfffc
    /// `CONTROLLER`: there is no controller here, so output to it counts a `noController` drop.
    public static let controller: UInt16 = 0xfffd
    /// `LOCAL`: the bridge's local port, which this datapath does not have (a `noController` drop).
    public static let local: UInt16 = 0xfffe
    /// `ANY` (OpenFlow 1.0's `NONE`): no port; the flow parser refuses it in `output`.
    public static let none: UInt16 = 0xffff

    /// `IN_PORT`, `LOCAL`, … for reserved numbers, decimal otherwise (OVS's
    /// `ofputil_format_port`).
    public static func name(_ port: UInt16) -> String {
        switch port {
        case inPort: "IN_PORT"
        case table: "TABLE"
        case normal: "NORMAL"
        case flood: "FLOOD"
        case all: "ALL"
        case controller: "CONTROLLER"
        case local: "LOCAL"
        case none: "ANY"
        default: String(port)
        }
    }

    /// The number of a reserved port name (case-insensitive), or nil.
    public static func named(_ name: String) -> UInt16? {
        switch name.uppercased() {
        case "IN_PORT": inPort
        case "TABLE": table
        case "NORMAL": normal
        case "FLOOD": flood
        case "ALL": all
        case "CONTROLLER": controller
        case "LOCAL": local
        case "ANY", "NONE": none
        default: nil
        }
    }
}

/// The arguments of one `ct(...)` action. POD; its nested `exec(...)` actions are
/// `FlowRule.nestedActions[actions]`.
public struct ConntrackAction: Hashable, Sendable {
    /// `commit`: create the connection entry if there is none.
    public var commit: Bool = false
    /// `force`: with `commit`, replace an entry seen in the other direction.
    public var force: Bool = false
    /// `table=T`: after tracking, resubmit the packet to table `T`; nil: continue the list.
    public var table: UInt8? = nil
    /// `zone=N`, when `zoneField` is nil.
    public var zone: UInt16 = 0
    /// `zone=FIELD[a..b]`: the zone is read from a field (Neutron: `NXM_NX_REG6[0..15]`).
    public var zoneField: FlowSubfield? = nil {
        didSet { zoneReader = zoneField.flatMap(FlowKey.WordReader.init) }
    }
    /// `zoneField` as a word, shift and mask of the flow key (fields of ≤ 64 bits): the
    /// per-packet read.
    @usableFromInline var zoneReader: FlowKey.WordReader? = nil
    /// `nat` / `nat(...)`, printed before `exec`.
    public var nat: NATAction? = nil
    /// `alg=ftp|tftp|PORT` (0: none).
    public var alg: UInt16 = 0
    /// The `exec(...)` actions: a range of `FlowRule.nestedActions`.
    public var actions: Range<Int32> = 0..<0

    /// A plain `ct`: track without committing, zone 0, continue the action list, no NAT.
    public init() {}
}

/// The `nat` argument of `ct`: `nat`, `nat(src)`, `nat(dst=IP[-IP][:PORT[-PORT]],...)`.
public struct NATAction: Hashable, Sendable {
    /// Which address is rewritten.
    public enum Kind: UInt8, Sendable {
        /// Plain `nat`: apply the NAT already set up for the connection (reply direction).
        case existing
        /// `nat(src...)`: rewrite the source address (and port), SNAT.
        case source
        /// `nat(dst...)`: rewrite the destination address (and port), DNAT.
        case destination
    }

    /// The address family of the range, if one was given.
    public enum Family: UInt8, Sendable { case none, ipv4, ipv6 }

    /// Which address the action rewrites.
    public var kind: Kind = .existing
    /// Which address range was given (`.none`: no range, as in plain `nat`).
    public var family: Family = .none
    /// IPv4 range (host order), when `family == .ipv4`; `max == 0` or `max == min`: one address.
    public var ipv4Min: UInt32 = 0
    /// Last IPv4 address of the range (host order); 0 for a single address.
    public var ipv4Max: UInt32 = 0
    /// IPv6 range as (high, low) 64-bit halves, when `family == .ipv6`.
    public var ipv6MinHi: UInt64 = 0, ipv6MinLo: UInt64 = 0
    /// Last IPv6 address of the range, as (high, low) halves; zero for a single address.
    public var ipv6MaxHi: UInt64 = 0, ipv6MaxLo: UInt64 = 0
    /// Port range; 0: keep the port.
    public var portMin: UInt16 = 0
    /// Last port of the range; 0 or below `portMin` means `portMin` alone.
    public var portMax: UInt16 = 0
    /// The `persistent` flag: parsed and printed back, not used in choosing addresses.
    public var persistent = false
    /// The `hash` flag: parsed and printed back, not used in choosing ports.
    public var hash = false
    /// The `random` flag: parsed and printed back, not used in choosing ports.
    public var random = false

    /// A `nat` of `kind` with no address or port range.
    public init(kind: Kind = .existing) { self.kind = kind }
}

/// One `learn(...)` action: the flow it adds when executed.
///
/// Learning builds a new rule, which allocates anyway, so this side-table entry holds its
/// specs in an array.
public struct LearnAction: Hashable, Sendable {
    /// `table=`: the table the learned flow goes in (default 1).
    public var table: UInt8 = 1
    /// `idle_timeout=`: seconds without a hit before the learned flow expires; 0 never.
    public var idleTimeout: UInt16 = 0
    /// `hard_timeout=`: seconds after which the learned flow expires regardless; 0 never.
    public var hardTimeout: UInt16 = 0
    /// `fin_idle_timeout=`: parsed and printed back; learned flows do not get it.
    public var finIdleTimeout: UInt16 = 0
    /// `fin_hard_timeout=`: parsed and printed back; learned flows do not get it.
    public var finHardTimeout: UInt16 = 0
    /// `priority=`: the learned flow's priority (default 32768).
    public var priority: UInt16 = 32768
    /// `cookie=`: the learned flow's cookie.
    public var cookie: UInt64 = 0
    /// `send_flow_rem`: parsed and printed back; no flow-removed messages are sent.
    public var sendFlowRemoved = false
    /// `delete_learned`: parsed and printed back; learned flows are not removed with the learning one.
    public var deleteLearned = false
    /// `limit=`: parsed and printed back; the number of learned flows is not capped by it.
    public var limit: UInt32 = 0
    /// The match and action items of the learned flow, in order.
    public var specs: [LearnSpec] = []

    /// `learn(table=1,priority=32768)` with no specs.
    public init() {}
}

/// One item of a `learn(...)` action.
public enum LearnSpec: Hashable, Sendable {
    /// `DST[a..b]=SRC[c..d]` (or `F[a..b]` for the same bits): the learned flow matches
    /// `destination` against the value `source` has in the packet being learned from.
    case matchField(destination: FlowSubfield, source: FlowSubfield)
    /// `DST[a..b]=VALUE` or `name=VALUE`: the learned flow matches a constant.
    case matchImmediate(destination: FlowSubfield, value: UInt64)
    /// `load:SRC[a..b]->DST[c..d]`: the learned flow loads the packet's current value.
    case loadField(destination: FlowSubfield, source: FlowSubfield)
    /// `load:VALUE->DST[a..b]`: the learned flow loads a constant.
    case loadImmediate(destination: FlowSubfield, value: UInt64)
    /// `output:SRC[a..b]`: the learned flow outputs to the port the packet's field holds.
    case output(source: FlowSubfield)
}
