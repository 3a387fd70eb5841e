/// The ARP operation code (RFC 826; <https://www.iana.org/assignments/arp-parameters>).
@frozen
public struct ARPOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The opcode as a host-order integer (1 request, 2 reply).
    public var rawValue: UInt16
    /// Wraps any opcode, known or not.
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// ARP request (RFC 826).
    public static let request = ARPOperation(rawValue: 1)
    /// ARP reply (RFC 826).
    public static let reply = ARPOperation(rawValue: 2)

    /// `request`, `reply`, or the decimal opcode for any other value.
    public var description: String {
        switch rawValue {
        case 1: "request"
        case 2: "reply"
        default: String(rawValue)
        }
    }
}

/// A view of an ARP packet for Ethernet hardware and IPv4 protocol addresses (RFC 826),
/// the only kind this switch answers or learns from.
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Hardware type (1)        |     Protocol type (0x0800)    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  HLEN (6)     |  PLEN (4)     |          Operation            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Sender hardware address (SHA)                 |
/// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                               |  Sender protocol address (SPA)|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         SPA (cont.)           |  Target hardware address (THA)|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Target protocol address (TPA)                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
@frozen
public struct ARPHeader {
    /// The first byte of the hardware type field.
    public let base: UnsafeMutableRawPointer

    /// Views the packet at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 28 bytes: Ethernet/IPv4 ARP.
    public static let minimumLength = 28

    /// True when `length` bytes hold an Ethernet/IPv4 ARP packet: the length suffices and
    /// hardware type 1, protocol type 0x0800, HLEN 6, PLEN 4.
    @inlinable
    public static func validate(_ base: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard length >= 28 else { return false }
        return base.loadBE32(at: 0) == 0x0001_0800 && base.loadBE16(at: 4) == 0x0604
    }

    /// Hardware type (1 for Ethernet).
    @inlinable
    public var hardwareType: UInt16 {
        get { base.loadBE16(at: 0) }
        nonmutating set { base.storeBE16(newValue, at: 0) }
    }

    /// Protocol type (an EtherType; 0x0800 for IPv4).
    @inlinable
    public var protocolType: EtherType {
        get { EtherType(rawValue: base.loadBE16(at: 2)) }
        nonmutating set { base.storeBE16(newValue.rawValue, at: 2) }
    }

    /// Hardware address length (6 for Ethernet).
    @inlinable
    public var hardwareLength: UInt8 {
        get { base.loadBE8(at: 4) }
        nonmutating set { base.storeBE8(newValue, at: 4) }
    }

    /// Protocol address length (4 for IPv4).
    @inlinable
    public var protocolLength: UInt8 {
        get { base.loadBE8(at: 5) }
        nonmutating set { base.storeBE8(newValue, at: 5) }
    }

    /// Operation: request or reply.
    @inlinable
    public var operation: ARPOperation {
        get { ARPOperation(rawValue: base.loadBE16(at: 6)) }
        nonmutating set { base.storeBE16(newValue.rawValue, at: 6) }
    }

    /// Sender hardware address.
    @inlinable
    public var senderHardwareAddress: MACAddress {
        get { MACAddress(rawValue: base.loadBE48(at: 8)) }
        nonmutating set { base.storeBE48(newValue.rawValue, at: 8) }
    }

    /// Sender protocol address.
    @inlinable
    public var senderProtocolAddress: IPv4Address {
        get { IPv4Address(rawValue: base.loadBE32(at: 14)) }
        nonmutating set { base.storeBE32(newValue.rawValue, at: 14) }
    }

    /// Target hardware address (zero in a request).
    @inlinable
    public var targetHardwareAddress: MACAddress {
        get { MACAddress(rawValue: base.loadBE48(at: 18)) }
        nonmutating set { base.storeBE48(newValue.rawValue, at: 18) }
    }

    /// Target protocol address.
    @inlinable
    public var targetProtocolAddress: IPv4Address {
        get { IPv4Address(rawValue: base.loadBE32(at: 24)) }
        nonmutating set { base.storeBE32(newValue.rawValue, at: 24) }
    }

    /// True for a gratuitous ARP: sender and target protocol addresses are equal (RFC 5227 §3).
    @inlinable
    public var isGratuitous: Bool { base.loadBE32(at: 14) == base.loadBE32(at: 24) }
}
