import XDPPacket

// ICMP and ICMPv6
// ===============
//
// Queries (echo, and for ICMPv4 timestamp, information and address mask) form
// pseudo-connections keyed by identifier and type: the request's key carries the
// request type, its reverse the answer type, so an echo reply finds the echo
// request's connection in the reply direction. The connection is +new until the
// answer is seen, +est after (timeouts `icmpFirst`, `icmpReply`). An answer with no
// connection is +inv; so is any other non-error type (router/neighbour discovery,
// MLD, …), as in OVS: those are handled by flows before `ct()`.
//
// Errors (destination unreachable incl. fragmentation needed, source quench,
// redirect, time exceeded, parameter problem; ICMPv6 destination unreachable, packet
// too big, time exceeded, parameter problem) quote the IP header and at least 8 bytes
// of the packet that caused them. The quoted packet's key is looked up: when it
// belongs to a tracked connection the error is +rel (+rpl when the quoted packet went
// in the original direction, i.e. the error travels back to the originator), carries
// the connection's mark, and changes nothing. The quoted source must be the error's
// destination (OVS's check: an error about someone else's packet is forged). Anything
// else — a stray error, a quoted header cut short, an error quoting an error — is +inv.
//
// The lookup uses the reverse of the quoted key first (as OVS does): the quoted packet is
// what the error's sender saw, i.e. a packet after any translation, and its reverse is
// a key of the connection in the direction the error travels, on either side of a NAT.
// Only when that fails is the quoted key itself looked up (an untranslated packet
// quoted on its own side); such an error is never translated. A translated error gets
// its outer addresses, the quoted IP header and the quoted ports or ICMP identifier
// rewritten, with every checksum updated (Conntrack+NAT.swift).

extension ConnectionTracker {
    /// A query or answer of existing connection `e`.
    func icmpUpdate(entry e: Int, reply: Bool, now: UInt64) {
        let answered = reply || entries[e].flags & ConntrackEntry.seenReply != 0
        setTimeout(entry: e, answered ? .icmpReply : .icmpFirst, now: now)
    }

    /// An ICMP error message (`outer` has zone, family and addresses; the ICMP header
    /// and the quoted packet are `l4Length` ≥ 8 bytes at `l4`).
    /// `ip`: the frame's IP header when a translated connection's error is to be rewritten.
    func trackICMPError(key outer: ConntrackKey, l4: UnsafeMutableRawPointer, l4Length: Int, now: UInt64,
                        ip: UnsafeMutableRawPointer? = nil) -> TrackResult {
        let zone = outer.zone
        let v6 = outer.family == 6
        let quoted = l4 + 8
        let available = l4Length &- 8
        var k = ConntrackKey()
        k.zone = zone
        k.family = outer.family
        var innerL4 = quoted
        var innerAvailable = 0
        if v6 {
            guard available >= 48, quoted.loadBE8(at: 0) >> 4 == 6,
                  let walk = IPv6Header(quoted).walkExtensionHeaders(length: available), !walk.isLaterFragment,
                  walk.offset &+ 8 <= available
            else { return invalid(.icmpErrorMalformed, zone: zone) }
            k.srcHi = quoted.loadBE64(at: 8); k.srcLo = quoted.loadBE64(at: 16)
            k.dstHi = quoted.loadBE64(at: 24); k.dstLo = quoted.loadBE64(at: 32)
            k.proto = walk.nextHeader.rawValue
            innerL4 = quoted + walk.offset
            innerAvailable = available &- walk.offset
        } else {
            guard available >= 28 else { return invalid(.icmpErrorMalformed, zone: zone) }
            let versionIHL = quoted.loadBE8(at: 0)
            let headerLength = Int(versionIHL & 0x0F) &* 4
            guard versionIHL >> 4 == 4, headerLength >= 20, headerLength &+ 8 <= available,
                  quoted.loadBE16(at: 6) & 0x1FFF == 0  // a later fragment quotes no ports
            else { return invalid(.icmpErrorMalformed, zone: zone) }
            k.proto = quoted.loadBE8(at: 9)
            k.srcLo = UInt64(quoted.loadBE32(at: 12))
            k.dstLo = UInt64(quoted.loadBE32(at: 16))
            innerL4 = quoted + headerLength
            innerAvailable = available &- headerLength
        }
        guard innerAvailable >= 8, k.srcHi == outer.dstHi, k.srcLo == outer.dstLo
        else { return invalid(.icmpErrorMalformed, zone: zone) }
        if k.hasPorts {
            k.ports = innerL4.loadBE32(at: 0)
        } else if k.isICMP {
            let type = innerL4.loadBE8(at: 0)
            guard ConntrackKey.icmpAnswerType(type, v6: v6) != nil else { return invalid(.icmpErrorMalformed, zone: zone) }
            k.ports = UInt32(innerL4.loadBE16(at: 4)) << 16 | UInt32(type) << 8 | UInt32(innerL4.loadBE8(at: 1))
        }
        let r = k.reversed()
        var found = lookup(r, hash: r.hash(seed: seed))
        // The direction the error travels in (1: back to the originator, +rpl).
        var direction = found & 1
        var translatable = true
        if found < 0 {
            found = lookup(k, hash: k.hash(seed: seed))
            direction = 1 &- found & 1
            translatable = false
        }
        // An expired entry is as good as gone; the sweep or the next lookup frees it.
        guard found >= 0 else { return invalid(.icmpErrorWithoutConnection, zone: zone) }
        let e = found >> 1
        guard entries[e].expiration > now else { return invalid(.icmpErrorWithoutConnection, zone: zone) }
        var state: CTState = [.tracked, .related]
        if direction == 1 { state.insert(.reply) }
        if let ip, translatable, entries[e].flags & ConntrackEntry.natMask != 0 {
            state.formUnion(translateError(entry: e, reply: direction == 1, ip: ip, l4: l4, l4Length: l4Length,
                                           quoted: quoted, innerL4: innerL4, innerAvailable: innerAvailable,
                                           family: outer.family))
        }
        return TrackResult(state: state, mark: entries[e].mark, zone: zone, connection: UInt32(e + 1))
    }
}
