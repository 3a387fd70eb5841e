import XDPPacket

/// Why a router discarded a frame. Per-packet code never throws: it counts one of these
/// (router-wide) and returns the frame to the pool.
@frozen
public enum RouterDropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Shorter than an Ethernet header, or a VLAN tag cut off (`ParseError.truncatedEthernet`).
    case truncatedEthernet
    /// More than two VLAN tags.
    case tooManyVLANTags
    /// IPv4: IHL < 5, version ≠ 4, or a header longer than the frame.
    case badIPv4Header
    /// IPv4 total length smaller than the header or larger than the frame.
    case badIPv4Length
    /// IPv6: version ≠ 6, payload longer than the frame, or a bad extension header chain.
    case badIPv6Header
    /// The L4 header cut off or with an impossible length field.
    case truncatedL4
    /// ARP that is not Ethernet/IPv4 or is cut off; or, addressed to us, with a multicast
    /// or zero sender MAC, or an opcode other than request and reply.
    case badARP
    /// The IPv4 header checksum is wrong (RFC 1812 §5.2.2: a router must check it).
    case badIPv4Checksum
    /// An ICMP message for the router with a wrong checksum.
    case badICMPChecksum
    /// A VLAN-tagged frame: router interfaces are untagged (the bridge pops the tag).
    case vlanTagged
    /// The Ethernet destination is not the interface's MAC (nor broadcast, for ARP).
    case notForRouterMAC
    /// Neither IPv4 nor ARP (IPv6 is not routed yet).
    case unsupportedEtherType
    /// ARP about an address that is not the receiving interface's.
    case arpNotForUs
    /// ARP from a host claiming the receiving interface's own address.
    case arpAddressConflict
    /// An IPv4 source that no host may use (0/8, loopback, multicast, class E, broadcast).
    case martianSource
    /// A destination the router does not forward (multicast, broadcast, a subnet's
    /// broadcast address, loopback, 0/8, class E).
    case martianDestination
    /// A fragment addressed to the router (it does not reassemble).
    case fragmentForRouter
    /// Addressed to the router, but nothing in it answers (TCP, ICMP other than echo).
    case notHandledLocally
    /// No route to the destination (ICMP net unreachable sent).
    case noRoute
    /// The TTL was 0 or 1 (ICMP time exceeded sent).
    case ttlExceeded
    /// Larger than the output interface's MTU (ICMP fragmentation needed sent when DF is set).
    case mtuExceeded
    /// The next hop's MAC is unknown and its waiting queue (or all queues) is full.
    case pendingFull
    /// The next hop never answered ARP (ICMP host unreachable sent).
    case neighbourUnreachable
    /// The output interface's transmit queue was full.
    case txQueueFull
    /// The pool had no frame for an answer the router had to build (ARP request, ICMP).
    case noBuffer
    /// `receive` was called with an interface index the router does not have.
    case unknownInterface
    /// NAT: no free translated source port (or identifier) in the SNAT range.
    case natExhausted
    /// NAT: the router's connection table is full.
    case natTableFull
    /// NAT: a packet of a translated connection that conntrack finds invalid (e.g. TCP
    /// out of window): never forwarded untranslated.
    case natInvalid
    /// NAT: addressed to a floating IP but not translatable (an answer with no connection).
    case natUntranslated
    /// NAT: an IP fragment entering or leaving by the gateway interface (fragments are
    /// not reassembled for NAT).
    case natFragment

    /// The drop reason for a parse error, nil for `.none`.
    @inlinable
    public init?(_ error: ParseError) {
        switch error {
        case .none: return nil
        case .truncatedEthernet: self = .truncatedEthernet
        case .tooManyVLANTags: self = .tooManyVLANTags
        case .badIPv4Header: self = .badIPv4Header
        case .badIPv4Length: self = .badIPv4Length
        case .badIPv6Header: self = .badIPv6Header
        case .truncatedL4: self = .truncatedL4
        case .badARP: self = .badARP
        }
    }

    /// Kebab-case name used in stats output and JSON.
    public var description: String {
        switch self {
        case .truncatedEthernet: "truncated-ethernet"
        case .tooManyVLANTags: "too-many-vlan-tags"
        case .badIPv4Header: "bad-ipv4-header"
        case .badIPv4Length: "bad-ipv4-length"
        case .badIPv6Header: "bad-ipv6-header"
        case .truncatedL4: "truncated-l4"
        case .badARP: "bad-arp"
        case .badIPv4Checksum: "bad-ipv4-checksum"
        case .badICMPChecksum: "bad-icmp-checksum"
        case .vlanTagged: "vlan-tagged"
        case .notForRouterMAC: "not-for-router-mac"
        case .unsupportedEtherType: "unsupported-ethertype"
        case .arpNotForUs: "arp-not-for-us"
        case .arpAddressConflict: "arp-address-conflict"
        case .martianSource: "martian-source"
        case .martianDestination: "martian-destination"
        case .fragmentForRouter: "fragment-for-router"
        case .notHandledLocally: "not-handled-locally"
        case .noRoute: "no-route"
        case .ttlExceeded: "ttl-exceeded"
        case .mtuExceeded: "mtu-exceeded"
        case .pendingFull: "pending-full"
        case .neighbourUnreachable: "neighbour-unreachable"
        case .txQueueFull: "tx-queue-full"
        case .noBuffer: "no-buffer"
        case .unknownInterface: "unknown-interface"
        case .natExhausted: "nat-exhausted"
        case .natTableFull: "nat-table-full"
        case .natInvalid: "nat-invalid"
        case .natUntranslated: "nat-untranslated"
        case .natFragment: "nat-fragment"
        }
    }
}

/// Router-wide event counters (slots before the drop reasons in the counter memory).
@usableFromInline
enum RouterEvent: Int, CaseIterable {
    case forwarded, arpRequestsSent, arpRepliesSent, arpRepliesReceived, neighboursLearned, neighbourTableFull
    case echoReplies, icmpErrorsSent, icmpErrorsRateLimited
    case natTranslated, natConnectionsCreated, natConnectionsFlushed
}

/// One interface's traffic at one moment.
public struct RouterInterfaceStats: Sendable, Equatable {
    /// The interface's name.
    public var name: String
    /// Frames handed to the router on this interface.
    public var rxPackets: UInt64
    /// Bytes of those frames (Ethernet header on).
    public var rxBytes: UInt64
    /// Frames the router queued on this interface.
    public var txPackets: UInt64
    /// Bytes of those frames.
    public var txBytes: UInt64
}

/// A router's counters at one moment (see `DatapathRouter.stats`).
public struct RouterStats: Sendable, Equatable {
    /// Packets routed from one interface to another (or back out of the same one).
    public var forwarded: UInt64
    /// ARP requests sent for next hops.
    public var arpRequestsSent: UInt64
    /// ARP requests for the router's addresses answered.
    public var arpRepliesSent: UInt64
    /// ARP replies addressed to the router received.
    public var arpRepliesReceived: UInt64
    /// Neighbours added to the table (not counting updates of known ones).
    public var neighboursLearned: UInt64
    /// Neighbours not learned because the table held `neighbourCapacity` entries.
    public var neighbourTableFull: UInt64
    /// ICMP echo replies sent for the router's addresses.
    public var echoReplies: UInt64
    /// ICMP errors sent (time exceeded, unreachable, fragmentation needed).
    public var icmpErrorsSent: UInt64
    /// ICMP errors not sent because of the rate limit.
    public var icmpErrorsRateLimited: UInt64
    /// Packets NAT rewrote (either direction, ICMP errors included).
    public var natTranslated: UInt64 = 0
    /// Translated connections created (SNAT, floating IP, metadata).
    public var natConnectionsCreated: UInt64 = 0
    /// Translated connections removed because their floating IP went away.
    public var natConnectionsFlushed: UInt64 = 0
    /// Translated connections held now.
    public var natConnections: Int = 0
    /// Frames dropped, by reason (reasons with a zero count are absent).
    public var drops: [RouterDropReason: UInt64]
    /// Per interface, in configuration order.
    public var interfaces: [RouterInterfaceStats]

    /// All drops, whatever the reason.
    public var totalDrops: UInt64 { drops.values.reduce(0, +) }
}
