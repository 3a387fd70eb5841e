/// The IPv4 Protocol field and the IPv6 Next Header field, which share one number space
/// (<https://www.iana.org/assignments/protocol-numbers>).
///
/// An open set: any 8-bit value is representable; the static members name the protocols
/// and IPv6 extension headers this switch handles.
@frozen
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value as it appears on the wire.
    public var rawValue: UInt8

    /// Wraps any 8-bit protocol number.
    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// IPv6 Hop-by-Hop Options extension header (RFC 8200 §4.3).
    public static let ipv6HopByHop = IPProtocol(rawValue: 0)
    /// Internet Control Message Protocol (RFC 792).
    public static let icmp = IPProtocol(rawValue: 1)
    /// Internet Group Management Protocol (RFC 1112).
    public static let igmp = IPProtocol(rawValue: 2)
    /// IPv4 encapsulated in IP (RFC 2003).
    public static let ipv4 = IPProtocol(rawValue: 4)
    /// Transmission Control Protocol (RFC 9293).
    public static let tcp = IPProtocol(rawValue: 6)
    /// User Datagram Protocol (RFC 768).
    public static let udp = IPProtocol(rawValue: 17)
    /// IPv6 encapsulated in IP (RFC 2473).
    public static let ipv6 = IPProtocol(rawValue: 41)
    /// IPv6 Routing extension header (RFC 8200 §4.4).
    public static let ipv6Routing = IPProtocol(rawValue: 43)
    /// IPv6 Fragment extension header (RFC 8200 §4.5).
    public static let ipv6Fragment = IPProtocol(rawValue: 44)
    /// Generic Routing Encapsulation (RFC 2784).
    public static let gre = IPProtocol(rawValue: 47)
    /// Encapsulating Security Payload (RFC 4303). Ends an extension header walk: what
    /// follows is encrypted.
    public static let esp = IPProtocol(rawValue: 50)
    /// Authentication Header (RFC 4302), an IPv6 extension header with its length in 4-octet units.
    public static let ah = IPProtocol(rawValue: 51)
    /// ICMP for IPv6 (RFC 4443).
    public static let icmpv6 = IPProtocol(rawValue: 58)
    /// IPv6 No Next Header (RFC 8200 §4.7).
    public static let ipv6NoNextHeader = IPProtocol(rawValue: 59)
    /// IPv6 Destination Options extension header (RFC 8200 §4.6).
    public static let ipv6DestinationOptions = IPProtocol(rawValue: 60)
    /// Stream Control Transmission Protocol (RFC 9260).
    public static let sctp = IPProtocol(rawValue: 132)
    /// Mobility extension header (RFC 6275).
    public static let ipv6Mobility = IPProtocol(rawValue: 135)
    /// Host Identity Protocol (RFC 7401), an IPv6 extension header.
    public static let hip = IPProtocol(rawValue: 139)
    /// Shim6 protocol (RFC 5533), an IPv6 extension header.
    public static let shim6 = IPProtocol(rawValue: 140)

    /// True for the IPv6 extension headers an extension-header walk steps over
    /// (RFC 8200 §4, RFC 7045 §4): hop-by-hop, routing, fragment, destination options,
    /// AH, mobility, HIP and Shim6. ESP and No Next Header end a walk and are not included.
    @inlinable
    public var isIPv6ExtensionHeader: Bool {
        switch rawValue {
        case 0, 43, 44, 51, 60, 135, 139, 140: true
        default: false
        }
    }

    /// The IANA keyword in lower case (`icmp`, `tcp`, `udp`, ...), or the decimal number when unnamed.
    public var description: String {
        switch rawValue {
        case 0: "hopopt"
        case 1: "icmp"
        case 2: "igmp"
        case 4: "ipip"
        case 6: "tcp"
        case 17: "udp"
        case 41: "ipv6"
        case 43: "ipv6-route"
        case 44: "ipv6-frag"
        case 47: "gre"
        case 50: "esp"
        case 51: "ah"
        case 58: "icmpv6"
        case 59: "ipv6-nonxt"
        case 60: "ipv6-opts"
        case 132: "sctp"
        case 135: "mobility"
        case 139: "hip"
        case 140: "shim6"
        default: String(rawValue)
        }
    }
}
