/// Builds whole frames, outermost layer first, for tests, fixtures and the load generator.
///
/// ```swift
/// let frame = FrameBuilder()
///     .ethernet(source: hostA, destination: hostB)
///     .vlan(vid: 100, pcp: 5)
///     .ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), ttl: 64)
///     .udp(sourcePort: 5000, destinationPort: 53)
///     .payload([0xde, 0xad])
///     .build()
/// ```
///
/// Each call appends a layer to a value (the builder is a value type: a partly built
/// stack can be kept and extended twice). `build()` serializes from the innermost layer
/// outwards, so every length field (IPv4 total length, IPv6 payload length, UDP length)
/// and every checksum (IPv4 header, TCP, UDP, ICMP, ICMPv6 with the enclosing IP's
/// pseudo-header, GRE when asked for) comes out right. Type fields that name the next
/// layer (EtherType, VLAN encapsulated type, IP protocol, GRE protocol type) are filled
/// in from the layer that follows unless given explicitly; a VLAN layer's TPID is written
/// by the layer before it.
///
/// This allocates freely; it is not for the per-packet path.
public struct FrameBuilder: Sendable {
    enum Layer: Sendable {
        case ethernet(destination: MACAddress, source: MACAddress, type: EtherType?)
        case vlan(tpid: EtherType, tci: UInt16, type: EtherType?)
        case arp(operation: ARPOperation, senderMAC: MACAddress, senderIP: IPv4Address,
                 targetMAC: MACAddress, targetIP: IPv4Address)
        case ipv4(IPv4Fields)
        case ipv6(IPv6Fields)
        case udp(sourcePort: UInt16, destinationPort: UInt16, checksum: Bool)
        case tcp(TCPFields)
        case icmp(type: ICMPType, code: UInt8, rest: UInt32)
        case icmpv6(type: ICMPv6Type, code: UInt8, rest: UInt32)
        case gre(GREFields)
        case vxlan(flags: UInt32, vni: UInt32, reserved: UInt8)
        case payload([UInt8])
    }

    struct IPv4Fields: Sendable {
        var source: IPv4Address, destination: IPv4Address
        var ttl: UInt8, identification: UInt16, tos: UInt8
        var dontFragment: Bool, moreFragments: Bool, fragmentOffset: UInt16
        var options: [UInt8], protocolNumber: IPProtocol?
    }

    struct IPv6Fields: Sendable {
        var source: IPv6Address, destination: IPv6Address
        var hopLimit: UInt8, trafficClass: UInt8, flowLabel: UInt32
        var nextHeader: IPProtocol?
    }

    struct TCPFields: Sendable {
        var sourcePort: UInt16, destinationPort: UInt16
        var sequence: UInt32, acknowledgment: UInt32
        var flags: TCPFlags, window: UInt16, urgentPointer: UInt16, options: [UInt8]
    }

    struct GREFields: Sendable {
        var key: UInt32?, checksum: Bool, sequence: UInt32?
        var protocolType: EtherType?
        var reservedBits: UInt16, version: UInt8
    }

    var layers: [Layer] = []

    /// An empty stack.
    public init() {}

    func appending(_ layer: Layer) -> FrameBuilder {
        var copy = self
        copy.layers.append(layer)
        return copy
    }

    // MARK: L2

    /// An Ethernet II header. `type` defaults to what the next layer needs (a VLAN TPID,
    /// IPv4, IPv6, ARP), or 0 when nothing follows but payload.
    public func ethernet(source: MACAddress, destination: MACAddress, type: EtherType? = nil) -> FrameBuilder {
        appending(.ethernet(destination: destination, source: source, type: type))
    }

    /// A VLAN tag: the layer before writes `tpid` (0x8100 for 802.1Q, 0x88a8 for an
    /// 802.1ad S-tag) as its type, this layer writes the TCI and the next type.
    public func vlan(vid: UInt16, pcp: UInt8 = 0, dei: Bool = false, tpid: EtherType = .vlan,
                     type: EtherType? = nil) -> FrameBuilder {
        appending(.vlan(tpid: tpid, tci: VLANTag.tci(pcp: pcp, dei: dei, vid: vid), type: type))
    }

    /// Two tags (QinQ): an 802.1ad S-tag (`outerTPID`, 0x88a8 by default) with `outerVID`,
    /// then an 802.1Q C-tag with `innerVID`.
    public func qinq(outerVID: UInt16, innerVID: UInt16, outerPCP: UInt8 = 0, innerPCP: UInt8 = 0,
                     outerTPID: EtherType = .qinq) -> FrameBuilder {
        vlan(vid: outerVID, pcp: outerPCP, tpid: outerTPID).vlan(vid: innerVID, pcp: innerPCP)
    }

    /// An Ethernet/IPv4 ARP packet (RFC 826).
    public func arp(operation: ARPOperation, senderMAC: MACAddress, senderIP: IPv4Address,
                    targetMAC: MACAddress = .zero, targetIP: IPv4Address) -> FrameBuilder {
        appending(.arp(operation: operation, senderMAC: senderMAC, senderIP: senderIP,
                       targetMAC: targetMAC, targetIP: targetIP))
    }

    // MARK: L3

    /// An IPv4 header. `options` are padded with zeros (End of Option List) to a multiple
    /// of 4 bytes and must not exceed 40. `protocolNumber` defaults to the next layer's.
    public func ipv4(source: IPv4Address, destination: IPv4Address, ttl: UInt8 = 64,
                     identification: UInt16 = 1, tos: UInt8 = 0, dontFragment: Bool = false,
                     moreFragments: Bool = false, fragmentOffset: UInt16 = 0,
                     options: [UInt8] = [], protocolNumber: IPProtocol? = nil) -> FrameBuilder {
        precondition(options.count <= 40, "IPv4 options are at most 40 bytes")
        return appending(.ipv4(IPv4Fields(source: source, destination: destination, ttl: ttl,
                                          identification: identification, tos: tos,
                                          dontFragment: dontFragment, moreFragments: moreFragments,
                                          fragmentOffset: fragmentOffset, options: options,
                                          protocolNumber: protocolNumber)))
    }

    /// An IPv6 fixed header (no extension headers). `nextHeader` defaults to the next layer's.
    public func ipv6(source: IPv6Address, destination: IPv6Address, hopLimit: UInt8 = 64,
                     trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, nextHeader: IPProtocol? = nil) -> FrameBuilder {
        appending(.ipv6(IPv6Fields(source: source, destination: destination, hopLimit: hopLimit,
                                   trafficClass: trafficClass, flowLabel: flowLabel, nextHeader: nextHeader)))
    }

    // MARK: L4

    /// A UDP header; the checksum is computed over the enclosing IP's pseudo-header unless
    /// `checksum` is false (then 0: "none", valid over IPv4 only).
    public func udp(sourcePort: UInt16, destinationPort: UInt16, checksum: Bool = true) -> FrameBuilder {
        appending(.udp(sourcePort: sourcePort, destinationPort: destinationPort, checksum: checksum))
    }

    /// A TCP header. `options` are padded with zeros to a multiple of 4, at most 40 bytes.
    public func tcp(sourcePort: UInt16, destinationPort: UInt16, sequence: UInt32 = 0,
                    acknowledgment: UInt32 = 0, flags: TCPFlags = .syn, window: UInt16 = 8192,
                    urgentPointer: UInt16 = 0, options: [UInt8] = []) -> FrameBuilder {
        precondition(options.count <= 40, "TCP options are at most 40 bytes")
        return appending(.tcp(TCPFields(sourcePort: sourcePort, destinationPort: destinationPort,
                                        sequence: sequence, acknowledgment: acknowledgment, flags: flags,
                                        window: window, urgentPointer: urgentPointer, options: options)))
    }

    /// An ICMPv4 echo request (or reply) header; add the echo data with `payload`.
    public func icmpEcho(identifier: UInt16, sequence: UInt16, reply: Bool = false) -> FrameBuilder {
        icmp(type: reply ? .echoReply : .echo, code: 0, rest: UInt32(identifier) << 16 | UInt32(sequence))
    }

    /// Any ICMPv4 header: type, code and the second 32-bit word.
    public func icmp(type: ICMPType, code: UInt8, rest: UInt32 = 0) -> FrameBuilder {
        appending(.icmp(type: type, code: code, rest: rest))
    }

    /// An ICMPv6 echo request (or reply) header.
    public func icmpv6Echo(identifier: UInt16, sequence: UInt16, reply: Bool = false) -> FrameBuilder {
        icmpv6(type: reply ? .echoReply : .echo, code: 0, rest: UInt32(identifier) << 16 | UInt32(sequence))
    }

    /// Any ICMPv6 header: type, code and the second 32-bit word.
    public func icmpv6(type: ICMPv6Type, code: UInt8, rest: UInt32 = 0) -> FrameBuilder {
        appending(.icmpv6(type: type, code: code, rest: rest))
    }

    /// A GRE header (RFC 2784/2890): a key (K) and sequence number (S) when given, a
    /// checksum over header and payload (C) when `checksum` is true. `protocolType`
    /// defaults from the next layer: 0x6558 before an Ethernet frame, 0x0800 before IPv4.
    /// `reservedBits` and `version` exist to build non-conforming headers for tests.
    public func gre(key: UInt32? = nil, checksum: Bool = false, sequence: UInt32? = nil,
                    protocolType: EtherType? = nil, reservedBits: UInt16 = 0, version: UInt8 = 0) -> FrameBuilder {
        appending(.gre(GREFields(key: key, checksum: checksum, sequence: sequence, protocolType: protocolType,
                                 reservedBits: reservedBits, version: version)))
    }

    /// A VXLAN header (RFC 7348): `flags` is the first 32-bit word (the I flag alone by
    /// default), `vni` the 24-bit network identifier; `reserved` (the last byte) exists to
    /// build non-conforming headers for tests. Put it after `.udp(...)` to port 4789.
    public func vxlan(vni: UInt32, flags: UInt32 = VXLANHeader.validVNIFlag, reserved: UInt8 = 0) -> FrameBuilder {
        appending(.vxlan(flags: flags, vni: vni, reserved: reserved))
    }

    // MARK: Payload

    /// Raw bytes at the end of the stack.
    public func payload(_ bytes: [UInt8]) -> FrameBuilder {
        appending(.payload(bytes))
    }

    /// `count` bytes counting up from 0 (mod 256), a recognisable pattern for load tests.
    public func payload(count: Int) -> FrameBuilder {
        payload((0..<count).map { UInt8(truncatingIfNeeded: $0) })
    }
}
