/// The Type field of an ICMPv4 message (RFC 792, <https://www.iana.org/assignments/icmp-parameters>).
///
/// An open set; the static members name the types a switch and router produce or act on.
/// Codes that matter to the router are nested in `ICMPType.Code`.
@frozen
public struct ICMPType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type number as it appears on the wire (one byte).
    public var rawValue: UInt8

    /// Wraps any type number, known or not.
    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Echo Reply (RFC 792).
    public static let echoReply = ICMPType(rawValue: 0)
    /// Destination Unreachable (RFC 792); see `Code` for fragmentation needed (RFC 1191).
    public static let destinationUnreachable = ICMPType(rawValue: 3)
    /// Redirect (RFC 792).
    public static let redirect = ICMPType(rawValue: 5)
    /// Echo (request) (RFC 792).
    public static let echo = ICMPType(rawValue: 8)
    /// Time Exceeded (RFC 792): TTL reached zero in transit (code 0) or reassembly timeout (code 1).
    public static let timeExceeded = ICMPType(rawValue: 11)
    /// Parameter Problem (RFC 792).
    public static let parameterProblem = ICMPType(rawValue: 12)

    /// Short name of `destinationUnreachable`.
    public static let destUnreachable = destinationUnreachable

    /// ICMPv4 codes used with `destinationUnreachable` and `timeExceeded`.
    public enum Code {
        /// Destination Unreachable: net unreachable (RFC 792).
        public static let netUnreachable: UInt8 = 0
        /// Destination Unreachable: host unreachable (RFC 792).
        public static let hostUnreachable: UInt8 = 1
        /// Destination Unreachable: protocol unreachable (RFC 792).
        public static let protocolUnreachable: UInt8 = 2
        /// Destination Unreachable: port unreachable (RFC 792).
        public static let portUnreachable: UInt8 = 3
        /// Destination Unreachable: fragmentation needed and DF set (RFC 792); the
        /// next-hop MTU goes in bytes 6–7 of the header (RFC 1191 §4).
        public static let fragmentationNeeded: UInt8 = 4
        /// Short name of `fragmentationNeeded`.
        public static let fragNeeded: UInt8 = 4
        /// Destination Unreachable: communication administratively prohibited (RFC 1812 §5.2.7.1).
        public static let administrativelyProhibited: UInt8 = 13
        /// Time Exceeded: time to live exceeded in transit (RFC 792).
        public static let ttlExceededInTransit: UInt8 = 0
        /// Time Exceeded: fragment reassembly time exceeded (RFC 792).
        public static let reassemblyTimeExceeded: UInt8 = 1
    }

    /// True for the error messages that quote the offending packet (RFC 1122 §3.2.2):
    /// destination unreachable, redirect, time exceeded, parameter problem, source quench.
    @inlinable
    public var isError: Bool {
        switch rawValue {
        case 3, 4, 5, 11, 12: true
        default: false
        }
    }

    /// The type's IANA name in kebab case (`echo-reply`, ...), or the decimal number when unnamed.
    public var description: String {
        switch rawValue {
        case 0: "echo-reply"
        case 3: "destination-unreachable"
        case 5: "redirect"
        case 8: "echo"
        case 11: "time-exceeded"
        case 12: "parameter-problem"
        default: String(rawValue)
        }
    }
}
