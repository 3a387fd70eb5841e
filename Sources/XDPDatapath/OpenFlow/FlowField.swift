/// Every field a flow can match, load, move or learn, with the names Open vSwitch gives it
/// and where it lives in a `FlowKey`.
///
/// Names follow OVS's `lib/meta-flow.h`: `name` is the field's canonical name (used when
/// printing a `set_field` or a learn immediate), `aliases` are the other names `ovs-ofctl`
/// accepts (`dl_src` for `eth_src`), `nxmName` is the name printed inside subfield
/// references (`NXM_OF_ETH_DST[]`) — the NXM name when the field has one, else its OXM
/// name, which is what OVS prints for OpenFlow 1.0 — and `otherNXMNames` are further
/// accepted spellings (`OXM_OF_ETH_DST`).
///
/// `bits` is the field's width as OpenFlow sees it (what `NAME[]` covers); the storage
/// may be narrower (`arp_op` is 16 bits wide but kept in `nw_proto`'s 8 bits; `metadata`
/// is 64 bits wide but the key keeps 32): writes past the storage are truncated, and the
/// parser rejects values that do not fit (see docs/flows.md).
///
/// Reading and writing go through `get(_:offset:bits:)` / `set(_:_:offset:bits:)`, which
/// allocate nothing and can run per packet (the action executor uses them for `load`,
/// `move` and `output:FIELD[]`).
public enum FlowField: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// Pipeline fields: the input port (`in_port`, and the 32-bit `in_port_oxm`), the tunnel id, the metadata.
    case inPort, inPortOXM, tunID, metadata
    /// The eight 32-bit registers, scratch space for the pipeline (`reg0`…`reg7`).
    case reg0, reg1, reg2, reg3, reg4, reg5, reg6, reg7
    /// What the last `ct` action found: state bits, zone, the connection's mark.
    case ctState, ctZone, ctMark
    /// Ethernet source, destination and EtherType.
    case ethSrc, ethDst, ethType
    /// The VLAN tag: whole TCI, `dl_vlan` (12-bit VID), `vlan_vid` (VID with the present bit), and the PCP by both names.
    case vlanTCI, dlVLAN, vlanVID, dlVLANPCP, vlanPCP
    /// IPv4 and IPv6 source and destination addresses.
    case ipv4Src, ipv4Dst, ipv6Src, ipv6Dst
    /// IP header bytes: protocol, DSCP as `nw_tos` (in place) and `ip_dscp` (shifted down), ECN, TTL.
    case ipProto, ipDSCP, ipDSCPShifted, ipECN, ipTTL
    /// ARP opcode, sender and target protocol addresses, sender and target hardware addresses.
    case arpOp, arpSPA, arpTPA, arpSHA, arpTHA
    /// Transport ports per protocol, and the TCP control bits.
    case tcpSrc, tcpDst, tcpFlags, udpSrc, udpDst, sctpSrc, sctpDst
    /// ICMP and ICMPv6 type and code.
    case icmpType, icmpCode, icmpv6Type, icmpv6Code

    /// How a field's value is written in flow text (OVS's `mf_string`).
    public enum Format: Sendable {
        /// Decimal, hex (`0x…`), MAC, dotted quad, IPv6 text, an OpenFlow port (reserved ones by name
        /// as `OpenFlowPort.name` gives them), `ct_state` flags (`+trk+est`), TCP flags.
        case decimal, hexadecimal, ethernet, ipv4, ipv6, port, ctState, tcpFlags
    }

    /// What a match on the field requires (OVS's `mf_prereqs`).
    public enum Prerequisite: Sendable {
        /// Nothing, ARP, IPv4, IPv6, either IP version, or one L4 protocol (TCP, UDP, SCTP, ICMPv4, ICMPv6).
        case none, arp, ipv4, ipv6, ipAny, tcp, udp, sctp, icmpv4, icmpv6
    }

    /// Where the field's bits live: `bits` bits of key word `word` starting at bit `shift`.
    /// 128-bit fields use two words: `word` holds bits 64…127, `word + 1` bits 0…63.
    public struct Storage: Sendable, Hashable {
        /// The `FlowKey` word (0..<17) that holds the field (for 128-bit fields, the high half).
        public var word: Int
        /// The field's lowest bit within that word.
        public var shift: Int
        /// How many bits the key keeps (may be fewer than the field's OpenFlow width).
        public var bits: Int

        /// Places a field `bits` wide at bit `shift` of word `word`.
        @inlinable
        public init(word: Int, shift: Int, bits: Int) {
            self.word = word
            self.shift = shift
            self.bits = bits
        }
    }

    /// The canonical OVS name (`eth_src`, `tun_id`, `nw_tos`, …).
    public var name: String {
        switch self {
        case .inPort: "in_port"
        case .inPortOXM: "in_port_oxm"
        case .tunID: "tun_id"
        case .metadata: "metadata"
        case .reg0, .reg1, .reg2, .reg3, .reg4, .reg5, .reg6, .reg7: "reg\(registerIndex!)"
        case .ctState: "ct_state"
        case .ctZone: "ct_zone"
        case .ctMark: "ct_mark"
        case .ethSrc: "eth_src"
        case .ethDst: "eth_dst"
        case .ethType: "eth_type"
        case .vlanTCI: "vlan_tci"
        case .dlVLAN: "dl_vlan"
        case .vlanVID: "vlan_vid"
        case .dlVLANPCP: "dl_vlan_pcp"
        case .vlanPCP: "vlan_pcp"
        case .ipv4Src: "ip_src"
        case .ipv4Dst: "ip_dst"
        case .ipv6Src: "ipv6_src"
        case .ipv6Dst: "ipv6_dst"
        case .ipProto: "nw_proto"
        case .ipDSCP: "nw_tos"
        case .ipDSCPShifted: "ip_dscp"
        case .ipECN: "nw_ecn"
        case .ipTTL: "nw_ttl"
        case .arpOp: "arp_op"
        case .arpSPA: "arp_spa"
        case .arpTPA: "arp_tpa"
        case .arpSHA: "arp_sha"
        case .arpTHA: "arp_tha"
        case .tcpSrc: "tcp_src"
        case .tcpDst: "tcp_dst"
        case .tcpFlags: "tcp_flags"
        case .udpSrc: "udp_src"
        case .udpDst: "udp_dst"
        case .sctpSrc: "sctp_src"
        case .sctpDst: "sctp_dst"
        case .icmpType: "icmp_type"
        case .icmpCode: "icmp_code"
        case .icmpv6Type: "icmpv6_type"
        case .icmpv6Code: "icmpv6_code"
        }
    }

    /// Other names OVS accepts for the field.
    public var aliases: [String] {
        switch self {
        case .tunID: ["tunnel_id"]
        case .ethSrc: ["dl_src"]
        case .ethDst: ["dl_dst"]
        case .ethType: ["dl_type"]
        case .ipv4Src: ["nw_src"]
        case .ipv4Dst: ["nw_dst"]
        case .ipProto: ["ip_proto"]
        case .ipECN: ["ip_ecn"]
        case .tcpSrc: ["tp_src"]
        case .tcpDst: ["tp_dst"]
        default: []
        }
    }

    /// The name printed in subfield references (`NXM_OF_ETH_DST`), or nil when the field
    /// cannot be referenced that way (`dl_vlan`, `dl_vlan_pcp`).
    public var nxmName: String? {
        switch self {
        case .inPort: "NXM_OF_IN_PORT"
        case .inPortOXM: "OXM_OF_IN_PORT"
        case .tunID: "NXM_NX_TUN_ID"
        case .metadata: "OXM_OF_METADATA"
        case .reg0, .reg1, .reg2, .reg3, .reg4, .reg5, .reg6, .reg7: "NXM_NX_REG\(registerIndex!)"
        case .ctState: "NXM_NX_CT_STATE"
        case .ctZone: "NXM_NX_CT_ZONE"
        case .ctMark: "NXM_NX_CT_MARK"
        case .ethSrc: "NXM_OF_ETH_SRC"
        case .ethDst: "NXM_OF_ETH_DST"
        case .ethType: "NXM_OF_ETH_TYPE"
        case .vlanTCI: "NXM_OF_VLAN_TCI"
        case .dlVLAN, .dlVLANPCP: nil
        case .vlanVID: "OXM_OF_VLAN_VID"
        case .vlanPCP: "OXM_OF_VLAN_PCP"
        case .ipv4Src: "NXM_OF_IP_SRC"
        case .ipv4Dst: "NXM_OF_IP_DST"
        case .ipv6Src: "NXM_NX_IPV6_SRC"
        case .ipv6Dst: "NXM_NX_IPV6_DST"
        case .ipProto: "NXM_OF_IP_PROTO"
        case .ipDSCP: "NXM_OF_IP_TOS"
        case .ipDSCPShifted: "OXM_OF_IP_DSCP"
        case .ipECN: "NXM_NX_IP_ECN"
        case .ipTTL: "NXM_NX_IP_TTL"
        case .arpOp: "NXM_OF_ARP_OP"
        case .arpSPA: "NXM_OF_ARP_SPA"
        case .arpTPA: "NXM_OF_ARP_TPA"
        case .arpSHA: "NXM_NX_ARP_SHA"
        case .arpTHA: "NXM_NX_ARP_THA"
        case .tcpSrc: "NXM_OF_TCP_SRC"
        case .tcpDst: "NXM_OF_TCP_DST"
        case .tcpFlags: "NXM_NX_TCP_FLAGS"
        case .udpSrc: "NXM_OF_UDP_SRC"
        case .udpDst: "NXM_OF_UDP_DST"
        case .sctpSrc: "OXM_OF_SCTP_SRC"
        case .sctpDst: "OXM_OF_SCTP_DST"
        case .icmpType: "NXM_OF_ICMP_TYPE"
        case .icmpCode: "NXM_OF_ICMP_CODE"
        case .icmpv6Type: "NXM_NX_ICMPV6_TYPE"
        case .icmpv6Code: "NXM_NX_ICMPV6_CODE"
        }
    }

    /// Further NXM/OXM spellings accepted in subfield references.
    public var otherNXMNames: [String] {
        switch self {
        case .tunID: ["OXM_OF_TUNNEL_ID"]
        case .ethSrc: ["OXM_OF_ETH_SRC"]
        case .ethDst: ["OXM_OF_ETH_DST"]
        case .ethType: ["OXM_OF_ETH_TYPE"]
        case .ipv4Src: ["OXM_OF_IPV4_SRC"]
        case .ipv4Dst: ["OXM_OF_IPV4_DST"]
        case .ipv6Src: ["OXM_OF_IPV6_SRC"]
        case .ipv6Dst: ["OXM_OF_IPV6_DST"]
        case .ipProto: ["OXM_OF_IP_PROTO"]
        case .ipECN: ["OXM_OF_IP_ECN"]
        case .arpOp: ["OXM_OF_ARP_OP"]
        case .arpSPA: ["OXM_OF_ARP_SPA"]
        case .arpTPA: ["OXM_OF_ARP_TPA"]
        case .arpSHA: ["OXM_OF_ARP_SHA"]
        case .arpTHA: ["OXM_OF_ARP_THA"]
        case .tcpSrc: ["OXM_OF_TCP_SRC"]
        case .tcpDst: ["OXM_OF_TCP_DST"]
        case .tcpFlags: ["OXM_OF_TCP_FLAGS"]
        case .udpSrc: ["OXM_OF_UDP_SRC"]
        case .udpDst: ["OXM_OF_UDP_DST"]
        case .icmpType: ["OXM_OF_ICMPV4_TYPE"]
        case .icmpCode: ["OXM_OF_ICMPV4_CODE"]
        case .icmpv6Type: ["OXM_OF_ICMPV6_TYPE"]
        case .icmpv6Code: ["OXM_OF_ICMPV6_CODE"]
        default: []
        }
    }

    /// Width in bits as OpenFlow defines it (what `NAME[]` covers).
    public var bits: Int {
        switch self {
        case .inPort, .ctZone, .ethType, .vlanTCI, .arpOp: 16
        case .tcpSrc, .tcpDst, .udpSrc, .udpDst, .sctpSrc, .sctpDst: 16
        case .inPortOXM, .ctState, .ctMark, .ipv4Src, .ipv4Dst, .arpSPA, .arpTPA: 32
        case .reg0, .reg1, .reg2, .reg3, .reg4, .reg5, .reg6, .reg7: 32
        case .tunID, .metadata: 64
        case .ethSrc, .ethDst, .arpSHA, .arpTHA: 48
        case .dlVLAN, .vlanVID, .tcpFlags: 12
        case .dlVLANPCP, .vlanPCP: 3
        case .ipv6Src, .ipv6Dst: 128
        case .ipProto, .ipDSCP, .ipTTL, .icmpType, .icmpCode, .icmpv6Type, .icmpv6Code: 8
        case .ipDSCPShifted: 6
        case .ipECN: 2
        }
    }

    /// Where the field lives in a `FlowKey` (see the layout table on `FlowKey`).
    @inlinable
    public var storage: Storage {
        switch self {
        case .inPort, .inPortOXM: Storage(word: 0, shift: 0, bits: 16)
        case .ctZone: Storage(word: 0, shift: 16, bits: 16)
        case .ipProto, .arpOp: Storage(word: 0, shift: 32, bits: 8)
        case .ipTTL: Storage(word: 0, shift: 40, bits: 8)
        case .ipDSCP: Storage(word: 0, shift: 48, bits: 8)
        case .ipDSCPShifted: Storage(word: 0, shift: 50, bits: 6)
        case .ipECN: Storage(word: 0, shift: 48, bits: 2)
        case .ctState: Storage(word: 0, shift: 56, bits: 8)
        case .ethDst: Storage(word: 1, shift: 0, bits: 48)
        case .ethType: Storage(word: 1, shift: 48, bits: 16)
        case .ethSrc: Storage(word: 2, shift: 0, bits: 48)
        case .vlanTCI: Storage(word: 2, shift: 48, bits: 16)
        case .dlVLAN, .vlanVID: Storage(word: 2, shift: 48, bits: 12)
        case .dlVLANPCP, .vlanPCP: Storage(word: 2, shift: 61, bits: 3)
        case .ipv4Src, .arpSPA: Storage(word: 3, shift: 0, bits: 32)
        case .ipv4Dst, .arpTPA: Storage(word: 3, shift: 32, bits: 32)
        case .tcpSrc, .udpSrc, .sctpSrc: Storage(word: 4, shift: 0, bits: 16)
        case .icmpType, .icmpv6Type: Storage(word: 4, shift: 0, bits: 8)
        case .tcpDst, .udpDst, .sctpDst: Storage(word: 4, shift: 16, bits: 16)
        case .icmpCode, .icmpv6Code: Storage(word: 4, shift: 16, bits: 8)
        case .tcpFlags: Storage(word: 4, shift: 32, bits: 12)
        case .tunID: Storage(word: 5, shift: 0, bits: 64)
        case .ctMark: Storage(word: 6, shift: 0, bits: 32)
        case .metadata: Storage(word: 6, shift: 32, bits: 32)
        case .reg0, .reg1, .reg2, .reg3, .reg4, .reg5, .reg6, .reg7:
            Storage(word: 7 + registerIndex! / 2, shift: 32 * (registerIndex! % 2), bits: 32)
        case .ipv6Src: Storage(word: 11, shift: 0, bits: 128)
        case .ipv6Dst: Storage(word: 13, shift: 0, bits: 128)
        case .arpSHA: Storage(word: 15, shift: 0, bits: 48)
        case .arpTHA: Storage(word: 16, shift: 0, bits: 48)
        }
    }

    /// How values of the field are written.
    public var format: Format {
        switch self {
        case .tunID, .metadata, .ctZone, .ctMark, .ethType, .vlanTCI: .hexadecimal
        case .reg0, .reg1, .reg2, .reg3, .reg4, .reg5, .reg6, .reg7: .hexadecimal
        case .ethSrc, .ethDst, .arpSHA, .arpTHA: .ethernet
        case .ipv4Src, .ipv4Dst, .arpSPA, .arpTPA: .ipv4
        case .ipv6Src, .ipv6Dst: .ipv6
        case .inPort, .inPortOXM: .port
        case .ctState: .ctState
        case .tcpFlags: .tcpFlags
        default: .decimal
        }
    }

    /// What a match on this field requires.
    public var prerequisite: Prerequisite {
        switch self {
        case .ipv4Src, .ipv4Dst: .ipv4
        case .ipv6Src, .ipv6Dst: .ipv6
        case .ipProto, .ipDSCP, .ipDSCPShifted, .ipECN, .ipTTL: .ipAny
        case .arpOp, .arpSPA, .arpTPA, .arpSHA, .arpTHA: .arp
        case .tcpSrc, .tcpDst, .tcpFlags: .tcp
        case .udpSrc, .udpDst: .udp
        case .sctpSrc, .sctpDst: .sctp
        case .icmpType, .icmpCode: .icmpv4
        case .icmpv6Type, .icmpv6Code: .icmpv6
        default: .none
        }
    }

    /// Whether actions may write the field (OVS's "Access: read/write").
    public var isWritable: Bool {
        switch self {
        case .ctState, .ctZone, .ethType, .ipProto, .tcpFlags: false
        default: true
        }
    }

    /// 0…7 for `reg0`…`reg7`, else nil.
    @inlinable
    public var registerIndex: Int? {
        rawValue >= FlowField.reg0.rawValue && rawValue <= FlowField.reg7.rawValue
            ? Int(rawValue - FlowField.reg0.rawValue) : nil
    }

    /// Register `n` (0…7).
    public static func register(_ n: Int) -> FlowField {
        precondition((0...7).contains(n))
        return FlowField(rawValue: FlowField.reg0.rawValue + UInt8(n))!
    }

    /// The canonical OVS name, as `name`.
    public var description: String { name }

    /// The field called `name` (canonical name or alias), or nil.
    public static func named(_ name: String) -> FlowField? { byName[name] }

    /// The field whose NXM or OXM name is `name`, or nil.
    public static func nxmNamed(_ name: String) -> FlowField? { byNXMName[name] }

    private static let byName: [String: FlowField] = {
        var d: [String: FlowField] = [:]
        for f in allCases {
            d[f.name] = f
            for a in f.aliases { d[a] = f }
        }
        return d
    }()

    private static let byNXMName: [String: FlowField] = {
        var d: [String: FlowField] = [:]
        for f in allCases {
            if let n = f.nxmName { d[n] = f }
            for a in f.otherNXMNames { d[a] = f }
        }
        return d
    }()
}

// MARK: - Reading and writing bits of a key

extension FlowField {
    /// `bits` bits of the field starting at bit `offset` (bit 0 is the least significant),
    /// right-justified. `bits` ≤ 64; bits past the storage read as 0.
    @inlinable
    public func get(_ key: FlowKey, offset: Int, bits: Int) -> UInt64 {
        let s = storage
        if s.bits <= 64 {
            guard offset < s.bits else { return 0 }
            let n = Swift.min(bits, s.bits - offset)
            return (key[word: s.word] >> UInt64(s.shift + offset)) & Self.lowMask(n)
        }
        // 128-bit: word s.word holds bits 64…127, s.word + 1 bits 0…63.
        var result: UInt64 = 0
        var done = 0
        while done < bits {
            let bit = offset + done
            let inHigh = bit >= 64
            let w = key[word: inHigh ? s.word : s.word + 1]
            let pos = inHigh ? bit - 64 : bit
            let n = Swift.min(bits - done, 64 - pos)
            result |= ((w >> UInt64(pos)) & Self.lowMask(n)) << UInt64(done)
            done += n
        }
        return result
    }

    /// Writes the low `bits` bits of `value` into the field at bit `offset`; bits past the
    /// storage are dropped.
    @inlinable
    public func set(_ key: inout FlowKey, _ value: UInt64, offset: Int, bits: Int) {
        let s = storage
        if s.bits <= 64 {
            guard offset < s.bits else { return }
            let n = Swift.min(bits, s.bits - offset)
            let m = Self.lowMask(n) << UInt64(s.shift + offset)
            let w = key[word: s.word]
            key[word: s.word] = (w & ~m) | ((value << UInt64(s.shift + offset)) & m)
            return
        }
        var done = 0
        while done < bits {
            let bit = offset + done
            let inHigh = bit >= 64
            let index = inHigh ? s.word : s.word + 1
            let pos = inHigh ? bit - 64 : bit
            let n = Swift.min(bits - done, 64 - pos)
            let m = Self.lowMask(n) << UInt64(pos)
            let v = (value >> UInt64(done)) & Self.lowMask(n)
            key[word: index] = (key[word: index] & ~m) | (v << UInt64(pos))
            done += n
        }
    }

    @inlinable
    static func lowMask(_ n: Int) -> UInt64 { n >= 64 ? ~0 : (1 << UInt64(n)) &- 1 }
}

/// A part of a field: `NAME[]`, `NAME[a..b]` or `NAME[n]`.
///
/// POD (three bytes), so actions that carry one stay trivial.
public struct FlowSubfield: Hashable, Sendable, CustomStringConvertible {
    /// The field the bits are taken from.
    public var field: FlowField
    /// The lowest bit.
    public var offset: UInt8
    /// Number of bits (1…128).
    public var bits: UInt8

    /// Bits `offset ..< offset + bits` of `field`; `bits` nil runs to the end of the field.
    /// Does not check the range: the flow parser does.
    public init(_ field: FlowField, offset: Int = 0, bits: Int? = nil) {
        self.field = field
        self.offset = UInt8(offset)
        self.bits = UInt8(bits ?? field.bits - offset)
    }

    /// The whole field (`NAME[]`).
    public static func whole(_ field: FlowField) -> FlowSubfield { FlowSubfield(field) }

    /// Whether this covers the whole field.
    public var isWholeField: Bool { offset == 0 && Int(bits) == field.bits }

    /// Reads the subfield (≤ 64 bits) from `key`, right-justified.
    @inlinable
    public func get(_ key: FlowKey) -> UInt64 { field.get(key, offset: Int(offset), bits: Int(bits)) }

    /// Writes the low bits of `value` into the subfield (≤ 64 bits).
    @inlinable
    public func set(_ key: inout FlowKey, _ value: UInt64) { field.set(&key, value, offset: Int(offset), bits: Int(bits)) }

    /// `NXM_OF_ETH_DST[]`, `NXM_NX_REG6[0..15]`, `NXM_NX_REG0[3]` — as OVS prints it.
    public var description: String {
        let n = field.nxmName ?? field.name
        if isWholeField { return "\(n)[]" }
        if bits == 1 { return "\(n)[\(offset)]" }
        return "\(n)[\(offset)..\(Int(offset) + Int(bits) - 1)]"
    }
}
