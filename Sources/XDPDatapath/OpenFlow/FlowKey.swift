import XDPPacket

/// The fields an OpenFlow-style flow matches on, packed into 17 machine words so a
/// masked compare is 17 ANDs and compares, and a hash is a few multiplies.
///
/// A `FlowKey` is used three ways: the key of a packet (every field filled from its
/// `PacketMetadata`, its input port, tunnel id, registers and conntrack state), a
/// rule's value, and a rule's mask (bits that must match are 1). Field layout:
///
/// | word | bits 0-15 | 16-31 | 32-47 | 48-63 |
/// |---|---|---|---|---|
/// | w0 | in_port | ct_zone | nw_proto (32-39), nw_ttl (40-47) | nw_tos (48-55), ct_state (56-63) |
/// | w1 | dl_dst (0-47) ||| dl_type |
/// | w2 | dl_src (0-47) ||| vlan_tci |
/// | w3 | nw_src (0-31) || nw_dst (32-63) ||
/// | w4 | tp_src | tp_dst | tcp_flags | — |
/// | w5 | tun_id ||||
/// | w6 | ct_mark (0-31) || metadata (32-63) ||
/// | w7…w10 | reg0…reg7, two per word (low, high) ||||
/// | w11…w14 | ipv6_src hi, lo; ipv6_dst hi, lo ||||
/// | w15 | arp_sha (0-47) ||| — |
/// | w16 | arp_tha (0-47) ||| — |
///
/// As in OVS: `vlan_tci` carries the CFI bit (0x1000) when a tag is present, so
/// `dl_vlan=0xffff` (no tag) is `vlan_tci=0/0x1fff`; ARP's opcode lives in `nw_proto`
/// and its SPA/TPA in `nw_src`/`nw_dst`; ICMP type and code live in `tp_src`/`tp_dst`.
@frozen
public struct FlowKey: Hashable, Sendable {
    /// Words 0–3 of the packed key (see the layout table of `FlowKey`: `w0` port, zone and IP bytes,
    /// `w1`/`w2` MACs with EtherType and TCI, `w3` IPv4 addresses).
    public var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0
    /// Words 4–7: L4 ports and TCP flags, tunnel id, conntrack mark with metadata, reg0/reg1.
    public var w4: UInt64 = 0, w5: UInt64 = 0, w6: UInt64 = 0, w7: UInt64 = 0
    /// Words 8–11: reg2…reg7, then the first half of the IPv6 source.
    public var w8: UInt64 = 0, w9: UInt64 = 0, w10: UInt64 = 0, w11: UInt64 = 0
    /// Words 12–15: the rest of the IPv6 addresses, then the ARP source hardware address.
    public var w12: UInt64 = 0, w13: UInt64 = 0, w14: UInt64 = 0, w15: UInt64 = 0
    /// Word 16: the ARP target hardware address in its low 48 bits.
    public var w16: UInt64 = 0

    /// The number of 64-bit words in a key (`w0`…`w16`), the range of `subscript(word:)`.
    public static let wordCount = 17

    /// An all-zero key: as a mask it matches every packet (all fields wildcarded).
    @inlinable public init() {}

    /// The key of a parsed packet received on `inPort` (OpenFlow port number).
    @inlinable
    public init(_ meta: PacketMetadata, inPort: UInt16) {
        w0 = UInt64(inPort) | UInt64(meta.nwProto) << 32 | UInt64(meta.nwTTL) << 40 | UInt64(meta.nwTOS) << 48
        w1 = meta.dlDst | UInt64(meta.etherType) << 48
        let tci: UInt16 = meta.vlanCount > 0 ? (meta.outerTCI | 0x1000) : 0
        w2 = meta.dlSrc | UInt64(tci) << 48
        w3 = UInt64(meta.nwSrc) | UInt64(meta.nwDst) << 32
        w4 = UInt64(meta.tpSrc) | UInt64(meta.tpDst) << 16 | UInt64(meta.tcpFlags) << 32
        w11 = meta.ipv6SrcHi
        w12 = meta.ipv6SrcLo
        w13 = meta.ipv6DstHi
        w14 = meta.ipv6DstLo
    }

    /// Word `index` (0..<17).
    @inlinable
    public subscript(word index: Int) -> UInt64 {
        get {
            withUnsafeBytes(of: self) { $0.load(fromByteOffset: index &* 8, as: UInt64.self) }
        }
        set {
            withUnsafeMutableBytes(of: &self) { $0.storeBytes(of: newValue, toByteOffset: index &* 8, as: UInt64.self) }
        }
    }

    /// `self & mask`, word by word.
    @inlinable
    public func masked(by m: FlowKey) -> FlowKey {
        var k = FlowKey()
        k.w0 = w0 & m.w0; k.w1 = w1 & m.w1; k.w2 = w2 & m.w2; k.w3 = w3 & m.w3
        k.w4 = w4 & m.w4; k.w5 = w5 & m.w5; k.w6 = w6 & m.w6; k.w7 = w7 & m.w7
        k.w8 = w8 & m.w8; k.w9 = w9 & m.w9; k.w10 = w10 & m.w10; k.w11 = w11 & m.w11
        k.w12 = w12 & m.w12; k.w13 = w13 & m.w13; k.w14 = w14 & m.w14; k.w15 = w15 & m.w15
        k.w16 = w16 & m.w16
        return k
    }

    /// Whether `(self & mask) == value` (value already masked).
    @inlinable
    public func matches(_ value: FlowKey, mask m: FlowKey) -> Bool {
        (w0 & m.w0 == value.w0) && (w1 & m.w1 == value.w1) && (w2 & m.w2 == value.w2) && (w3 & m.w3 == value.w3)
            && (w4 & m.w4 == value.w4) && (w5 & m.w5 == value.w5) && (w6 & m.w6 == value.w6)
            && (w7 & m.w7 == value.w7) && (w8 & m.w8 == value.w8) && (w9 & m.w9 == value.w9)
            && (w10 & m.w10 == value.w10) && (w11 & m.w11 == value.w11) && (w12 & m.w12 == value.w12)
            && (w13 & m.w13 == value.w13) && (w14 & m.w14 == value.w14) && (w15 & m.w15 == value.w15)
            && (w16 & m.w16 == value.w16)
    }

    /// Whether every word equals `other`'s: the caches' compare, branch-free (the derived
    /// `==` compares with a call to memcmp).
    @inlinable @inline(__always)
    public func equals(_ o: FlowKey) -> Bool {
        let a = (w0 ^ o.w0) | (w1 ^ o.w1) | (w2 ^ o.w2) | (w3 ^ o.w3) | (w4 ^ o.w4) | (w5 ^ o.w5)
        let b = (w6 ^ o.w6) | (w7 ^ o.w7) | (w8 ^ o.w8) | (w9 ^ o.w9) | (w10 ^ o.w10) | (w11 ^ o.w11)
        let c = (w12 ^ o.w12) | (w13 ^ o.w13) | (w14 ^ o.w14) | (w15 ^ o.w15) | (w16 ^ o.w16)
        return a | b | c == 0
    }

    /// A subfield of ≤ 64 bits that lies in one word, as that word's index, shift and
    /// mask: read with two instructions (`FlowSubfield.get` works this out per call).
    public struct WordReader: Hashable, Sendable {
        @usableFromInline let word: Int
        @usableFromInline let shift: UInt64
        @usableFromInline let mask: UInt64

        /// nil for subfields of 128-bit fields.
        public init?(_ subfield: FlowSubfield) {
            let s = subfield.field.storage
            guard s.bits <= 64, Int(subfield.offset) < s.bits else { return nil }
            let n = Swift.min(Int(subfield.bits), s.bits - Int(subfield.offset))
            word = s.word
            shift = UInt64(s.shift + Int(subfield.offset))
            mask = n >= 64 ? ~0 : (1 << UInt64(n)) &- 1
        }

        /// `inout` only to read the key where it is (by value it would be copied).
        @inlinable @inline(__always)
        public func read(_ key: inout FlowKey) -> UInt64 {
            (withUnsafeBytes(of: &key) { $0.load(fromByteOffset: word &* 8, as: UInt64.self) } >> shift) & mask
        }
    }

    /// A fast hash of the whole key (for the exact-match cache and subtables): each word
    /// times its own odd constant, summed — the multiplies are independent, so they
    /// overlap in the pipeline — then one avalanche round.
    @inlinable
    public var fastHash: UInt64 {
        @inline(__always) get {
        var h = w0 &* 0x9E37_79B9_7F4A_7C15
        h &+= w1 &* 0xC2B2_AE3D_27D4_EB4F
        h &+= w2 &* 0x1656_67B1_9E37_79F9
        h &+= w3 &* 0x85EB_CA77_C2B2_AE63
        h &+= w4 &* 0x27D4_EB2F_1656_67C5
        h &+= w5 &* 0xFF51_AFD7_ED55_8CCD
        h &+= w6 &* 0xC4CE_B9FE_1A85_EC53
        h &+= w7 &* 0xD6E8_FEB8_6659_FD93
        h &+= w8 &* 0xA076_1D64_78BD_642F
        h &+= w9 &* 0xE703_7ED1_A0B4_28DB
        h &+= w10 &* 0x8EBC_6AF0_9C88_C6E3
        h &+= w11 &* 0x5899_65CC_7537_4CC3
        h &+= w12 &* 0x1D8E_4E27_C47D_124F
        h &+= w13 &* 0x9E37_79B9_7F4A_7C55
        h &+= w14 &* 0xC2B2_AE3D_27D4_EB8F
        h &+= w15 &* 0x1656_67B1_9E37_7A39
        h &+= w16 &* 0x85EB_CA77_C2B2_AEA3
        h ^= h >> 32
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 29
        return h
        }
    }

    // MARK: Fields

    @inlinable @inline(__always) static func get(_ w: UInt64, _ shift: UInt64, _ bits: UInt64) -> UInt64 { (w >> shift) & (bits == 64 ? ~0 : (1 << bits) - 1) }
    @inlinable @inline(__always) static func set(_ w: inout UInt64, _ shift: UInt64, _ bits: UInt64, _ v: UInt64) {
        let m: UInt64 = (bits == 64 ? ~0 : (1 << bits) - 1) << shift
        w = (w & ~m) | ((v << shift) & m)
    }

    /// The OpenFlow input port (`in_port`), bits 0–15 of `w0`.
    public var inPort: UInt16 { get { UInt16(Self.get(w0, 0, 16)) } set { Self.set(&w0, 0, 16, UInt64(newValue)) } }
    /// The conntrack zone the last `ct` action used (`ct_zone`), 0 before any.
    public var ctZone: UInt16 { get { UInt16(Self.get(w0, 16, 16)) } set { Self.set(&w0, 16, 16, UInt64(newValue)) } }
    /// IP protocol or IPv6 next header (`nw_proto`); ARP's opcode for ARP.
    public var nwProto: UInt8 { get { UInt8(Self.get(w0, 32, 8)) } set { Self.set(&w0, 32, 8, UInt64(newValue)) } }
    /// IPv4 TTL or IPv6 hop limit (`nw_ttl`).
    public var nwTTL: UInt8 { get { UInt8(Self.get(w0, 40, 8)) } set { Self.set(&w0, 40, 8, UInt64(newValue)) } }
    /// IPv4 TOS byte or IPv6 traffic class (`nw_tos`): DSCP in the top 6 bits, ECN in the low 2.
    public var nwTOS: UInt8 { get { UInt8(Self.get(w0, 48, 8)) } set { Self.set(&w0, 48, 8, UInt64(newValue)) } }
    /// Conntrack state bits (`ct_state`, see `CTState`); 0 until a `ct` action ran.
    public var ctState: UInt8 { get { UInt8(Self.get(w0, 56, 8)) } set { Self.set(&w0, 56, 8, UInt64(newValue)) } }
    /// Ethernet destination (`dl_dst`) in the low 48 bits.
    public var dlDst: UInt64 { get { Self.get(w1, 0, 48) } set { Self.set(&w1, 0, 48, newValue) } }
    /// EtherType after the VLAN tags (`dl_type`), host order.
    public var dlType: UInt16 { get { UInt16(Self.get(w1, 48, 16)) } set { Self.set(&w1, 48, 16, UInt64(newValue)) } }
    /// Ethernet source (`dl_src`) in the low 48 bits.
    public var dlSrc: UInt64 { get { Self.get(w2, 0, 48) } set { Self.set(&w2, 0, 48, newValue) } }
    /// The outer tag's TCI with bit 0x1000 set when a tag is present, 0 when untagged (`vlan_tci`).
    public var vlanTCI: UInt16 { get { UInt16(Self.get(w2, 48, 16)) } set { Self.set(&w2, 48, 16, UInt64(newValue)) } }
    /// IPv4 source (or ARP SPA), host order (`nw_src`).
    public var nwSrc: UInt32 { get { UInt32(Self.get(w3, 0, 32)) } set { Self.set(&w3, 0, 32, UInt64(newValue)) } }
    /// IPv4 destination (or ARP TPA), host order (`nw_dst`).
    public var nwDst: UInt32 { get { UInt32(Self.get(w3, 32, 32)) } set { Self.set(&w3, 32, 32, UInt64(newValue)) } }
    /// TCP/UDP source port or ICMP type, host order (`tp_src`).
    public var tpSrc: UInt16 { get { UInt16(Self.get(w4, 0, 16)) } set { Self.set(&w4, 0, 16, UInt64(newValue)) } }
    /// TCP/UDP destination port or ICMP code, host order (`tp_dst`).
    public var tpDst: UInt16 { get { UInt16(Self.get(w4, 16, 16)) } set { Self.set(&w4, 16, 16, UInt64(newValue)) } }
    /// TCP control bits, low 12 bits of the offset/flags word (`tcp_flags`).
    public var tcpFlags: UInt16 { get { UInt16(Self.get(w4, 32, 16)) } set { Self.set(&w4, 32, 16, UInt64(newValue)) } }
    /// The tunnel id (`tun_id`): a received GRE key or VXLAN VNI, or the one to send with.
    public var tunID: UInt64 { get { w5 } set { w5 = newValue } }
    /// Whether the packet has a VLAN tag: bit 0x1000 of `vlanTCI`, which OVS uses as
    /// "tag present" (the CFI bit of the wire TCI, always 0 on Ethernet).
    @inlinable public var hasVLAN: Bool { vlanTCI & 0x1000 != 0 }
    /// The tag's TCI as it is on the wire (PCP and VID, the "present" bit cleared).
    @inlinable public var wireTCI: UInt16 { vlanTCI & 0xEFFF }
    /// The connection's mark (`ct_mark`), set by `ct(commit,exec(set_field:V->ct_mark))`.
    public var ctMark: UInt32 { get { UInt32(Self.get(w6, 0, 32)) } set { Self.set(&w6, 0, 32, UInt64(newValue)) } }
    /// The pipeline scratch field (`metadata`): its low 32 bits, the only ones kept; 0 on entry.
    public var metadata: UInt32 { get { UInt32(Self.get(w6, 32, 32)) } set { Self.set(&w6, 32, 32, UInt64(newValue)) } }
    /// IPv6 source, first 64 bits, host order (`ipv6_src`).
    public var ipv6SrcHi: UInt64 { get { w11 } set { w11 = newValue } }
    /// IPv6 source, last 64 bits, host order.
    public var ipv6SrcLo: UInt64 { get { w12 } set { w12 = newValue } }
    /// IPv6 destination, first 64 bits, host order (`ipv6_dst`).
    public var ipv6DstHi: UInt64 { get { w13 } set { w13 = newValue } }
    /// IPv6 destination, last 64 bits, host order.
    public var ipv6DstLo: UInt64 { get { w14 } set { w14 = newValue } }
    /// ARP sender hardware address (`arp_sha`) in the low 48 bits.
    public var arpSHA: UInt64 { get { Self.get(w15, 0, 48) } set { Self.set(&w15, 0, 48, newValue) } }
    /// ARP target hardware address (`arp_tha`) in the low 48 bits.
    public var arpTHA: UInt64 { get { Self.get(w16, 0, 48) } set { Self.set(&w16, 0, 48, newValue) } }

    /// Register `n` (0...7).
    public func reg(_ n: Int) -> UInt32 {
        precondition((0...7).contains(n))
        return UInt32(truncatingIfNeeded: self[word: 7 + n / 2] >> UInt64(32 * (n % 2)))
    }

    /// Sets register `n` (0...7) to `value`; any other `n` traps.
    public mutating func setReg(_ n: Int, _ value: UInt32) {
        precondition((0...7).contains(n))
        var w = self[word: 7 + n / 2]
        Self.set(&w, UInt64(32 * (n % 2)), 32, UInt64(value))
        self[word: 7 + n / 2] = w
    }
}

/// Conntrack state bits as `ct_state` matches them (OVS's order).
public struct CTState: OptionSet, Sendable, Hashable {
    /// The bits, in the order `ct_state` lists them (bit 0 `new` … bit 7 `dnat`).
    public var rawValue: UInt8
    /// Wraps a byte of state bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `+new`: the original direction of a connection that has not seen a reply yet.
    public static let new = CTState(rawValue: 1 << 0)
    /// `+est`: a reply, or the original direction once the connection has seen a reply.
    public static let established = CTState(rawValue: 1 << 1)
    /// `+rel`: related to a committed connection (an ICMP error about it).
    public static let related = CTState(rawValue: 1 << 2)
    /// `+rpl`: the packet goes in the reply direction of its connection.
    public static let reply = CTState(rawValue: 1 << 3)
    /// `+inv`: conntrack could not make sense of the packet (malformed, out of window...).
    public static let invalid = CTState(rawValue: 1 << 4)
    /// `+trk`: the packet went through conntrack; every other bit is meaningful only with it.
    public static let tracked = CTState(rawValue: 1 << 5)
    /// `+snat`: source NAT was applied to the packet.
    public static let snat = CTState(rawValue: 1 << 6)
    /// `+dnat`: destination NAT was applied to the packet.
    public static let dnat = CTState(rawValue: 1 << 7)
}
