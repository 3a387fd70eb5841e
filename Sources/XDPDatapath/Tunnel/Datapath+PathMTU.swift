#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// Path MTU discovery through a tunnel.
//
// A frame output to a `gre` port that would exceed the underlay MTU once encapsulated is
// dropped (`tunnel-mtu-exceeded` on the gre port). A bridge has no address of its own
// in the tenant network, so to tell the sender we do what Linux does for L2 tunnels in
// a bridge (`skb_tunnel_check_pmtu`, net/ipv4/ip_tunnel_core.c): build the ICMP error
// as if the *destination* had sent it — Ethernet source = the original destination MAC,
// IP source = the original destination address — keep the frame's VLAN tags as they
// are, and let it enter the tunnel's bridge as if it had been received on the gre port
// (with the same tun_id). NORMAL (or the bridge's flows) then carries it back to the
// sender exactly like a reply from the far side, in the right VLAN, through patch ports.
//
// - IPv4 with DF: ICMP destination unreachable / fragmentation needed (type 3 code 4,
//   RFC 1191) with the next-hop MTU = what the inner IP packet may be: underlay MTU −
//   outer IPv4 (20) − GRE (4 or 8) − the inner frame's Ethernet header and tags. The
//   quote is as much of the original datagram as keeps the error within 576 bytes
//   (RFC 1812 §4.3.2.3). Without DF nothing is sent (we do not fragment: counted only).
// - IPv6: ICMPv6 packet too big (type 2, RFC 4443 §3.2, RFC 8201) with the same MTU
//   arithmetic, quoting as much as keeps the error within 1280 bytes. Not sent when
//   that MTU is below 1280 (an IPv6 link must carry 1280; a smaller value would be
//   ignored by the sender anyway).
// - Never in answer to an ICMP/ICMPv6 error, a non-first fragment, or a packet whose
//   source is not a unicast host (RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e)). So an error
//   can never cause another one, and the re-entry is at most one level deep.
//
// This is a cold path (`@inline(never)`): it parses the frame again and takes one frame
// from the pool; no heap allocation. When the pool is empty the error is not sent
// (`no-buffer` counted on the gre port).
extension Datapath {
    /// Drops the too-big frame at `address` (counted on the gre port `outID`) and, when the
    /// rules above allow, enters an ICMP error for its sender into that port's bridge.
    @inline(never)
    @usableFromInline
    func refuseTooBig(address: UInt64, length: UInt32, outID: PortID, overhead: Int, mtu: Int,
                      tunnelID: UInt64, now: UInt64, depth: Int) {
        let out = portTable[outID.index].takeUnretainedValue()
        let frame = pool.pointer(address)
        var meta = PacketMetadata()
        let parsed = PacketParser.parse(frame, length: Int(length), into: &meta)
        var error: (address: UInt64, length: UInt32)?
        if parsed, depth < Datapath.maximumPatchDepth, meta.dlSrc & 0x0100_0000_0000 == 0 {
            // What the inner IP packet may be: the outer IPv4 and GRE headers, and the
            // inner frame's own Ethernet header and tags, come out of the underlay MTU.
            let innerMTU = mtu &- (overhead &- 14) &- Int(meta.l3Offset)
            if meta.flags.contains(.ipv4) {
                error = fragmentationNeeded(frame, meta: meta, innerMTU: innerMTU, on: out)
            } else if meta.flags.contains(.ipv6) {
                error = packetTooBig(frame, meta: meta, innerMTU: innerMTU, on: out)
            }
        }
        drop(address, reason: .tunnelMTUExceeded, on: out)
        guard let error else { return }
        underlay?.pathMTUErrors &+= 1
        ingress(address: error.address, length: error.length, port: out.id, now: now, depth: depth &+ 1, tunnelID: tunnelID)
    }

    @inline(never)
    @usableFromInline
    func fragmentationNeeded(_ frame: UnsafeMutableRawPointer, meta: PacketMetadata, innerMTU: Int,
                             on out: DatapathPort) -> (address: UInt64, length: UInt32)? {
        let l3 = Int(meta.l3Offset)
        let fragment = frame.loadBE16(at: l3 &+ 6)
        guard fragment & 0x4000 != 0, fragment & 0x1FFF == 0 else { return nil }      // DF, first fragment
        if meta.flags.contains(.icmp), !PathMTU.isICMPQuery(UInt8(truncatingIfNeeded: meta.tpSrc)) { return nil }
        guard PathMTU.isUnicastHost(meta.nwSrc), PathMTU.isUnicastHost(meta.nwDst), innerMTU >= 68 else { return nil }
        guard let new = pool.allocate() else { out.counters.dropped(.noBuffer); return nil }
        let address = new &+ UInt64(pool.headroom)
        let length = PathMTU.writeFragmentationNeeded(into: pool.pointer(address), original: frame, l3Offset: l3,
                                                      mtu: UInt16(clamping: innerMTU))
        return (address, UInt32(length))
    }

    @inline(never)
    @usableFromInline
    func packetTooBig(_ frame: UnsafeMutableRawPointer, meta: PacketMetadata, innerMTU: Int,
                      on out: DatapathPort) -> (address: UInt64, length: UInt32)? {
        if meta.flags.contains(.icmpv6), meta.tpSrc < 128 { return nil }                 // an ICMPv6 error
        if meta.flags.contains(.laterFragment) { return nil }
        guard innerMTU >= 1280,
              meta.ipv6SrcHi >> 56 != 0xFF, meta.ipv6SrcHi | meta.ipv6SrcLo != 0,        // multicast, unspecified
              meta.ipv6DstHi >> 56 != 0xFF else { return nil }
        guard let new = pool.allocate() else { out.counters.dropped(.noBuffer); return nil }
        let address = new &+ UInt64(pool.headroom)
        let length = PathMTU.writePacketTooBig(into: pool.pointer(address), original: frame, l3Offset: Int(meta.l3Offset),
                                               mtu: UInt32(innerMTU))
        return (address, UInt32(length))
    }
}

/// Builders of the ICMP errors path MTU discovery needs, over raw frame memory.
public enum PathMTU {
    /// ICMP errors quote the original datagram so that the whole IPv4 error stays within
    /// 576 bytes (RFC 1812 §4.3.2.3).
    public static let ipv4ErrorLimit = 576
    /// ICMPv6 errors stay within the IPv6 minimum MTU (RFC 4443 §2.4 (c)).
    public static let ipv6ErrorLimit = 1280

    /// ICMP types that are queries (echo, timestamp, information, address mask): errors
    /// may answer them; every other type is an error and gets no error back.
    @inlinable
    public static func isICMPQuery(_ type: UInt8) -> Bool {
        switch type {
        case 0, 8, 13, 14, 15, 16, 17, 18: true
        default: false
        }
    }

    /// Not 0.0.0.0/8, loopback, multicast, class E or limited broadcast.
    @inlinable
    public static func isUnicastHost(_ address: UInt32) -> Bool {
        let first = address >> 24
        return first != 0 && first != 127 && first < 224
    }

    /// Writes, at `p`, an ICMP fragmentation-needed error answering the IPv4 frame
    /// `original` (its L3 header at `l3Offset`): Ethernet addresses swapped, the
    /// original's tags and EtherType kept, IP addresses swapped. Returns its length.
    @inlinable
    public static func writeFragmentationNeeded(into p: UnsafeMutableRawPointer, original: UnsafeMutableRawPointer,
                                                l3Offset l3: Int, mtu: UInt16) -> Int {
        p.storeBE48(original.loadBE48(at: 6), at: 0)
        p.storeBE48(original.loadBE48(at: 0), at: 6)
        memcpy(p + 12, original + 12, l3 &- 12)  // tags and the IPv4 EtherType
        let ip = p + l3
        let quoted = min(Int(original.loadBE16(at: l3 &+ 2)), ipv4ErrorLimit &- 28)
        let total = 28 &+ quoted
        ip.storeBE16(0x4500, at: 0)
        ip.storeBE16(UInt16(truncatingIfNeeded: total), at: 2)
        ip.storeBE32(0x0000_4000, at: 4)            // id 0, DF
        ip.storeBE16(0x4001, at: 8)                 // TTL 64, ICMP
        ip.storeBE16(0, at: 10)
        ip.storeBE32(original.loadBE32(at: l3 &+ 16), at: 12)
        ip.storeBE32(original.loadBE32(at: l3 &+ 12), at: 16)
        ip.storeBE16(Checksum.ipv4Header(ip, headerLength: 20), at: 10)
        let icmp = ip + 20
        icmp.storeBE16(0x0304, at: 0)               // destination unreachable, fragmentation needed
        icmp.storeBE16(0, at: 2)
        icmp.storeBE16(0, at: 4)
        icmp.storeBE16(mtu, at: 6)                  // next-hop MTU (RFC 1191)
        memcpy(icmp + 8, original + l3, quoted)
        icmp.storeBE16(Checksum.icmpv4(icmp, length: 8 &+ quoted), at: 2)
        return l3 &+ total
    }

    /// Writes, at `p`, an ICMPv6 packet-too-big error answering the IPv6 frame
    /// `original`. Returns its length.
    @inlinable
    public static func writePacketTooBig(into p: UnsafeMutableRawPointer, original: UnsafeMutableRawPointer,
                                         l3Offset l3: Int, mtu: UInt32) -> Int {
        p.storeBE48(original.loadBE48(at: 6), at: 0)
        p.storeBE48(original.loadBE48(at: 0), at: 6)
        memcpy(p + 12, original + 12, l3 &- 12)
        let ip = p + l3
        let quoted = min(40 &+ Int(original.loadBE16(at: l3 &+ 4)), ipv6ErrorLimit &- 48)
        let source = IPv6Address(loadingFrom: original, at: l3 &+ 24)
        let destination = IPv6Address(loadingFrom: original, at: l3 &+ 8)
        ip.storeBE32(0x6000_0000, at: 0)
        ip.storeBE16(UInt16(truncatingIfNeeded: 8 &+ quoted), at: 4)
        ip.storeBE8(58, at: 6)                       // ICMPv6
        ip.storeBE8(64, at: 7)
        source.store(to: ip, at: 8)
        destination.store(to: ip, at: 24)
        let icmp = ip + 40
        icmp.storeBE16(0x0200, at: 0)               // packet too big, code 0
        icmp.storeBE16(0, at: 2)
        icmp.storeBE32(mtu, at: 4)
        memcpy(icmp + 8, original + l3, quoted)
        icmp.storeBE16(Checksum.icmpv6(source: source, destination: destination, message: icmp, length: 8 &+ quoted), at: 2)
        return l3 &+ 48 &+ quoted
    }
}
