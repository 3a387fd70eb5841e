import XDPPacket

/// One direction of a connection: zone, address family, protocol, addresses and the
/// L4 identifiers. A connection is stored under two keys, the original direction and
/// the reply direction (`reversed()`), so a packet in either direction finds it with
/// one lookup.
///
/// The L4 identifiers live in `ports`:
///
/// | protocol | `ports` |
/// |---|---|
/// | TCP, UDP, SCTP, UDP-Lite, DCCP | source port << 16 \| destination port |
/// | ICMP / ICMPv6 queries (echo, timestamp, …) | identifier << 16 \| type << 8 \| code |
/// | anything else | 0: the connection is the address pair |
///
/// IPv4 addresses sit in `srcLo`/`dstLo` (host order) with the high words 0; IPv6
/// addresses fill both words. The key is 40 bytes of plain data: compared and hashed
/// word by word, never allocated.
@frozen
public struct ConntrackKey: Hashable, Sendable {
    /// Source address, first 64 bits (IPv6); 0 for IPv4. Host order.
    public var srcHi: UInt64
    /// Source address, last 64 bits (IPv6), or the IPv4 address in the low 32 bits. Host order.
    public var srcLo: UInt64
    /// Destination address, first 64 bits (IPv6); 0 for IPv4. Host order.
    public var dstHi: UInt64
    /// Destination address, last 64 bits (IPv6), or the IPv4 address in the low 32 bits. Host order.
    public var dstLo: UInt64
    /// Ports, or ICMP identifier/type/code (see the table above).
    public var ports: UInt32
    /// The conntrack zone (`ct(zone=N)`).
    public var zone: UInt16
    /// IP protocol number (`nw_proto`).
    public var proto: UInt8
    /// 4 or 6.
    public var family: UInt8

    /// An all-zero key (family 0: matches nothing that was tracked).
    @inlinable
    public init() {
        srcHi = 0; srcLo = 0; dstHi = 0; dstLo = 0; ports = 0; zone = 0; proto = 0; family = 0
    }

    /// An IPv4 key for TCP, UDP or another protocol (ports 0 for protocols without them).
    public static func ipv4(zone: UInt16 = 0, source: IPv4Address, destination: IPv4Address, proto: UInt8,
                            sourcePort: UInt16 = 0, destinationPort: UInt16 = 0) -> ConntrackKey {
        var k = ConntrackKey()
        k.family = 4; k.zone = zone; k.proto = proto
        k.srcLo = UInt64(source.rawValue); k.dstLo = UInt64(destination.rawValue)
        k.ports = UInt32(sourcePort) << 16 | UInt32(destinationPort)
        return k
    }

    /// An IPv6 key for TCP, UDP or another protocol.
    public static func ipv6(zone: UInt16 = 0, source: IPv6Address, destination: IPv6Address, proto: UInt8,
                            sourcePort: UInt16 = 0, destinationPort: UInt16 = 0) -> ConntrackKey {
        var k = ConntrackKey()
        k.family = 6; k.zone = zone; k.proto = proto
        k.srcHi = source.high; k.srcLo = source.low; k.dstHi = destination.high; k.dstLo = destination.low
        k.ports = UInt32(sourcePort) << 16 | UInt32(destinationPort)
        return k
    }

    /// An ICMPv4 query key (echo request: type 8, code 0).
    public static func icmp(zone: UInt16 = 0, source: IPv4Address, destination: IPv4Address,
                            id: UInt16, type: UInt8 = 8, code: UInt8 = 0) -> ConntrackKey {
        var k = ipv4(zone: zone, source: source, destination: destination, proto: 1)
        k.ports = UInt32(id) << 16 | UInt32(type) << 8 | UInt32(code)
        return k
    }

    /// An ICMPv6 query key (echo request: type 128, code 0).
    public static func icmpv6(zone: UInt16 = 0, source: IPv6Address, destination: IPv6Address,
                              id: UInt16, type: UInt8 = 128, code: UInt8 = 0) -> ConntrackKey {
        var k = ipv6(zone: zone, source: source, destination: destination, proto: 58)
        k.ports = UInt32(id) << 16 | UInt32(type) << 8 | UInt32(code)
        return k
    }

    /// True for ICMP (v4 key, protocol 1) and ICMPv6 (v6 key, protocol 58).
    @inlinable
    public var isICMP: Bool { (family == 4 && proto == 1) || (family == 6 && proto == 58) }

    /// True for the protocols whose key carries ports.
    @inlinable
    public var hasPorts: Bool {
        switch proto {
        case 6, 17, 33, 132, 136: true  // TCP, UDP, DCCP, SCTP, UDP-Lite
        default: false
        }
    }

    /// The source port; meaningful only when `hasPorts`.
    public var sourcePort: UInt16 { UInt16(truncatingIfNeeded: ports >> 16) }
    /// The destination port; meaningful only when `hasPorts`.
    public var destinationPort: UInt16 { UInt16(truncatingIfNeeded: ports) }
    /// The ICMP query identifier; meaningful only for ICMP/ICMPv6 keys.
    public var icmpID: UInt16 { UInt16(truncatingIfNeeded: ports >> 16) }
    /// The ICMP type of this direction (a request's or its answer's); ICMP keys only.
    public var icmpType: UInt8 { UInt8(truncatingIfNeeded: ports >> 8) }
    /// The ICMP code; ICMP keys only.
    public var icmpCode: UInt8 { UInt8(truncatingIfNeeded: ports) }

    /// The key of the other direction: addresses and ports swapped; an ICMP query's
    /// type becomes its answer's (echo request 8 ↔ echo reply 0, ICMPv6 128 ↔ 129).
    @inlinable
    public func reversed() -> ConntrackKey {
        var r = self
        r.srcHi = dstHi; r.srcLo = dstLo; r.dstHi = srcHi; r.dstLo = srcLo
        if isICMP {
            let answer = ConntrackKey.icmpAnswerType(icmpType, v6: family == 6) ?? icmpType
            r.ports = ports & 0xFFFF_00FF | UInt32(answer) << 8
        } else {
            r.ports = ports << 16 | ports >> 16
        }
        return r
    }

    /// The type that answers ICMP query type `type` (and the query type of an answer),
    /// nil for types that are not queries or answers: RFC 792 echo 8/0, timestamp 13/14,
    /// information 15/16, RFC 950 address mask 17/18; RFC 4443 echo 128/129.
    @inlinable
    public static func icmpAnswerType(_ type: UInt8, v6: Bool) -> UInt8? {
        if v6 {
            switch type {
            case 128: return 129
            case 129: return 128
            default: return nil
            }
        }
        switch type {
        case 8: return 0
        case 0: return 8
        case 13, 15, 17: return type &+ 1
        case 14, 16, 18: return type &- 1
        default: return nil
        }
    }

    /// True for the query types that may open an ICMP pseudo-connection.
    @inlinable
    public static func isICMPQuery(_ type: UInt8, v6: Bool) -> Bool {
        v6 ? type == 128 : (type == 8 || type == 13 || type == 15 || type == 17)
    }

    /// True for the ICMP error types that quote the packet that caused them: v4
    /// destination unreachable 3, source quench 4, redirect 5, time exceeded 11,
    /// parameter problem 12; v6 destination unreachable 1, packet too big 2, time
    /// exceeded 3, parameter problem 4.
    @inlinable
    public static func isICMPError(_ type: UInt8, v6: Bool) -> Bool {
        v6 ? (type >= 1 && type <= 4) : (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
    }

    /// The table hash: each word times its own odd constant (independent multiplies),
    /// summed with the seed, then one avalanche round. Different constants for source
    /// and destination make a key and its reverse hash apart.
    @inlinable @inline(__always)
    func hash(seed: UInt64) -> UInt64 {
        var h = seed
        h &+= srcHi &* 0x9E37_79B9_7F4A_7C15
        h &+= srcLo &* 0xC2B2_AE3D_27D4_EB4F
        h &+= dstHi &* 0x1656_67B1_9E37_79F9
        h &+= dstLo &* 0x85EB_CA77_C2B2_AE63
        let tail = UInt64(ports) | UInt64(zone) << 32 | UInt64(proto) << 48 | UInt64(family) << 56
        h &+= tail &* 0x27D4_EB2F_1656_67C5
        h ^= h >> 32
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 29
        return h
    }
}

extension ConntrackKey: CustomStringConvertible {
    /// The tuple as `ovs-appctl dpctl/dump-conntrack` prints it inside `orig=(...)`:
    /// `src=A,dst=B,sport=P,dport=Q` or, for ICMP, `src=A,dst=B,id=I,type=T,code=C`.
    public var description: String {
        var s = "src=" + Self.formatAddress(hi: srcHi, lo: srcLo, family: family)
        s += ",dst=" + Self.formatAddress(hi: dstHi, lo: dstLo, family: family)
        if isICMP {
            s += ",id=\(icmpID),type=\(icmpType),code=\(icmpCode)"
        } else {
            s += ",sport=\(sourcePort),dport=\(destinationPort)"
        }
        return s
    }

    static func formatAddress(hi: UInt64, lo: UInt64, family: UInt8) -> String {
        family == 6 ? IPv6Address(high: hi, low: lo).description
            : IPv4Address(rawValue: UInt32(truncatingIfNeeded: lo)).description
    }
}
