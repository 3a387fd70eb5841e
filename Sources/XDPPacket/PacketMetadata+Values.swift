// The metadata's fields as typed values, for tools, tests and embedders reading what a
// parse found. The stored fields stay the flat integers the datapath matches on (its
// layout is the hot path's); everything here is computed from them, and a layer the
// parse did not find reads as nil rather than as a zero that looks like an address.

extension PacketMetadata {
    /// One 802.1Q / 802.1ad tag as the parse found it.
    public struct VLAN: Hashable, Sendable, CustomStringConvertible {
        /// The tag's TCI: priority (3 bits), drop eligible (1 bit), VLAN id (12 bits).
        public var tci: UInt16
        /// The VLAN id (0–4095).
        public var id: UInt16 { tci & 0x0FFF }
        /// The priority code point (0–7).
        public var priority: UInt8 { UInt8(truncatingIfNeeded: tci >> 13) }
        /// The drop eligible indicator.
        public var dropEligible: Bool { tci & 0x1000 != 0 }

        /// A tag with TCI `tci`.
        public init(tci: UInt16) { self.tci = tci }

        /// `vlan 100`, with `p 3` when the priority is not 0.
        public var description: String { priority == 0 ? "vlan \(id)" : "vlan \(id) p \(priority)" }
    }

    /// The Ethernet destination (`dl_dst`).
    public var destinationMAC: MACAddress { MACAddress(rawValue: dlDst) }
    /// The Ethernet source (`dl_src`).
    public var sourceMAC: MACAddress { MACAddress(rawValue: dlSrc) }

    /// The outer VLAN tag, nil when untagged.
    public var outerVLAN: VLAN? { vlanCount > 0 ? VLAN(tci: outerTCI) : nil }
    /// The inner tag of a double-tagged frame, nil otherwise.
    public var innerVLAN: VLAN? { vlanCount > 1 ? VLAN(tci: innerTCI) : nil }
    /// The outer tag's TPID (`vlan` 0x8100 or `qinq` 0x88a8), nil when untagged.
    public var outerVLANType: EtherType? { vlanCount > 0 ? EtherType(rawValue: outerTPID) : nil }
    /// The outer VLAN id, nil when untagged (`vlanID` reads 0 then, as `dl_vlan` does).
    public var taggedVLANID: UInt16? { outerVLAN?.id }

    /// The EtherType after every VLAN tag (`dl_type`), typed; nil when the frame is shorter
    /// than an Ethernet header or its tags are cut off.
    public var payloadType: EtherType? {
        error == .truncatedEthernet || error == .tooManyVLANTags ? nil : EtherType(rawValue: etherType)
    }

    /// IPv4 source, nil unless the frame is IPv4 with a valid header.
    public var ipv4Source: IPv4Address? { flags.contains(.ipv4) ? IPv4Address(rawValue: nwSrc) : nil }
    /// IPv4 destination, nil unless the frame is IPv4 with a valid header.
    public var ipv4Destination: IPv4Address? { flags.contains(.ipv4) ? IPv4Address(rawValue: nwDst) : nil }
    /// IPv6 source, nil unless the frame is IPv6 with a valid header.
    public var ipv6Source: IPv6Address? { flags.contains(.ipv6) ? IPv6Address(high: ipv6SrcHi, low: ipv6SrcLo) : nil }
    /// IPv6 destination, nil unless the frame is IPv6 with a valid header.
    public var ipv6Destination: IPv6Address? { flags.contains(.ipv6) ? IPv6Address(high: ipv6DstHi, low: ipv6DstLo) : nil }
    /// The IP protocol (IPv6: the next header after the extension headers), nil when not IP.
    public var ipProtocol: IPProtocol? { flags.contains(.ipv4) || flags.contains(.ipv6) ? IPProtocol(rawValue: nwProto) : nil }
    /// IPv4 TTL or IPv6 hop limit, nil when not IP.
    public var ttl: UInt8? { flags.contains(.ipv4) || flags.contains(.ipv6) ? nwTTL : nil }

    /// The ARP operation (1 request, 2 reply), nil unless the frame is Ethernet/IPv4 ARP.
    public var arpOperation: UInt16? { flags.contains(.arp) ? tpSrc : nil }
    /// ARP sender protocol address, nil unless ARP.
    public var arpSenderIP: IPv4Address? { flags.contains(.arp) ? IPv4Address(rawValue: nwSrc) : nil }
    /// ARP target protocol address, nil unless ARP.
    public var arpTargetIP: IPv4Address? { flags.contains(.arp) ? IPv4Address(rawValue: nwDst) : nil }

    /// TCP or UDP source port, nil for other protocols (and for later fragments).
    public var sourcePort: UInt16? { flags.contains(.tcp) || flags.contains(.udp) ? tpSrc : nil }
    /// TCP or UDP destination port, nil for other protocols (and for later fragments).
    public var destinationPort: UInt16? { flags.contains(.tcp) || flags.contains(.udp) ? tpDst : nil }
    /// The TCP control bits, nil unless the frame carries a whole TCP header.
    public var tcpControlFlags: TCPFlags? { flags.contains(.tcp) ? TCPFlags(rawValue: tcpFlags & 0x01FF) : nil }
    /// ICMP or ICMPv6 type, nil for other protocols.
    public var icmpType: UInt8? { flags.contains(.icmp) || flags.contains(.icmpv6) ? UInt8(truncatingIfNeeded: tpSrc) : nil }
    /// ICMP or ICMPv6 code, nil for other protocols.
    public var icmpCode: UInt8? { flags.contains(.icmp) || flags.contains(.icmpv6) ? UInt8(truncatingIfNeeded: tpDst) : nil }

    /// The parse stopped on a malformed frame (`error` says why).
    public var isMalformed: Bool { error != .none }
}

extension PacketMetadata: CustomStringConvertible {
    /// The frame in one line, in the manner of tcpdump -e:
    /// `fa:16:3e:00:00:01 > fa:16:3e:00:00:02, vlan 100, IPv4 10.0.0.1.5000 > 10.0.0.2.80 TCP [S]`.
    /// ARP reads `ARP request who-has 10.0.0.2 tell 10.0.0.1` or `ARP reply 10.0.0.2 to 10.0.0.1`;
    /// ICMP `ICMP type 8 code 0`; an EtherType the parse does not know `ethertype 0x88b5`; a
    /// malformed frame ends with `malformed: ` and the `ParseError`.
    public var description: String {
        var parts = ["\(sourceMAC) > \(destinationMAC)"]
        if let outer = outerVLAN { parts.append(outerTPID == 0x88A8 ? "qinq \(outer)" : "\(outer)") }
        if let inner = innerVLAN { parts.append("\(inner)") }
        if flags.contains(.arp) {
            parts.append(arpDescription)
        } else if flags.contains(.ipv4) {
            parts.append("IPv4 " + ipDescription(source: "\(IPv4Address(rawValue: nwSrc))",
                                                 destination: "\(IPv4Address(rawValue: nwDst))"))
        } else if flags.contains(.ipv6) {
            parts.append("IPv6 " + ipDescription(source: "\(IPv6Address(high: ipv6SrcHi, low: ipv6SrcLo))",
                                                 destination: "\(IPv6Address(high: ipv6DstHi, low: ipv6DstLo))"))
        } else if let type = payloadType {
            parts.append("ethertype \(type)")
        }
        if error != .none { parts.append("malformed: \(error)") }
        return parts.joined(separator: ", ")
    }

    private var arpDescription: String {
        let sender = IPv4Address(rawValue: nwSrc), target = IPv4Address(rawValue: nwDst)
        switch tpSrc {
        case 1: return "ARP request who-has \(target) tell \(sender)"
        case 2: return "ARP reply \(sender) to \(target)"
        default: return "ARP op \(tpSrc) \(sender) > \(target)"
        }
    }

    private func ipDescription(source: String, destination: String) -> String {
        let proto = IPProtocol(rawValue: nwProto)
        var text: String
        if let sourcePort, let destinationPort {
            text = "\(source).\(sourcePort) > \(destination).\(destinationPort) \(flags.contains(.tcp) ? "TCP" : "UDP")"
            if let control = tcpControlFlags { text += " [\(Self.tcpdumpFlags(control))]" }
        } else if let icmpType, let icmpCode {
            text = "\(source) > \(destination) \(flags.contains(.icmpv6) ? "ICMPv6" : "ICMP") type \(icmpType) code \(icmpCode)"
        } else {
            text = "\(source) > \(destination) \(proto)"
        }
        if flags.contains(.laterFragment) { text += " (fragment)" } else if flags.contains(.fragment) { text += " (first fragment)" }
        return text
    }

    /// tcpdump's letters for the control bits: `S` SYN, `F` FIN, `R` RST, `P` PSH, `U` URG,
    /// `E` ECE, `W` CWR, `.` ACK; `none` when no bit is set.
    private static func tcpdumpFlags(_ control: TCPFlags) -> String {
        let letters: [(TCPFlags, Character)] = [(.fin, "F"), (.syn, "S"), (.rst, "R"), (.psh, "P"), (.urg, "U"),
                                                 (.ece, "E"), (.cwr, "W"), (.ack, ".")]
        let text = String(letters.compactMap { control.contains($0.0) ? $0.1 : nil })
        return text.isEmpty ? "none" : text
    }
}
