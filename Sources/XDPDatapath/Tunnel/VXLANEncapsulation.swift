import XDPPacket

/// VXLAN (RFC 7348) over IPv4, the way Open vSwitch's `vxlan` ports frame an Ethernet
/// frame for the underlay:
///
/// ```
///  outer Ethernet (14) | IPv4 (20, DF, TTL 64, id 0) | UDP (8, → 4789) | VXLAN (8) | inner Ethernet frame
///                                                      source port from    I flag,
///                                                      the inner flow      VNI
/// ```
///
/// The outer UDP source port spreads the tunnel's flows over the underlay's ECMP paths
/// and NIC queues, as Linux's `udp_flow_src_port` does: a hash of the inner flow (its
/// addresses, protocol and ports; the MACs and EtherType when it is not IP), scrambled
/// (`hash ^= hash << 16`) and scaled into Linux's default local port range, 32768–60998.
/// The outer UDP checksum is 0, as OVS sends VXLAN over IPv4 by default (`csum=false`).
///
/// Encapsulation prepends the 50 bytes in the frame's headroom: the inner frame is never
/// moved. Decapsulation only moves the frame's start past the outer headers.
public enum VXLANEncapsulation {
    /// Bytes prepended: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
    public static let overhead = 50
    /// The lowest outer UDP source port. The range is Linux's default `ip_local_port_range`
    /// (32768 60999), which a flow hash is scaled into as `udp_flow_src_port` does.
    public static let sourcePortMinimum: UInt32 = 32768
    /// The top of the port range (60999); the scaled hash stays below it.
    public static let sourcePortMaximum: UInt32 = 60999

    /// The hash of the inner frame's flow that picks the outer UDP source port: the same
    /// for every packet of a flow (so a flow stays on one underlay path, in order), different
    /// across flows. IPv4 and IPv6 (after up to two VLAN tags): addresses, protocol, and the
    /// TCP/UDP ports when the packet carries them (not in a fragment); anything else: the
    /// MACs and EtherType. Reads at most the first 58 bytes, within `length`.
    @inlinable
    public static func flowHash(_ frame: UnsafeMutableRawPointer, length: Int) -> UInt32 {
        guard length >= 14 else { return 0 }
        var type = frame.loadBE16(at: 12)
        var l3 = 14
        while type == 0x8100 || type == 0x88A8, l3 &+ 4 <= length, l3 < 22 {
            type = frame.loadBE16(at: l3 &+ 2)
            l3 &+= 4
        }
        var a: UInt64
        var b: UInt64
        if type == 0x0800, l3 &+ 20 <= length {
            a = frame.loadBE64(at: l3 &+ 12)
            let proto = UInt64(frame.loadBE8(at: l3 &+ 9))
            let l4 = l3 &+ Int(frame.loadBE8(at: l3) & 0x0F) &* 4
            var ports: UInt64 = 0
            if proto == 6 || proto == 17, frame.loadBE16(at: l3 &+ 6) & 0x3FFF == 0, l4 &+ 4 <= length {
                ports = UInt64(frame.loadBE32(at: l4))
            }
            b = 0x0800 << 40 | ports << 8 | proto
        } else if type == 0x86DD, l3 &+ 40 <= length {
            a = frame.loadBE64(at: l3 &+ 8) ^ (frame.loadBE64(at: l3 &+ 16) &* 0x9E37_79B9_7F4A_7C15)
                ^ (frame.loadBE64(at: l3 &+ 24) &* 0xC2B2_AE3D_27D4_EB4F) ^ frame.loadBE64(at: l3 &+ 32)
            let proto = UInt64(frame.loadBE8(at: l3 &+ 6))
            var ports: UInt64 = 0
            if proto == 6 || proto == 17, l3 &+ 44 <= length { ports = UInt64(frame.loadBE32(at: l3 &+ 40)) }
            b = 0x86DD << 40 | ports << 8 | proto
        } else {
            a = frame.loadBE64(at: 0)
            b = UInt64(type) << 32 | UInt64(frame.loadBE32(at: 8))
        }
        var h = (a &* 0x9E37_79B9_7F4A_7C15) ^ b
        h ^= h >> 32
        h = h &* 0xD6E8_FEB8_6659_FD93
        h ^= h >> 32
        return UInt32(truncatingIfNeeded: h)
    }

    /// The outer UDP source port for a flow hash, as Linux's `udp_flow_src_port` computes
    /// it from `skb_get_hash`: the hash scrambled (`hash ^= hash << 16`), then scaled into
    /// `sourcePortMinimum..<sourcePortMaximum`.
    @inlinable
    public static func sourcePort(hash: UInt32) -> UInt16 {
        let h = hash ^ (hash << 16)
        let span = UInt64(sourcePortMaximum &- sourcePortMinimum)
        return UInt16(truncatingIfNeeded: UInt64(sourcePortMinimum) &+ (UInt64(h) &* span) >> 32)
    }

    /// Writes the outer headers in front of the `innerLength`-byte frame at `inner` (the
    /// caller checked the headroom) and returns the new start. `vni` keeps its low 24 bits.
    @inlinable
    public static func encapsulate(inner: UnsafeMutableRawPointer, innerLength: Int, vni: UInt32, sourcePort: UInt16,
                                   destinationPort: UInt16 = VXLANHeader.defaultPort,
                                   endpoint: GREEncapsulation.Endpoint) -> UnsafeMutableRawPointer {
        let start = inner - overhead
        endpoint.writeOuterHeaders(at: start, protocol: 17, ipLength: overhead &- 14 &+ innerLength)
        // UDP, checksum 0 (not computed: RFC 768 over IPv4, RFC 7348 §5).
        let udp = start + 34
        udp.storeBE16(sourcePort, at: 0)
        udp.storeBE16(destinationPort, at: 2)
        udp.storeBE16(UInt16(truncatingIfNeeded: 16 &+ innerLength), at: 4)
        udp.storeBE16(0, at: 6)
        // VXLAN: the I flag, the VNI, reserved zero.
        udp.storeBE32(VXLANHeader.validVNIFlag, at: 8)
        udp.storeBE32((vni & VXLANHeader.maximumVNI) << 8, at: 12)
        return start
    }

    /// What a VXLAN packet to us carried.
    public struct Decapsulated: Sendable, Equatable {
        /// Offset of the inner Ethernet frame from the outer frame's start.
        public var innerOffset: Int
        /// Length of the inner Ethernet frame (the UDP payload less the VXLAN header).
        public var innerLength: Int
        /// The VNI (24 bits), as the packet carried it.
        public var vni: UInt32
        /// The outer IPv4 source: the tunnel's remote end.
        public var remoteIP: IPv4Address
        /// Records a decapsulation result.
        @inlinable public init(innerOffset: Int, innerLength: Int, vni: UInt32, remoteIP: IPv4Address) {
            self.innerOffset = innerOffset
            self.innerLength = innerLength
            self.vni = vni
            self.remoteIP = remoteIP
        }
    }

    /// Why a VXLAN packet was refused.
    public enum Refusal: Sendable, Equatable {
        /// The I flag clear, another flag set, or a reserved field not zero (Linux's
        /// `vxlan_rcv` and OVS's `netdev_vxlan_pop_header` drop these).
        case badFlags
        /// The UDP length too short for the VXLAN header and an inner Ethernet header, or a
        /// non-zero UDP checksum that is wrong.
        case malformed
    }

    /// `Refusal` as an `Error` for `Result`.
    public struct RefusalError: Error, Sendable, Equatable {
        /// Why the packet was refused.
        public var refusal: Refusal
        /// Wraps `refusal`.
        @inlinable public init(_ refusal: Refusal) { self.refusal = refusal }
    }

    /// Validates the UDP and VXLAN headers of a parsed IPv4/UDP frame (`meta.flags` has
    /// `.udp`; the parser checked that the UDP length lies within the IPv4 packet). As
    /// Linux's `udp_rcv` the datagram ends where the UDP length says (bytes after it are
    /// ignored); a UDP checksum is verified when it is not 0.
    @inlinable
    public static func decapsulate(_ frame: UnsafeMutableRawPointer, length: Int,
                                   meta: PacketMetadata) -> Result<Decapsulated, RefusalError> {
        let l4 = Int(meta.l4Offset)
        let udpLength = Int(frame.loadBE16(at: l4 &+ 4))
        guard udpLength >= 8 &+ VXLANHeader.length, l4 &+ udpLength <= length else { return .failure(RefusalError(.malformed)) }
        if frame.loadBE16(at: l4 &+ 6) != 0 {
            let pseudo = Checksum.pseudoHeaderSum(source: IPv4Address(rawValue: meta.nwSrc), destination: IPv4Address(rawValue: meta.nwDst),
                                                  protocol: .udp, length: udpLength)
            guard Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: frame + l4, length: udpLength) else {
                return .failure(RefusalError(.malformed))
            }
        }
        let header = VXLANHeader(frame + (l4 &+ 8))
        guard header.isPlain else { return .failure(RefusalError(.badFlags)) }
        let inner = l4 &+ 8 &+ VXLANHeader.length
        guard udpLength &- 8 &- VXLANHeader.length >= 14 else { return .failure(RefusalError(.malformed)) }
        return .success(Decapsulated(innerOffset: inner, innerLength: udpLength &- 8 &- VXLANHeader.length,
                                     vni: header.vni, remoteIP: IPv4Address(rawValue: meta.nwSrc)))
    }
}
