/// The 16-bit type field of an Ethernet II header (and of a VLAN tag or a GRE header,
/// which reuse the same number space).
///
/// An open set: any 16-bit value is representable, the static members name the ones
/// this switch handles. Values are from the IEEE 802 numbers registry
/// (<https://www.iana.org/assignments/ieee-802-numbers>).
@frozen
public struct EtherType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value as it appears on the wire (host order here, big-endian in the frame).
    public var rawValue: UInt16

    /// Wraps any 16-bit type value.
    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Internet Protocol version 4 (RFC 894).
    public static let ipv4 = EtherType(rawValue: 0x0800)
    /// Address Resolution Protocol (RFC 826).
    public static let arp = EtherType(rawValue: 0x0806)
    /// IEEE 802.1Q customer VLAN tag (C-tag) TPID.
    public static let vlan = EtherType(rawValue: 0x8100)
    /// IEEE 802.1ad service VLAN tag (S-tag, "QinQ") TPID.
    public static let qinq = EtherType(rawValue: 0x88A8)
    /// Internet Protocol version 6 (RFC 2464).
    public static let ipv6 = EtherType(rawValue: 0x86DD)
    /// Transparent Ethernet Bridging: an Ethernet frame carried in GRE (RFC 1701, RFC 7637).
    public static let transparentEthernetBridging = EtherType(rawValue: 0x6558)

    /// True for the two TPIDs that introduce a VLAN tag (0x8100 and 0x88a8).
    @inlinable
    public var isVLANTPID: Bool { rawValue == 0x8100 || rawValue == 0x88A8 }

    /// The protocol's short name (`ipv4`, `arp`, `vlan`, `qinq`, ...), or `0x` and the value in hex.
    public var description: String {
        switch rawValue {
        case 0x0800: "ipv4"
        case 0x0806: "arp"
        case 0x8100: "vlan"
        case 0x88A8: "qinq"
        case 0x86DD: "ipv6"
        case 0x6558: "transparent-ethernet-bridging"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}
