import XDPPacket

// Fragment reassembly
// ===================
//
// Ports live in the first fragment only and a TCP segment's length in the whole
// datagram, so fragments are reassembled before tracking, as OVS's ipf and netfilter's
// defrag do. Each fragment's payload (the bytes after the IPv4 header, or after the
// IPv6 fragment header) is copied into the datagram's context at its offset; when the
// pieces cover [0, total) exactly, the datagram is tracked once from the context's
// buffer and the context is freed. The fragment that completed it gets the result
// with disposition `.forward`; earlier ones got `.held` and the same `datagram` id,
// so the datapath can give them that result too (it owns the frames; we own copies).
//
// Bounds: `fragmentContexts` contexts, each with a buffer of `maxDatagramSize` bytes
// and room for `maxFragmentsPerDatagram` fragments, all allocated at init; the bytes
// held by all incomplete datagrams together stay ≤ `fragmentMemory`. A context lives
// at most `fragmentTimeout` from its first fragment. Contexts are found by a linear
// scan (fragments are rare, and 32 compares are cheaper than another table); the scan
// also frees timed-out contexts.
//
// Dropped and counted, freeing the datagram: a fragment overlapping another (RFC 5722
// for IPv6; the same defence against overlap attacks for IPv4), one that would pass
// `maxDatagramSize`, the fragment limit or the byte budget, a last fragment that
// disagrees with the datagram's length. An exact duplicate (same offset and length)
// is dropped alone (`fragmentDuplicate`): the datagram may still complete. A non-last
// fragment whose length is not a multiple of 8, or an empty one, is malformed.
//
// The key of a datagram: zone, family, source, destination, identification and, for
// IPv4, the protocol (RFC 791).

struct FragmentContext {
    var srcHi: UInt64 = 0, srcLo: UInt64 = 0, dstHi: UInt64 = 0, dstLo: UInt64 = 0
    var started: UInt64 = 0
    var id: UInt32 = 0
    var datagram: UInt32 = 0
    var total = -1
    var received = 0
    var rangeCount = 0
    var zone: UInt16 = 0
    var family: UInt8 = 0
    var proto: UInt8 = 0
    var inUse = false
}

/// The reassembly pool of a tracker: memory allocated once.
struct FragmentStore {
    let contexts: UnsafeMutablePointer<FragmentContext>
    /// `maxFragments` (start, end) pairs per context.
    let ranges: UnsafeMutablePointer<UInt32>
    let buffer: UnsafeMutableRawPointer
    let count: Int
    let maxDatagram: Int
    let maxFragments: Int
    let memory: Int
    let timeout: UInt64

    init(_ c: ConntrackConfiguration) {
        count = max(1, c.fragmentContexts)
        maxDatagram = max(8, min(c.maxDatagramSize, 65_535))
        maxFragments = max(1, c.maxFragmentsPerDatagram)
        memory = max(0, c.fragmentMemory)
        timeout = c.fragmentTimeoutNanoseconds
        contexts = .allocate(capacity: count)
        contexts.initialize(repeating: FragmentContext(), count: count)
        ranges = .allocate(capacity: count * maxFragments * 2)
        ranges.initialize(repeating: 0, count: count * maxFragments * 2)
        buffer = .allocate(byteCount: count * maxDatagram, alignment: 16)
    }

    func deallocate() {
        contexts.deallocate(); ranges.deallocate(); buffer.deallocate()
    }
}

extension ConnectionTracker {
    /// Datagrams under reassembly.
    public var pendingDatagrams: Int {
        var n = 0
        for i in 0..<fragments.count where fragments.contexts[i].inUse { n += 1 }
        return n
    }

    /// Bytes held by incomplete datagrams (≤ `fragmentMemory`).
    public var fragmentBytesHeld: Int { scalars.pointee.fragmentBytes }

    func releaseContext(_ i: Int) {
        scalars.pointee.fragmentBytes &-= fragments.contexts[i].received
        fragments.contexts[i].inUse = false
    }

    /// Frees contexts older than `fragmentTimeout` (counted).
    func expireFragments(now: UInt64) {
        for i in 0..<fragments.count where fragments.contexts[i].inUse
            && fragments.contexts[i].started &+ fragments.timeout <= now {
            releaseContext(i)
            bump(.fragmentTimeout)
        }
    }

    @inline(__always)
    func fragmentDrop(_ reason: ConntrackCounter, zone: UInt16, datagram: UInt32 = 0) -> TrackResult {
        bump(reason)
        return TrackResult(state: [], zone: zone, disposition: .drop, reason: reason, datagram: datagram)
    }

    /// A first or later fragment (`meta.flags` has `.fragment`).
    func trackFragment(frame: UnsafeMutableRawPointer, length: Int, meta: PacketMetadata, zone: UInt16,
                       commit: Bool, now: UInt64, markValue: UInt32, markMask: UInt32,
                       nat: ConntrackNAT = .none) -> TrackResult {
        let l3 = Int(meta.l3Offset)
        let v6 = meta.flags.contains(.ipv6)
        var key = ConntrackKey()
        key.zone = zone
        let id: UInt32, offset: Int, more: Bool, payloadStart: Int, payloadLength: Int
        if v6 {
            let ipLength = 40 &+ Int(frame.loadBE16(at: l3 &+ 4))
            guard let walk = IPv6Header(frame + l3).walkExtensionHeaders(length: min(length &- l3, ipLength)),
                  let fh = walk.fragmentHeaderOffset
            else { return fragmentDrop(.fragmentMalformed, zone: zone) }
            let f = frame + (l3 &+ fh)
            let word = f.loadBE16(at: 2)
            id = f.loadBE32(at: 4)
            offset = Int(word & 0xFFF8)
            more = word & 1 != 0
            key.family = 6
            key.proto = f.loadBE8(at: 0)
            key.srcHi = meta.ipv6SrcHi; key.srcLo = meta.ipv6SrcLo
            key.dstHi = meta.ipv6DstHi; key.dstLo = meta.ipv6DstLo
            payloadStart = l3 &+ fh &+ 8
            payloadLength = l3 &+ ipLength &- payloadStart
        } else {
            let headerLength = Int(frame.loadBE8(at: l3) & 0x0F) &* 4
            let word = frame.loadBE16(at: l3 &+ 6)
            id = UInt32(frame.loadBE16(at: l3 &+ 4))
            offset = Int(word & 0x1FFF) &* 8
            more = word & 0x2000 != 0
            key.family = 4
            key.proto = meta.nwProto
            key.srcLo = UInt64(meta.nwSrc); key.dstLo = UInt64(meta.nwDst)
            payloadStart = l3 &+ headerLength
            payloadLength = Int(frame.loadBE16(at: l3 &+ 2)) &- headerLength
        }
        guard payloadLength > 0, !more || payloadLength & 7 == 0 else { return fragmentDrop(.fragmentMalformed, zone: zone) }
        let end = offset &+ payloadLength

        // Find the datagram's context (freeing timed-out ones on the way) or a free one.
        var match = -1, free = -1
        for i in 0..<fragments.count {
            let c = fragments.contexts[i]
            if c.inUse && c.started &+ fragments.timeout <= now {
                releaseContext(i)
                bump(.fragmentTimeout)
            }
            if !fragments.contexts[i].inUse {
                if free < 0 { free = i }
                continue
            }
            if c.id == id && c.zone == zone && c.family == key.family && c.srcLo == key.srcLo && c.dstLo == key.dstLo
                && c.srcHi == key.srcHi && c.dstHi == key.dstHi && (v6 || c.proto == key.proto) {
                match = i
            }
        }
        if match < 0 {
            guard end <= fragments.maxDatagram else { return fragmentDrop(.fragmentTooLarge, zone: zone) }
            guard free >= 0 else { return fragmentDrop(.fragmentContextsFull, zone: zone) }
            match = free
            var datagram = scalars.pointee.nextDatagram
            if datagram == 0 { datagram = 1 }
            scalars.pointee.nextDatagram = datagram &+ 1
            fragments.contexts[match] = FragmentContext(srcHi: key.srcHi, srcLo: key.srcLo, dstHi: key.dstHi,
                                                        dstLo: key.dstLo, started: now, id: id, datagram: datagram,
                                                        total: -1, received: 0, rangeCount: 0, zone: zone,
                                                        family: key.family, proto: key.proto, inUse: true)
        }
        let slot = match  // a constant for `fail` to capture (no box for a var)
        let ctx = fragments.contexts + slot
        let datagram = ctx.pointee.datagram
        func fail(_ reason: ConntrackCounter) -> TrackResult {
            releaseContext(slot)
            return fragmentDrop(reason, zone: zone, datagram: datagram)
        }
        guard end <= fragments.maxDatagram else { return fail(.fragmentTooLarge) }
        let ranges = fragments.ranges + match &* fragments.maxFragments &* 2
        for r in 0..<ctx.pointee.rangeCount {
            let s = Int(ranges[2 &* r]), e = Int(ranges[2 &* r &+ 1])
            if s == offset && e == end { return fragmentDrop(.fragmentDuplicate, zone: zone, datagram: datagram) }
            if offset < e && s < end { return fail(.fragmentOverlap) }
        }
        guard ctx.pointee.rangeCount < fragments.maxFragments else { return fail(.fragmentTooMany) }
        guard scalars.pointee.fragmentBytes &+ payloadLength <= fragments.memory else { return fail(.fragmentMemoryFull) }
        if !more {
            guard ctx.pointee.total < 0 || ctx.pointee.total == end else { return fail(.fragmentMalformed) }
            for r in 0..<ctx.pointee.rangeCount where Int(ranges[2 &* r &+ 1]) > end { return fail(.fragmentMalformed) }
            ctx.pointee.total = end
        } else if ctx.pointee.total >= 0 && end > ctx.pointee.total {
            return fail(.fragmentMalformed)
        }
        let base = fragments.buffer + match &* fragments.maxDatagram
        (base + offset).copyMemory(from: frame + payloadStart, byteCount: payloadLength)
        ranges[2 &* ctx.pointee.rangeCount] = UInt32(offset)
        ranges[2 &* ctx.pointee.rangeCount &+ 1] = UInt32(end)
        ctx.pointee.rangeCount &+= 1
        ctx.pointee.received &+= payloadLength
        scalars.pointee.fragmentBytes &+= payloadLength
        if offset == 0 { ctx.pointee.proto = key.proto }

        guard ctx.pointee.total >= 0 && ctx.pointee.received == ctx.pointee.total else {
            bump(.fragmentHeld)
            return TrackResult(state: [], zone: zone, disposition: .held, reason: .fragmentHeld, datagram: datagram)
        }

        // Complete: track the datagram from the buffer.
        var l4 = base
        var l4Length = ctx.pointee.total
        key.proto = ctx.pointee.proto
        if v6 {
            // Extension headers after the fragment header (destination options, routing).
            var steps = 0
            while (key.proto == 0 || key.proto == 43 || key.proto == 60) && steps < 8 {
                guard l4Length >= 8 else { break }
                let size = (Int(l4.loadBE8(at: 1)) &+ 1) &* 8
                guard size <= l4Length else { break }
                key.proto = l4.loadBE8(at: 0)
                l4 += size
                l4Length &-= size
                steps &+= 1
            }
        }
        bump(.reassembled)
        var result = trackPacket(key: key, l4: l4, l4Length: l4Length, commit: commit, now: now,
                                 markValue: markValue, markMask: markMask, nat: nat)
        releaseContext(match)
        result.datagram = datagram
        if nat.flags != 0 && result.connection != 0 && !result.state.contains(.invalid) {
            // The completing fragment is rewritten here; the held ones by the caller
            // (`translate(frame:length:meta:result:)`).
            result.state.formUnion(translate(frame: frame, length: length, meta: meta, result: result))
        }
        return result
    }
}
