/// The Type field of an ICMPv6 message (RFC 4443, RFC 4861,
/// <https://www.iana.org/assignments/icmpv6-parameters>). Types 0–127 are errors,
/// 128–255 informational.
@frozen
public struct ICMPv6Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type number as it appears on the wire (one byte).
    public var rawValue: UInt8

    /// Wraps any type number, known or not.
    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Destination Unreachable (RFC 4443 §3.1).
    public static let destinationUnreachable = ICMPv6Type(rawValue: 1)
    /// Short name of `destinationUnreachable`.
    public static let destUnreachable = destinationUnreachable
    /// Packet Too Big (RFC 4443 §3.2): the IPv6 "fragmentation needed"; the MTU is the
    /// 32-bit word at bytes 4–7.
    public static let packetTooBig = ICMPv6Type(rawValue: 2)
    /// Time Exceeded (RFC 4443 §3.3).
    public static let timeExceeded = ICMPv6Type(rawValue: 3)
    /// Parameter Problem (RFC 4443 §3.4).
    public static let parameterProblem = ICMPv6Type(rawValue: 4)
    /// Echo Request (RFC 4443 §4.1).
    public static let echo = ICMPv6Type(rawValue: 128)
    /// Echo Reply (RFC 4443 §4.2).
    public static let echoReply = ICMPv6Type(rawValue: 129)
    /// Multicast Listener Query (RFC 2710).
    public static let multicastListenerQuery = ICMPv6Type(rawValue: 130)
    /// Router Solicitation (RFC 4861 §4.1).
    public static let routerSolicitation = ICMPv6Type(rawValue: 133)
    /// Router Advertisement (RFC 4861 §4.2).
    public static let routerAdvertisement = ICMPv6Type(rawValue: 134)
    /// Neighbor Solicitation (RFC 4861 §4.3).
    public static let neighborSolicitation = ICMPv6Type(rawValue: 135)
    /// Neighbor Advertisement (RFC 4861 §4.4).
    public static let neighborAdvertisement = ICMPv6Type(rawValue: 136)
    /// Redirect (RFC 4861 §4.5).
    public static let redirect = ICMPv6Type(rawValue: 137)
    /// Multicast Listener Report v2 (RFC 3810).
    public static let multicastListenerReportV2 = ICMPv6Type(rawValue: 143)

    /// ICMPv6 codes.
    public enum Code {
        /// Destination Unreachable: no route to destination (RFC 4443).
        public static let noRoute: UInt8 = 0
        /// Destination Unreachable: communication administratively prohibited (RFC 4443).
        public static let administrativelyProhibited: UInt8 = 1
        /// Destination Unreachable: address unreachable (RFC 4443).
        public static let addressUnreachable: UInt8 = 3
        /// Destination Unreachable: port unreachable (RFC 4443).
        public static let portUnreachable: UInt8 = 4
        /// Time Exceeded: hop limit exceeded in transit (RFC 4443).
        public static let hopLimitExceeded: UInt8 = 0
    }

    /// Error messages have types 0–127 (RFC 4443 §2.1).
    @inlinable
    public var isError: Bool { rawValue < 128 }

    /// The type's name in kebab case, or the decimal number when unnamed.
    public var description: String {
        switch rawValue {
        case 1: "destination-unreachable"
        case 2: "packet-too-big"
        case 3: "time-exceeded"
        case 4: "parameter-problem"
        case 128: "echo"
        case 129: "echo-reply"
        case 133: "router-solicitation"
        case 134: "router-advertisement"
        case 135: "neighbor-solicitation"
        case 136: "neighbor-advertisement"
        case 137: "redirect"
        default: String(rawValue)
        }
    }
}
