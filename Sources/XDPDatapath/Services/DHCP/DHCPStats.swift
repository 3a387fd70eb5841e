import XDPPacket

/// Why a DHCP server discarded a frame without answering. Per-packet code never throws:
/// it counts one of these and returns the frame to the pool.
@frozen
public enum DHCPDropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// The Ethernet frame is cut off, has more than two VLAN tags, or is a malformed ARP.
    case badFrame
    /// The IPv4 header is malformed or its total length lies about the frame.
    case badIPv4
    /// The UDP header is cut off or its length field lies about the datagram.
    case badUDP
    /// The IPv4 header checksum is wrong.
    case badIPv4Checksum
    /// The UDP checksum is present and wrong.
    case badUDPChecksum
    /// A VLAN-tagged frame: the server's port is an access port (the bridge pops the tag).
    case vlanTagged
    /// An IP fragment: DHCP messages are never fragmented.
    case fragment
    /// Not IPv4 UDP to port 67 from port 68 (nor ARP for the server).
    case notDHCP
    /// Addressed to another MAC or IPv4 address than the server's (or broadcast).
    case notForServer
    /// The UDP payload is shorter than the fixed BOOTP header and magic cookie (240 bytes).
    case truncatedMessage
    /// `op` is not BOOTREQUEST (1): a server's message.
    case notBootRequest
    /// `htype`/`hlen` are not Ethernet (1/6).
    case badHardwareType
    /// The magic cookie is not 99.130.83.99: plain BOOTP, which is not served.
    case badMagicCookie
    /// An option's length runs past the message, or options 50/53/54 have the wrong length.
    case badOption
    /// No option 53 (message type).
    case missingMessageType
    /// A message type a server never receives (OFFER, ACK, NAK) or an unknown one.
    case unexpectedMessageType
    /// A DHCPREQUEST that is none of SELECTING, INIT-REBOOT, RENEWING/REBINDING (RFC 2131 §4.3.2).
    case badRequest
    /// `giaddr` is set: relayed messages are not served (the server sits on the network's own segment).
    case relayed
    /// The client's MAC (`chaddr`) has no static lease.
    case unknownClient
    /// The client's subnet has DHCP disabled.
    case dhcpDisabled
    /// A DHCPREQUEST naming another server identifier: the client took another server's offer.
    case otherServer
    /// An ARP that is not a request for one of the server's addresses.
    case arpNotForServer
    /// The pool had no frame for a reply (or its frames are too small for one).
    case noBuffer
    /// The server's transmit queue was full.
    case txQueueFull

    /// The drop reason for a parse error, nil for `.none`.
    @inlinable
    public init?(_ error: ParseError) {
        switch error {
        case .none: return nil
        case .truncatedEthernet, .tooManyVLANTags, .badARP, .badIPv6Header: self = .badFrame
        case .badIPv4Header, .badIPv4Length: self = .badIPv4
        case .truncatedL4: self = .badUDP
        }
    }

    /// Kebab-case name used in stats output and JSON.
    public var description: String {
        switch self {
        case .badFrame: "bad-frame"
        case .badIPv4: "bad-ipv4"
        case .badUDP: "bad-udp"
        case .badIPv4Checksum: "bad-ipv4-checksum"
        case .badUDPChecksum: "bad-udp-checksum"
        case .vlanTagged: "vlan-tagged"
        case .fragment: "fragment"
        case .notDHCP: "not-dhcp"
        case .notForServer: "not-for-server"
        case .truncatedMessage: "truncated-message"
        case .notBootRequest: "not-bootrequest"
        case .badHardwareType: "bad-hardware-type"
        case .badMagicCookie: "bad-magic-cookie"
        case .badOption: "bad-option"
        case .missingMessageType: "missing-message-type"
        case .unexpectedMessageType: "unexpected-message-type"
        case .badRequest: "bad-request"
        case .relayed: "relayed"
        case .unknownClient: "unknown-client"
        case .dhcpDisabled: "dhcp-disabled"
        case .otherServer: "other-server"
        case .arpNotForServer: "arp-not-for-server"
        case .noBuffer: "no-buffer"
        case .txQueueFull: "tx-queue-full"
        }
    }
}

/// Server-wide event counters (slots before the drop reasons in the counter memory).
@usableFromInline
enum DHCPEvent: Int {
    case received, discovers, requests, declines, releases, informs, offers, acks, naks, arpReplies, sent
    @usableFromInline static let count = 11
}

/// A DHCP server's counters at one moment (see `DHCPResponder.stats`).
public struct DHCPStats: Sendable, Equatable {
    /// Frames handed to the server.
    public var received: UInt64
    /// Well-formed DHCPDISCOVERs, from known clients or not.
    public var discovers: UInt64
    /// Well-formed DHCPREQUESTs, from known clients or not.
    public var requests: UInt64
    /// Well-formed DHCPDECLINEs.
    public var declines: UInt64
    /// Well-formed DHCPRELEASEs.
    public var releases: UInt64
    /// Well-formed DHCPINFORMs.
    public var informs: UInt64
    /// DHCPOFFERs queued.
    public var offers: UInt64
    /// DHCPACKs queued.
    public var acks: UInt64
    /// DHCPNAKs queued.
    public var naks: UInt64
    /// ARP requests for a server address answered.
    public var arpReplies: UInt64
    /// Frames queued for transmission (replies and ARP answers).
    public var sent: UInt64
    /// Frames dropped without an answer, by reason (reasons with a zero count are absent).
    /// DHCPRELEASE and DHCPDECLINE are consumed, not dropped.
    public var drops: [DHCPDropReason: UInt64]

    /// All drops, whatever the reason.
    public var totalDrops: UInt64 { drops.values.reduce(0, +) }
}
