import XDPPacket

// NAT on top of the connection tracker
// ====================================
//
// A connection may carry a translation. Its original key is the packet as the
// originator sent it; its reply key is what replies look like *on the wire*, so for a
// translated connection the reply key is not the reverse of the original:
//
//   SNAT  10.1.0.5:40000 → 8.8.8.8:53 as 172.24.4.227:40000
//         orig=(src=10.1.0.5,dst=8.8.8.8,sport=40000,dport=53)
//         reply=(src=8.8.8.8,dst=172.24.4.227,sport=53,dport=40000)     reply dst = translated source
//   DNAT  172.24.4.225:5000 → 172.24.4.228:22 to 10.1.0.5:22
//         orig=(src=172.24.4.225,dst=172.24.4.228,sport=5000,dport=22)
//         reply=(src=10.1.0.5,dst=172.24.4.225,sport=22,dport=5000)    reply src = translated destination
//
// Both keys are indexed (two slots per connection, as without NAT), so a packet in
// either direction finds its connection with one lookup, and what it must become is
// the reverse of the *other* direction's key: an original-direction packet is
// rewritten to `reply.reversed()`, a reply-direction packet to `original.reversed()`.
// Nothing but two flag bits is stored beyond the keys.
//
// Committing with a NAT request (`ConntrackNAT`, OVS `nat(src=IP[-IP][:P[-P]])` /
// `nat(dst=…)`; the router asks for both at once for hairpin traffic) chooses the
// translated tuple: the destination from its range (first address by hash, the port
// kept or taken from its range), then the source address and port. A candidate is
// taken only when its reply key is in no live connection of the zone (an expired one
// in the way is freed), so a live tuple is never reused. The source keeps its own port
// (ICMP: query identifier) when that is in the range and free, as Linux does; else
// ports are tried in order from a hashed start. Without a port range the fallback is
// 1024–65535. At most `natProbeLimit` candidates are tried (a full scan of small ranges;
// Linux tries far fewer); none free: the commit is refused, counted `nat-exhausted`,
// and the packet's disposition is `.drop`.
//
// Rewriting is in place and incremental (RFC 1624, `Checksum.update`): addresses (IPv4
// header checksum, and the TCP/UDP/UDP-Lite/DCCP/ICMPv6 pseudo-header sums), ports or
// the ICMP identifier (L4 checksum). A UDP checksum of 0 ("none") stays 0, a result of 0
// is sent as 0xffff. SCTP ports are rewritten but its CRC32c is not (not supported).
// A wrong checksum stays wrong: incremental updates carry the error along.
//
// ICMP errors RELATED to a translated connection (Conntrack+ICMP.swift finds them) are
// translated as Linux's `nf_nat_icmp_reply_translation` does: the outer address the
// connection translates in the error's direction is replaced (the destination going
// back to a SNATed originator; the source when it must look like the translated
// peer), the quoted packet is rewritten to what its sender had sent before translation
// (addresses, ports or ICMP identifier), and the quoted IP header checksum, the quoted
// L4 checksum (when the quote holds it), the outer IP checksum and the ICMP checksum
// are all updated; every quoted word sits at an even offset of the ICMP message, so
// the ICMP checksum is updated word by word as well.
//
// Fragments: a datagram is tracked once reassembled; the fragment that completes it is
// rewritten by `track`, fragments held before it by the caller with
// `translate(frame:length:meta:result:)` (addresses in each; ports and the L4 checksum
// in the first fragment, whose checksum covers the whole datagram).
//
// Cost: nothing for connections without a translation; two key copies, a few compares
// and stores for translated ones. No allocation, no throwing.

/// What `track(…nat:)` should do about address translation: nothing (`.none`), apply
/// the translation of existing connections (`.existing`, OVS plain `nat`), or also give
/// a new committed connection a source and/or destination translation from ranges.
///
/// ```swift
/// var nat = ConntrackNAT.source(IPv4Address(172, 24, 4, 227), ports: 1024...65535)  // nat(src=172.24.4.227:1024-65535)
/// nat.setDestination(IPv4Address(10, 1, 0, 5))                                      // …and DNAT too
/// ```
@frozen
public struct ConntrackNAT: Sendable, Equatable {
    /// `apply`, `source`, `destination` bits; 0: no NAT at all.
    public var flags: UInt8
    /// Source address range (IPv4 in the low word), inclusive.
    public var sourceMinHi: UInt64, sourceMinLo: UInt64, sourceMaxHi: UInt64, sourceMaxLo: UInt64
    /// Source port range; 0...0: keep the port (moved to 1024–65535 only when taken).
    public var sourcePortMin: UInt16, sourcePortMax: UInt16
    /// Destination address range, inclusive.
    public var destinationMinHi: UInt64, destinationMinLo: UInt64, destinationMaxHi: UInt64, destinationMaxLo: UInt64
    /// Destination port range; 0...0: keep the port.
    public var destinationPortMin: UInt16, destinationPortMax: UInt16

    /// Apply existing translations.
    public static let apply: UInt8 = 1
    /// Translate the source of new connections.
    public static let source: UInt8 = 2
    /// Translate the destination of new connections.
    public static let destination: UInt8 = 4

    /// No NAT: packets are not rewritten, even those of translated connections.
    public static let none = ConntrackNAT(flags: 0)
    /// Rewrite packets of translated connections; new connections get no translation.
    public static let existing = ConntrackNAT(flags: apply)

    @inlinable
    init(flags: UInt8) {
        self.flags = flags
        sourceMinHi = 0; sourceMinLo = 0; sourceMaxHi = 0; sourceMaxLo = 0; sourcePortMin = 0; sourcePortMax = 0
        destinationMinHi = 0; destinationMinLo = 0; destinationMaxHi = 0; destinationMaxLo = 0
        destinationPortMin = 0; destinationPortMax = 0
    }

    /// SNAT to `first`…`last` (one address when `last` is nil), ports from `ports` (nil: keep).
    public static func source(_ first: IPv4Address, _ last: IPv4Address? = nil, ports: ClosedRange<UInt16>? = nil) -> ConntrackNAT {
        var n = ConntrackNAT.existing
        n.setSource(first, last, ports: ports)
        return n
    }

    /// DNAT to `first`…`last` (one address when `last` is nil), ports from `ports` (nil: keep).
    public static func destination(_ first: IPv4Address, _ last: IPv4Address? = nil, ports: ClosedRange<UInt16>? = nil) -> ConntrackNAT {
        var n = ConntrackNAT.existing
        n.setDestination(first, last, ports: ports)
        return n
    }

    /// Adds (or replaces) the source translation.
    public mutating func setSource(_ first: IPv4Address, _ last: IPv4Address? = nil, ports: ClosedRange<UInt16>? = nil) {
        flags |= Self.apply | Self.source
        sourceMinHi = 0; sourceMaxHi = 0
        sourceMinLo = UInt64(first.rawValue); sourceMaxLo = UInt64(max(first, last ?? first).rawValue)
        sourcePortMin = ports?.lowerBound ?? 0; sourcePortMax = ports?.upperBound ?? 0
    }

    /// Adds (or replaces) the destination translation.
    public mutating func setDestination(_ first: IPv4Address, _ last: IPv4Address? = nil, ports: ClosedRange<UInt16>? = nil) {
        flags |= Self.apply | Self.destination
        destinationMinHi = 0; destinationMaxHi = 0
        destinationMinLo = UInt64(first.rawValue); destinationMaxLo = UInt64(max(first, last ?? first).rawValue)
        destinationPortMin = ports?.lowerBound ?? 0; destinationPortMax = ports?.upperBound ?? 0
    }

    /// The request of a flow's `ct(nat…)` argument.
    public init(_ action: NATAction) {
        self.init(flags: Self.apply)
        guard action.kind != .existing else { return }
        var minHi: UInt64 = 0, minLo: UInt64 = 0, maxHi: UInt64 = 0, maxLo: UInt64 = 0
        switch action.family {
        case .none: return  // nat(src) without a range: nothing to allocate from (OVS: the same)
        case .ipv4:
            minLo = UInt64(action.ipv4Min)
            maxLo = UInt64(action.ipv4Max == 0 || action.ipv4Max < action.ipv4Min ? action.ipv4Min : action.ipv4Max)
        case .ipv6:
            minHi = action.ipv6MinHi; minLo = action.ipv6MinLo
            let maxSet = action.ipv6MaxHi != 0 || action.ipv6MaxLo != 0
            let ordered = (action.ipv6MaxHi, action.ipv6MaxLo) >= (action.ipv6MinHi, action.ipv6MinLo)
            maxHi = maxSet && ordered ? action.ipv6MaxHi : minHi
            maxLo = maxSet && ordered ? action.ipv6MaxLo : minLo
        }
        let portMax = action.portMax == 0 || action.portMax < action.portMin ? action.portMin : action.portMax
        if action.kind == .source {
            flags |= Self.source
            sourceMinHi = minHi; sourceMinLo = minLo; sourceMaxHi = maxHi; sourceMaxLo = maxLo
            sourcePortMin = action.portMin; sourcePortMax = portMax
        } else {
            flags |= Self.destination
            destinationMinHi = minHi; destinationMinLo = minLo; destinationMaxHi = maxHi; destinationMaxLo = maxLo
            destinationPortMin = action.portMin; destinationPortMax = portMax
        }
    }
}

extension ConnectionTracker {
    /// Candidate tuples tried at most per commit before `nat-exhausted`.
    static let natProbeLimit = 4096
    /// Ports tried one after another before a larger range is entered elsewhere.
    static let natProbeRun: UInt32 = 64

    /// Addresses in `min...max` (capped at 2^32), for a range within one family.
    @inline(__always)
    static func rangeCount(minHi: UInt64, minLo: UInt64, maxHi: UInt64, maxLo: UInt64) -> UInt64 {
        if maxHi == minHi { return maxLo >= minLo ? min(maxLo &- minLo, 0xFFFF_FFFF) &+ 1 : 1 }
        return maxHi > minHi ? 1 << 32 : 1
    }

    /// True when `candidate` (the original direction after translation) may be used: its
    /// reply key is in no live connection. An expired connection in the way is freed.
    @inline(__always)
    func tupleFree(_ candidate: ConntrackKey, now: UInt64) -> Bool {
        let r = candidate.reversed()
        let found = lookup(r, hash: r.hash(seed: seed))
        if found < 0 { return true }
        let e = found >> 1
        guard entries[e].expiration <= now else { return false }
        remove(entry: e)
        bump(.expired)
        return true
    }

    /// Chooses the translated tuple for a new connection `key` (see the essay), or nil
    /// when every candidate tried is taken.
    func allocateTranslation(_ key: ConntrackKey, nat: ConntrackNAT, now: UInt64) -> ConntrackKey? {
        var t = key
        let h = key.hash(seed: seed)
        let ported = key.hasPorts
        let icmpQuery = key.isICMP
        if nat.flags & ConntrackNAT.destination != 0 {
            let n = Self.rangeCount(minHi: nat.destinationMinHi, minLo: nat.destinationMinLo,
                                    maxHi: nat.destinationMaxHi, maxLo: nat.destinationMaxLo)
            let (hi, lo) = Self.rangeAddress(minHi: nat.destinationMinHi, minLo: nat.destinationMinLo, index: (h >> 8) % n)
            t.dstHi = hi; t.dstLo = lo
            if ported && nat.destinationPortMin != 0 {
                let pmin = UInt32(nat.destinationPortMin), count = UInt32(nat.destinationPortMax) &- pmin &+ 1
                let own = key.destinationPort
                let port = own >= nat.destinationPortMin && own <= nat.destinationPortMax
                    ? UInt32(own) : pmin &+ UInt32(truncatingIfNeeded: h >> 24) % count
                t.ports = t.ports & 0xFFFF_0000 | port
            }
        }
        guard nat.flags & ConntrackNAT.source != 0 else {
            // DNAT only: the destination port range is the search space.
            guard ported && nat.destinationPortMin != 0 else { return tupleFree(t, now: now) ? t : nil }
            let pmin = UInt32(nat.destinationPortMin), count = UInt32(nat.destinationPortMax) &- pmin &+ 1
            let start = (t.ports & 0xFFFF) &- pmin
            var i: UInt32 = 0
            while i < count && Int(i) < Self.natProbeLimit {
                t.ports = t.ports & 0xFFFF_0000 | pmin &+ (start &+ i) % count
                if tupleFree(t, now: now) { return t }
                i &+= 1
            }
            return nil
        }
        let addresses = Self.rangeCount(minHi: nat.sourceMinHi, minLo: nat.sourceMinLo,
                                        maxHi: nat.sourceMaxHi, maxLo: nat.sourceMaxLo)
        let firstAddress = (h >> 16) % addresses
        // The source "port": TCP/UDP/… source port, or the ICMP query identifier.
        let hasPort = ported || icmpQuery
        let own = UInt16(truncatingIfNeeded: key.ports >> 16)
        var pmin: UInt32 = 1024, pmax: UInt32 = 65535
        if nat.sourcePortMin != 0 { pmin = UInt32(nat.sourcePortMin); pmax = UInt32(nat.sourcePortMax) }
        let keepOwn = hasPort && (nat.sourcePortMin == 0 || (UInt32(own) >= pmin && UInt32(own) <= pmax))
        let ports = hasPort ? pmax &- pmin &+ 1 : 0
        let firstPort = ports == 0 ? 0 : UInt32(truncatingIfNeeded: h >> 40) % ports
        var probes = 0
        var a: UInt64 = 0
        while a < addresses && probes < Self.natProbeLimit {
            let (hi, lo) = Self.rangeAddress(minHi: nat.sourceMinHi, minLo: nat.sourceMinLo,
                                             index: (firstAddress &+ a) % addresses)
            t.srcHi = hi; t.srcLo = lo
            if !hasPort || keepOwn {
                if hasPort { t.ports = t.ports & 0xFFFF | UInt32(own) << 16 }
                probes &+= 1
                if tupleFree(t, now: now) { return t }
            }
            // A range the probes cover is walked once from a hashed start. A larger one in runs
            // of `natProbeRun` from hashed starts (as Linux's nf_nat does from random ones): a
            // block of taken ports — own ports kept, allocated one after another — ends a
            // run, not the search.
            var p: UInt32 = 0
            var start = firstPort
            var run: UInt64 = 0
            while p < ports && probes < Self.natProbeLimit {
                if ports > UInt32(Self.natProbeLimit) && p > 0 && p % Self.natProbeRun == 0 {
                    run &+= 1
                    start = UInt32(truncatingIfNeeded: DatapathConfiguration.splitMix64(h, run) % UInt64(ports)) &- p
                }
                let port = pmin &+ (start &+ p) % ports
                p &+= 1
                if keepOwn && port == UInt32(own) { continue }
                t.ports = t.ports & 0xFFFF | port << 16
                probes &+= 1
                if tupleFree(t, now: now) { return t }
            }
            a &+= 1
        }
        return nil
    }

    /// Address number `index` of a range starting at (minHi, minLo).
    @inline(__always)
    static func rangeAddress(minHi: UInt64, minLo: UInt64, index: UInt64) -> (UInt64, UInt64) {
        let (lo, carry) = minLo.addingReportingOverflow(index)
        return (minHi &+ (carry ? 1 : 0), lo)
    }

    /// The ct_state bits of a translated connection (OVS sets them in both directions).
    @inline(__always)
    func natState(entry e: Int) -> CTState {
        var s: CTState = []
        if entries[e].flags & ConntrackEntry.natSource != 0 { s.insert(.snat) }
        if entries[e].flags & ConntrackEntry.natDestination != 0 { s.insert(.dnat) }
        return s
    }

    /// Where the L4 checksum of `proto` sits and whether it covers a pseudo-header;
    /// offset -1: none the tracker can update (SCTP's CRC, unknown protocols).
    @inline(__always)
    static func l4Checksum(proto: UInt8, v6: Bool) -> (offset: Int, pseudo: Bool) {
        switch proto {
        case 6: (16, true)
        case 17, 136, 33: (6, true)
        case 1 where !v6: (2, false)
        case 58 where v6: (2, true)
        default: (-1, false)
        }
    }

    /// Rewrites a packet of translated connection `e` travelling in the reply direction
    /// (`reply`) or the original one, in place: IP header at `ip`, L4 header and payload
    /// `l4Length` bytes at `l4` (0: none in this frame, a later fragment). Returns the
    /// +snat/+dnat bits.
    func translate(entry e: Int, reply: Bool, ip: UnsafeMutableRawPointer, l4: UnsafeMutableRawPointer,
                   l4Length: Int, family: UInt8, back: Bool = false) -> CTState {
        // Forward: the packet as it arrived (`current`) becomes the other direction's
        // key reversed (`target`). Back: the inverse, for a packet already rewritten.
        var current = reply ? entries[e].reply : entries[e].original
        var target = (reply ? entries[e].original : entries[e].reply).reversed()
        if back { swap(&current, &target) }
        let v6 = family == 6
        let (ckOffset, pseudo) = Self.l4Checksum(proto: current.proto, v6: v6)
        let hasL4Checksum = ckOffset >= 0 && l4Length >= ckOffset &+ 2
        let udp = current.proto == 17
        // The L4 checksum, updated when it covers what changes (0 for UDP: stays 0).
        var l4ck: UInt16 = hasL4Checksum ? l4.loadBE16(at: ckOffset) : 0
        let pseudoCk = hasL4Checksum && pseudo
        if v6 {
            if current.srcHi != target.srcHi || current.srcLo != target.srcLo {
                Self.rewriteIPv6(ip + 8, hi: target.srcHi, lo: target.srcLo, checksum: &l4ck, update: pseudoCk, udp: udp)
            }
            if current.dstHi != target.dstHi || current.dstLo != target.dstLo {
                Self.rewriteIPv6(ip + 24, hi: target.dstHi, lo: target.dstLo, checksum: &l4ck, update: pseudoCk, udp: udp)
            }
        } else {
            var ipck = ip.loadBE16(at: 10)
            if current.srcLo != target.srcLo {
                let old = ip.loadBE32(at: 12), new = UInt32(truncatingIfNeeded: target.srcLo)
                ip.storeBE32(new, at: 12)
                ipck = Checksum.update(ipck, old: old, new: new)
                if pseudoCk { Self.update32(&l4ck, old, new, udp: udp) }
            }
            if current.dstLo != target.dstLo {
                let old = ip.loadBE32(at: 16), new = UInt32(truncatingIfNeeded: target.dstLo)
                ip.storeBE32(new, at: 16)
                ipck = Checksum.update(ipck, old: old, new: new)
                if pseudoCk { Self.update32(&l4ck, old, new, udp: udp) }
            }
            ip.storeBE16(ipck, at: 10)
        }
        if current.ports != target.ports && l4Length >= 8 {
            if current.hasPorts {
                let oldSource = l4.loadBE16(at: 0), oldDestination = l4.loadBE16(at: 2)
                l4.storeBE16(target.sourcePort, at: 0)
                l4.storeBE16(target.destinationPort, at: 2)
                if hasL4Checksum {
                    Self.update16(&l4ck, oldSource, target.sourcePort, udp: udp)
                    Self.update16(&l4ck, oldDestination, target.destinationPort, udp: udp)
                }
            } else if current.isICMP {
                let old = l4.loadBE16(at: 4)
                l4.storeBE16(target.icmpID, at: 4)
                if hasL4Checksum { Self.update16(&l4ck, old, target.icmpID, udp: false) }
            }
        }
        if hasL4Checksum { l4.storeBE16(l4ck, at: ckOffset) }
        if !back { bump(.natTranslated) }
        return natState(entry: e)
    }

    /// `checksum` after a 32-bit word went from `old` to `new` (UDP: 0 stays 0, 0 → 0xffff).
    @inline(__always)
    static func update32(_ checksum: inout UInt16, _ old: UInt32, _ new: UInt32, udp: Bool) {
        guard old != new else { return }
        checksum = udp ? Checksum.updateUDP(checksum, old: old, new: new) : Checksum.update(checksum, old: old, new: new)
    }

    /// `checksum` after a 16-bit word went from `old` to `new` (UDP rules as `update32`).
    @inline(__always)
    static func update16(_ checksum: inout UInt16, _ old: UInt16, _ new: UInt16, udp: Bool) {
        guard old != new else { return }
        checksum = udp ? Checksum.updateUDP(checksum, old: old, new: new) : Checksum.update(checksum, old: old, new: new)
    }

    /// Writes the IPv6 address (hi, lo) at `p`; with `update`, folds each changed 32-bit
    /// word into `checksum`.
    @inline(__always)
    static func rewriteIPv6(_ p: UnsafeMutableRawPointer, hi: UInt64, lo: UInt64, checksum: inout UInt16,
                            update: Bool, udp: Bool) {
        var i = 0
        while i < 4 {
            let word = i < 2 ? hi : lo
            let new = UInt32(truncatingIfNeeded: i & 1 == 0 ? word >> 32 : word)
            let old = p.loadBE32(at: 4 &* i)
            if old != new {
                p.storeBE32(new, at: 4 &* i)
                if update { update32(&checksum, old, new, udp: udp) }
            }
            i &+= 1
        }
    }

    /// Stores 16-bit `new` at `offset` of `p`, a word inside an ICMP message at an even
    /// offset from its start, folding the change into the message's checksum `icmpck`.
    @inline(__always)
    static func storeInICMP(_ p: UnsafeMutableRawPointer, _ offset: Int, _ new: UInt16, _ icmpck: inout UInt16) {
        let old = p.loadBE16(at: offset)
        guard old != new else { return }
        p.storeBE16(new, at: offset)
        icmpck = Checksum.update(icmpck, old: old, new: new)
    }

    /// Rewrites a quoted address (`words` 32-bit words at `p`, an even offset of an ICMP
    /// message) to `hi`/`lo`: the ICMP checksum follows every word; the quoted L4
    /// checksum `innerCk` follows when it covers a pseudo-header (`pseudo`).
    @inline(__always)
    static func rewriteQuotedAddress(_ p: UnsafeMutableRawPointer, words: Int, hi: UInt64, lo: UInt64,
                                     icmpck: inout UInt16, innerCk: inout UInt16, pseudo: Bool, udp: Bool,
                                     ipck: inout UInt16) {
        var i = 0
        while i < words {
            let new = words == 1 ? UInt32(truncatingIfNeeded: lo)
                : UInt32(truncatingIfNeeded: (i < 2 ? hi : lo) >> (i & 1 == 0 ? 32 : 0))
            let old = p.loadBE32(at: 4 &* i)
            if old != new {
                if pseudo { update32(&innerCk, old, new, udp: udp) }
                if words == 1 { ipck = Checksum.update(ipck, old: old, new: new) }
                storeInICMP(p, 4 &* i, UInt16(truncatingIfNeeded: new >> 16), &icmpck)
                storeInICMP(p, 4 &* i &+ 2, UInt16(truncatingIfNeeded: new), &icmpck)
            }
            i &+= 1
        }
    }

    /// Rewrites an ICMP error about translated connection `e` travelling in direction
    /// `reply`: outer addresses, the quoted packet (IP header at `quoted`, its L4 header
    /// `innerAvailable` bytes at `innerL4`) and every checksum (see the essay).
    func translateError(entry e: Int, reply: Bool, ip: UnsafeMutableRawPointer, l4: UnsafeMutableRawPointer,
                        l4Length: Int, quoted: UnsafeMutableRawPointer, innerL4: UnsafeMutableRawPointer,
                        innerAvailable: Int, family: UInt8) -> CTState {
        let current = reply ? entries[e].reply : entries[e].original
        let target = (reply ? entries[e].original : entries[e].reply).reversed()
        let v6 = family == 6
        var icmpck = l4.loadBE16(at: 2)
        // Outer header: the side the connection translates in this direction.
        if v6 {
            // ICMPv6's checksum covers the outer addresses (pseudo-header).
            if current.srcHi != target.srcHi || current.srcLo != target.srcLo {
                Self.rewriteIPv6(ip + 8, hi: target.srcHi, lo: target.srcLo, checksum: &icmpck, update: true, udp: false)
            }
            if current.dstHi != target.dstHi || current.dstLo != target.dstLo {
                Self.rewriteIPv6(ip + 24, hi: target.dstHi, lo: target.dstLo, checksum: &icmpck, update: true, udp: false)
            }
        } else {
            var ipck = ip.loadBE16(at: 10)
            if current.srcLo != target.srcLo {
                let old = ip.loadBE32(at: 12), new = UInt32(truncatingIfNeeded: target.srcLo)
                ip.storeBE32(new, at: 12)
                ipck = Checksum.update(ipck, old: old, new: new)
            }
            if current.dstLo != target.dstLo {
                let old = ip.loadBE32(at: 16), new = UInt32(truncatingIfNeeded: target.dstLo)
                ip.storeBE32(new, at: 16)
                ipck = Checksum.update(ipck, old: old, new: new)
            }
            ip.storeBE16(ipck, at: 10)
        }
        // The quoted packet travelled the other way: it becomes `target` reversed.
        let inner = target.reversed()
        let (ckOffset, pseudo) = Self.l4Checksum(proto: current.proto, v6: v6)
        let udp = current.proto == 17
        let hasInnerCk = ckOffset >= 0 && innerAvailable >= ckOffset &+ 2
        var innerCk: UInt16 = hasInnerCk ? innerL4.loadBE16(at: ckOffset) : 0
        let innerPseudo = hasInnerCk && pseudo
        var qck: UInt16 = v6 ? 0 : quoted.loadBE16(at: 10)
        let words = v6 ? 4 : 1
        let srcOffset = v6 ? 8 : 12, dstOffset = v6 ? 24 : 16
        Self.rewriteQuotedAddress(quoted + srcOffset, words: words, hi: inner.srcHi, lo: inner.srcLo, icmpck: &icmpck,
                                  innerCk: &innerCk, pseudo: innerPseudo, udp: udp, ipck: &qck)
        Self.rewriteQuotedAddress(quoted + dstOffset, words: words, hi: inner.dstHi, lo: inner.dstLo, icmpck: &icmpck,
                                  innerCk: &innerCk, pseudo: innerPseudo, udp: udp, ipck: &qck)
        if !v6 { Self.storeInICMP(quoted, 10, qck, &icmpck) }
        if current.hasPorts {
            let s = innerL4.loadBE16(at: 0), d = innerL4.loadBE16(at: 2)
            if hasInnerCk {
                Self.update16(&innerCk, s, inner.sourcePort, udp: udp)
                Self.update16(&innerCk, d, inner.destinationPort, udp: udp)
            }
            Self.storeInICMP(innerL4, 0, inner.sourcePort, &icmpck)
            Self.storeInICMP(innerL4, 2, inner.destinationPort, &icmpck)
        } else if current.isICMP {
            let old = innerL4.loadBE16(at: 4)
            if hasInnerCk { Self.update16(&innerCk, old, inner.icmpID, udp: false) }
            Self.storeInICMP(innerL4, 4, inner.icmpID, &icmpck)
        }
        if hasInnerCk { Self.storeInICMP(innerL4, ckOffset, innerCk, &icmpck) }
        l4.storeBE16(icmpck, at: 2)
        bump(.natTranslated)
        return natState(entry: e)
    }

    /// Undoes the rewrite `track(…nat:)` made to this frame (answered with `result`):
    /// the packet gets back the addresses and ports it arrived with, checksums updated.
    /// For a router that must send an ICMP error about a packet it has already
    /// translated (the error must quote, and go to, what the sender sent). Returns the
    /// +snat/+dnat bits undone (none when nothing was translated).
    @discardableResult
    public func translateBack(frame: UnsafeMutableRawPointer, length: Int, meta: PacketMetadata, result: TrackResult) -> CTState {
        translateFrame(frame, length: length, meta: meta, result: result, back: true)
    }

    /// Rewrites a frame of a translated connection that `track(…nat:)` answered with
    /// `result` without rewriting it: a fragment held while its datagram was reassembled.
    /// Addresses in every fragment; ports and the L4 checksum in the first one. Returns
    /// the +snat/+dnat bits applied (none for a connection without translation, an
    /// invalid or related result, or a handle that is no longer live).
    @discardableResult
    public func translate(frame: UnsafeMutableRawPointer, length: Int, meta: PacketMetadata, result: TrackResult) -> CTState {
        translateFrame(frame, length: length, meta: meta, result: result, back: false)
    }

    /// `translate` (`back` false) or `translateBack` of a whole parsed frame.
    func translateFrame(_ frame: UnsafeMutableRawPointer, length: Int, meta: PacketMetadata, result: TrackResult,
                        back: Bool) -> CTState {
        guard result.connection > 0, Int(result.connection) <= capacity,
              !result.state.contains(.invalid), !result.state.contains(.related) else { return [] }
        let e = Int(result.connection) &- 1
        let f = entries[e].flags
        guard f & ConntrackEntry.inUse != 0, f & ConntrackEntry.natMask != 0 else { return [] }
        let v6 = meta.flags.contains(.ipv6)
        guard v6 || meta.flags.contains(.ipv4) else { return [] }
        let l3 = Int(meta.l3Offset)
        let end = min(length, v6 ? l3 &+ 40 &+ Int(frame.loadBE16(at: l3 &+ 4)) : l3 &+ Int(frame.loadBE16(at: l3 &+ 2)))
        let l4 = Int(meta.l4Offset)
        let l4Length = l4 == 0 || meta.flags.contains(.laterFragment) || l4 >= end ? 0 : end &- l4
        return translate(entry: e, reply: result.state.contains(.reply), ip: frame + l3,
                         l4: frame + (l4 == 0 ? l3 : l4), l4Length: l4Length, family: v6 ? 6 : 4, back: back)
    }
}
