/// What one parse of a frame found: layer offsets, VLAN tags and the flow-key fields
/// the datapath matches on. It is filled once per frame by `PacketParser.parse` and kept
/// in a preallocated per-batch array, so no stage parses a header twice.
///
/// Offsets are relative to the first byte of the Ethernet header. Fields of layers that
/// are not present stay zero; `flags` says which layers were found.
@frozen
public struct PacketMetadata: Sendable, Equatable {
    /// Which layers were found, and anomalies seen (see `PacketFlags`).
    public var flags: PacketFlags = []
    /// Number of VLAN tags parsed (0, 1 or 2).
    public var vlanCount: UInt8 = 0
    /// TPID of the outer tag (0x8100 or 0x88a8), 0 when untagged.
    public var outerTPID: UInt16 = 0
    /// TCI (PCP, DEI, VID) of the outer tag.
    public var outerTCI: UInt16 = 0
    /// TCI of the inner tag of a double-tagged frame.
    public var innerTCI: UInt16 = 0
    /// The EtherType after all VLAN tags (`dl_type`).
    public var etherType: UInt16 = 0
    /// Offset of the L3 header (14, 18 or 22).
    public var l3Offset: UInt16 = 0
    /// Offset of the L4 header, 0 when there is none (or a non-first fragment).
    public var l4Offset: UInt16 = 0
    /// Ethernet destination (`dl_dst`), in the low 48 bits.
    public var dlDst: UInt64 = 0
    /// Ethernet source (`dl_src`), in the low 48 bits.
    public var dlSrc: UInt64 = 0
    /// IP protocol / IPv6 next header after extension headers (`nw_proto`); ARP opcode's low byte for ARP.
    public var nwProto: UInt8 = 0
    /// IPv4 TTL or IPv6 hop limit (`nw_ttl`).
    public var nwTTL: UInt8 = 0
    /// IPv4 TOS byte or IPv6 traffic class (`nw_tos`): DSCP in the top 6 bits, ECN in the low 2.
    public var nwTOS: UInt8 = 0
    /// IPv4 source (or ARP SPA), host order.
    public var nwSrc: UInt32 = 0
    /// IPv4 destination (or ARP TPA), host order.
    public var nwDst: UInt32 = 0
    /// IPv6 source, first 64 bits, host order.
    public var ipv6SrcHi: UInt64 = 0
    /// IPv6 source, last 64 bits, host order.
    public var ipv6SrcLo: UInt64 = 0
    /// IPv6 destination, first 64 bits, host order.
    public var ipv6DstHi: UInt64 = 0
    /// IPv6 destination, last 64 bits, host order.
    public var ipv6DstLo: UInt64 = 0
    /// Source port (TCP/UDP) or ICMP/ICMPv6 type, host order; ARP: the opcode.
    public var tpSrc: UInt16 = 0
    /// Destination port (TCP/UDP) or ICMP code, host order; ARP: 0.
    public var tpDst: UInt16 = 0
    /// TCP flags (low 12 bits of the TCP header's offset/flags word).
    public var tcpFlags: UInt16 = 0
    /// Why the parse stopped, `.none` when the frame is well formed.
    public var error: ParseError = .none

    /// An empty result: no layers, every field zero, `error` `.none`.
    @inlinable public init() {}

    /// The VLAN id of the outer tag (`dl_vlan`), 0 when untagged.
    @inlinable public var vlanID: UInt16 { outerTCI & 0x0FFF }
}

/// Which layers a parse found and what it noticed on the way.
@frozen
public struct PacketFlags: OptionSet, Sendable, Hashable {
    /// The flag bits; bits 13–15 are unused.
    public var rawValue: UInt16
    /// Wraps a set of flag bits.
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The EtherType (after VLAN tags) is IPv4 and its header is valid.
    @inlinable public static var ipv4: PacketFlags { PacketFlags(rawValue: 1 << 0) }
    /// The EtherType (after VLAN tags) is IPv6 and its header is valid.
    @inlinable public static var ipv6: PacketFlags { PacketFlags(rawValue: 1 << 1) }
    /// An Ethernet/IPv4 ARP packet.
    @inlinable public static var arp: PacketFlags { PacketFlags(rawValue: 1 << 2) }
    /// A TCP header, whole and inside the frame (ports and flags are filled).
    @inlinable public static var tcp: PacketFlags { PacketFlags(rawValue: 1 << 3) }
    /// A UDP header whose length field fits the frame (ports are filled).
    @inlinable public static var udp: PacketFlags { PacketFlags(rawValue: 1 << 4) }
    /// An ICMPv4 header (type and code are in `tpSrc` and `tpDst`).
    @inlinable public static var icmp: PacketFlags { PacketFlags(rawValue: 1 << 5) }
    /// An ICMPv6 header (type and code are in `tpSrc` and `tpDst`).
    @inlinable public static var icmpv6: PacketFlags { PacketFlags(rawValue: 1 << 6) }
    /// A GRE header (IP protocol 47), at least its first 4 bytes inside the frame.
    @inlinable public static var gre: PacketFlags { PacketFlags(rawValue: 1 << 7) }
    /// An IP fragment (first or later). Later fragments have no L4 header.
    @inlinable public static var fragment: PacketFlags { PacketFlags(rawValue: 1 << 8) }
    /// A non-first fragment: `l4Offset` is 0 and ports are not known.
    @inlinable public static var laterFragment: PacketFlags { PacketFlags(rawValue: 1 << 9) }
    /// The IPv4 header carries options (IHL > 5).
    @inlinable public static var ipOptions: PacketFlags { PacketFlags(rawValue: 1 << 10) }
    /// The EtherType is one this layer does not parse further (passed on at L2).
    @inlinable public static var unknownEtherType: PacketFlags { PacketFlags(rawValue: 1 << 11) }
    /// The Ethernet frame has bytes past the IP total length (padding); not an error.
    @inlinable public static var trailingBytes: PacketFlags { PacketFlags(rawValue: 1 << 12) }
}

/// Why a frame could not be parsed. Each is a drop reason the datapath counts.
@frozen
public enum ParseError: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The frame parsed cleanly.
    case none = 0
    /// Shorter than an Ethernet header, or a VLAN tag is cut off.
    case truncatedEthernet
    /// More than two VLAN tags.
    case tooManyVLANTags
    /// IPv4: IHL < 5, version ≠ 4, or header longer than the frame.
    case badIPv4Header
    /// IPv4 total length smaller than the header or larger than the frame.
    case badIPv4Length
    /// IPv6: version ≠ 6, payload length larger than the frame, or a bad extension header chain.
    case badIPv6Header
    /// L4 header (TCP/UDP/ICMP/GRE) cut off or with an impossible length field.
    case truncatedL4
    /// ARP that is not Ethernet/IPv4 or is cut off.
    case badARP

    /// The reason in kebab case, as counters and logs name it (`bad-ipv4-header`).
    public var description: String {
        switch self {
        case .none: "none"
        case .truncatedEthernet: "truncated-ethernet"
        case .tooManyVLANTags: "too-many-vlan-tags"
        case .badIPv4Header: "bad-ipv4-header"
        case .badIPv4Length: "bad-ipv4-length"
        case .badIPv6Header: "bad-ipv6-header"
        case .truncatedL4: "truncated-l4"
        case .badARP: "bad-arp"
        }
    }
}
