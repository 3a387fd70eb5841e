#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XDPPacket

// ICMP the router itself sends: echo replies for its addresses and the errors of RFC 1812
// §4.3.2 / RFC 792 (net and host unreachable, time exceeded, fragmentation needed, port
// and protocol unreachable for packets to the router).
//
// - An echo reply is built in place from the request: options dropped (the ICMP message
//   moves up), source = the address that was pinged, destination = the asker, TTL 64, the
//   ICMP type changed 8 → 0 with an RFC 1624 update of the checksum, then routed like any
//   packet the router sends. A request with a wrong checksum is dropped (Linux does too).
// - An error goes in a new frame from the pool: IPv4 (TOS 0xc0, TTL 64, id 0, no DF) from
//   the address of the interface it leaves by (RFC 1812 §4.3.2.4: Linux's default too),
//   quoting the offending datagram from its IP header on, as much as keeps the error
//   within 576 bytes (RFC 1812 §4.3.2.3). None about an ICMP error, a non-first
//   fragment, or a packet from a non-unicast source (§4.3.2.7), so errors never cascade.
// - Errors are rate limited by a token bucket (`icmpErrorsPerSecond`, `icmpErrorBurst`)
//   refilled from the caller's clock; a suppressed error is counted, not queued.
extension DatapathRouter {
    @inline(never)
    @usableFromInline
    func deliverLocally(address: UInt64, length: UInt32, frame: UnsafeMutableRawPointer, meta: PacketMetadata,
                        on interface: Int, now: UInt64) {
        guard !meta.flags.contains(.fragment) else { drop(address, .fragmentForRouter); return }
        if meta.flags.contains(.icmp) {
            guard meta.tpSrc == UInt16(ICMPType.echo.rawValue) else { drop(address, .notHandledLocally); return }
            echoReply(address: address, frame: frame, meta: meta, now: now)
            return
        }
        if meta.flags.contains(.udp) {
            sendError(about: frame, meta: meta, type: 3, code: ICMPType.Code.portUnreachable, now: now)
        } else if !meta.flags.contains(.tcp) {
            sendError(about: frame, meta: meta, type: 3, code: ICMPType.Code.protocolUnreachable, now: now)
        }
        drop(address, .notHandledLocally)  // TCP: Linux would answer with a RST; we have no TCP
    }

    @inline(never)
    @usableFromInline
    func echoReply(address: UInt64, frame: UnsafeMutableRawPointer, meta: PacketMetadata, now: UInt64) {
        let l3 = Int(meta.l3Offset)
        let ip = frame + l3
        let headerLength = Int(ip.loadBE8(at: 0) & 0x0F) &* 4
        let total = Int(ip.loadBE16(at: 2))
        let icmpLength = total &- headerLength  // ≥ 4: the parser found an ICMP header
        guard icmpLength >= ICMPHeader.minimumLength, Checksum.verify(ip + headerLength, length: icmpLength) else {
            drop(address, .badICMPChecksum)
            return
        }
        if headerLength > 20 { memmove(ip + 20, ip + headerLength, icmpLength) }
        let icmp = ICMPHeader(ip + 20)
        let oldWord = UInt16(icmp.type.rawValue) << 8 | UInt16(icmp.code)
        icmp.type = .echoReply
        icmp.checksum = Checksum.update(icmp.checksum, old: oldWord, new: UInt16(icmp.code))
        let replyTotal = 20 &+ icmpLength
        ip.storeBE8(0x45, at: 0)
        ip.storeBE16(UInt16(truncatingIfNeeded: replyTotal), at: 2)
        ip.storeBE16(0, at: 6)               // no fragmentation flags
        ip.storeBE16(0x4001, at: 8)          // TTL 64, ICMP
        ip.storeBE32(meta.nwDst, at: 12)     // from the address that was pinged
        ip.storeBE32(meta.nwSrc, at: 16)
        IPv4Header(ip).updateChecksum()
        count(.echoReplies)
        // Frames reaching here are untagged: l3 is 14, as `originate` expects. A short reply
        // is padded to the 60-byte Ethernet minimum, like the ARP replies.
        var replyLength = l3 &+ replyTotal
        if replyLength < 60 {
            memset(frame + replyLength, 0, 60 &- replyLength)
            replyLength = 60
        }
        originate(address: address, length: UInt32(replyLength), now: now)
    }

    /// Takes a token from the ICMP error bucket; false when it is empty.
    @inlinable
    func takeICMPToken(now: UInt64) -> Bool {
        let s = state
        if !s.pointee.refillStarted {
            s.pointee.refillStarted = true
            s.pointee.lastRefill = now
        } else if now > s.pointee.lastRefill {
            // At most 100 s of refill: rate ≤ 10^6, so the product stays below 2^64.
            let elapsed = min(now &- s.pointee.lastRefill, 100_000_000_000)
            s.pointee.tokens = min(s.pointee.tokens &+ elapsed &* icmpRate, icmpBurst &* 1_000_000_000)
            s.pointee.lastRefill = now
        }
        guard s.pointee.tokens >= 1_000_000_000 else { return false }
        s.pointee.tokens &-= 1_000_000_000
        return true
    }

    /// Sends ICMP `type`/`code` (`rest`: the header's second word, e.g. the next-hop MTU)
    /// to the source of the IPv4 datagram in `original`, when RFC 1812 allows it.
    /// Does not touch or free the original.
    @inline(never)
    @usableFromInline
    func sendError(about original: UnsafeMutableRawPointer, meta: PacketMetadata, type: UInt8, code: UInt8,
                   rest: UInt32 = 0, now: UInt64) {
        if meta.flags.contains(.icmp), !PathMTU.isICMPQuery(UInt8(truncatingIfNeeded: meta.tpSrc)) { return }
        guard !meta.flags.contains(.laterFragment), PathMTU.isUnicastHost(meta.nwSrc) else { return }
        guard let back = routeEntry(for: meta.nwSrc), back.kind == RouterRoute.kindForward else { return }
        guard takeICMPToken(now: now) else { count(.icmpErrorsRateLimited); return }
        guard let start = pool.allocate() else { counters[Self.eventSlots &+ RouterDropReason.noBuffer.rawValue] &+= 1; return }
        let address = start &+ UInt64(pool.headroom)
        let p = pool.pointer(address)
        let l3 = Int(meta.l3Offset)
        let quoted = min(Int(original.loadBE16(at: l3 &+ 2)), PathMTU.ipv4ErrorLimit &- 28)
        let total = 28 &+ quoted
        p.storeBE48(0, at: 0)                   // written by transmit
        p.storeBE48(0, at: 6)
        p.storeBE16(EtherType.ipv4.rawValue, at: 12)
        let ip = p + 14
        ip.storeBE16(0x45C0, at: 0)             // IPv4, IHL 5, precedence "internetwork control"
        ip.storeBE16(UInt16(truncatingIfNeeded: total), at: 2)
        ip.storeBE32(0, at: 4)                  // id 0, no flags
        ip.storeBE16(0x4001, at: 8)             // TTL 64, ICMP
        ip.storeBE16(0, at: 10)
        ip.storeBE32(fast[back.interface].address, at: 12)
        ip.storeBE32(meta.nwSrc, at: 16)
        IPv4Header(ip).updateChecksum()
        let icmp = ip + 20
        icmp.storeBE8(type, at: 0)
        icmp.storeBE8(code, at: 1)
        icmp.storeBE16(0, at: 2)
        icmp.storeBE32(rest, at: 4)
        memcpy(icmp + 8, original + l3, quoted)
        icmp.storeBE16(Checksum.icmpv4(icmp, length: 8 &+ quoted), at: 2)
        count(.icmpErrorsSent)
        originate(address: address, length: UInt32(14 &+ total), now: now)
    }
}
