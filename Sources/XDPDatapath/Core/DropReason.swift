import XDPPacket

/// Why the datapath discarded a frame. Per-packet code never throws: it counts one of
/// these on the port the frame came in by (or was going out of) and frees the frame.
@frozen
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Shorter than an Ethernet header or a VLAN tag cut off.
    case truncatedEthernet
    /// More than two VLAN tags.
    case tooManyVLANTags
    /// IPv4: IHL < 5, version ≠ 4, or a header longer than the frame.
    case badIPv4Header
    /// IPv4 total length smaller than the header or larger than the frame.
    case badIPv4Length
    /// IPv6: version ≠ 6, payload longer than the frame, or a bad extension header chain.
    case badIPv6Header
    /// The L4 header (TCP/UDP/ICMP/GRE) cut off or with an impossible length field.
    case truncatedL4
    /// ARP that is not Ethernet/IPv4, or is cut off.
    case badARP
    /// A frame tagged with a non-zero VLAN id arrived on an access port.
    case taggedOnAccessPort
    /// The frame's VLAN is not in the trunk port's `trunks`.
    case vlanNotAllowed
    /// The learned destination is the port the frame came in on.
    case destinationIsInputPort
    /// Flooding found no port other than the input port in the frame's VLAN.
    case noOutputPort
    /// The frame pool had no frame for a flood copy or a header push.
    case noBuffer
    /// Not enough headroom in the frame to push a header.
    case noHeadroom
    /// The egress port's transmit queue was full.
    case txQueueFull
    /// Patch ports chained deeper than the datapath allows (a loop).
    case patchLoop
    /// A frame sent to a port that is administratively down or has no transport.
    case portDown
    /// A GRE packet with reserved flags or a version other than 0.
    case greUnsupportedFlags
    /// A GRE packet carrying something other than Ethernet (0x6558).
    case greUnsupportedProtocol
    /// A GRE packet cut short or with a bad GRE checksum.
    case greMalformed
    /// A GRE or VXLAN packet from a remote (or with a key) no tunnel port accepts.
    case tunnelNoPort
    /// A frame on the underlay that is not GRE, VXLAN or ARP for our address.
    case underlayNotForUs
    /// No route to the tunnel's remote endpoint (not in the subnet and no gateway).
    case tunnelNoRoute
    /// The next hop's MAC is unknown and its queue of waiting frames is full.
    case tunnelPendingFull
    /// Encapsulated, the frame would exceed the underlay MTU.
    case tunnelMTUExceeded
    /// The flows ended without sending the frame anywhere (`actions=drop`, a table miss).
    case flowDrop
    /// An action sent the frame to the controller or LOCAL, which this switch does not have.
    case noController
    /// `dec_ttl` on a packet whose TTL was 0 or 1.
    case ttlExceeded
    /// More than `Datapath.maximumResubmits` resubmits for one frame (a loop in the flows).
    case resubmitLimit
    /// A `ct()` action on a datapath without a connection tracker (none was configured).
    case conntrackUnavailable
    /// `ct(commit)` refused: the tracker's global or zone limit is reached.
    case conntrackLimit
    /// `ct(commit,nat(...))` found no free translated tuple in its range.
    case natExhausted
    /// A fragment the tracker could not reassemble (overlap, too many, out of memory…).
    case conntrackFragment
    /// A fragment waiting for the rest of its datagram found the hold queue full.
    case fragmentHoldFull
    /// A held fragment's datagram did not complete in time.
    case fragmentTimeout
    /// GRE to our underlay address whose outer IPv4 header checksum is wrong (RFC 1122
    /// §3.2.1.2: a host verifies it; Open vSwitch and Linux drop such packets too).
    case underlayBadIPv4Checksum
    /// GRE to our underlay address inside a frame not unicast to our underlay MAC
    /// (another host's MAC, broadcast or multicast): Open vSwitch decapsulates only
    /// frames to the bridge's own MAC.
    case underlayNotOurMAC
    /// A VXLAN packet whose flags are not the I flag alone, or whose reserved fields are not
    /// zero (Linux's `vxlan_rcv` and Open vSwitch's native tunnel receive drop these).
    case vxlanBadFlags
    /// A VXLAN packet too short for its header and an inner Ethernet header, or with a wrong
    /// (non-zero) UDP checksum.
    case vxlanMalformed

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
        case .taggedOnAccessPort: "tagged-on-access-port"
        case .vlanNotAllowed: "vlan-not-allowed"
        case .destinationIsInputPort: "destination-is-input-port"
        case .noOutputPort: "no-output-port"
        case .noBuffer: "no-buffer"
        case .noHeadroom: "no-headroom"
        case .txQueueFull: "tx-queue-full"
        case .patchLoop: "patch-loop"
        case .portDown: "port-down"
        case .greUnsupportedFlags: "gre-unsupported-flags"
        case .greUnsupportedProtocol: "gre-unsupported-protocol"
        case .greMalformed: "gre-malformed"
        case .tunnelNoPort: "tunnel-no-port"
        case .underlayNotForUs: "underlay-not-for-us"
        case .tunnelNoRoute: "tunnel-no-route"
        case .tunnelPendingFull: "tunnel-pending-full"
        case .tunnelMTUExceeded: "tunnel-mtu-exceeded"
        case .flowDrop: "flow-drop"
        case .noController: "no-controller"
        case .ttlExceeded: "ttl-exceeded"
        case .resubmitLimit: "resubmit-limit"
        case .conntrackUnavailable: "conntrack-unavailable"
        case .conntrackLimit: "conntrack-limit"
        case .natExhausted: "nat-exhausted"
        case .conntrackFragment: "conntrack-fragment"
        case .fragmentHoldFull: "fragment-hold-full"
        case .fragmentTimeout: "fragment-timeout"
        case .underlayBadIPv4Checksum: "underlay-bad-ipv4-checksum"
        case .underlayNotOurMAC: "underlay-not-our-mac"
        case .vxlanBadFlags: "vxlan-bad-flags"
        case .vxlanMalformed: "vxlan-malformed"
        }
    }
}
