#if canImport(Glibc)
import Glibc
#endif
import CXDP
import XDPDatapath

// The four ring verbs of one socket, shared by the engine's worker (AFXDPEngine+Worker.swift)
// and the lab's raw forwarder (XDPLab): receive a batch, put a batch on the TX ring and
// kick, recycle completions, top up the fill ring. Worker thread only (`refill` also runs
// before the worker exists). Per batch, not per packet: no allocation, no ARC traffic
// beyond the socket and pool references the caller already holds.

/// How many frames each TX kick moved: the engine's `framesPerKick` statistic.
package struct KickCounters {
    package var measured: UInt64 = 0
    package var frames: UInt64 = 0
    package var maximum: UInt32 = 0
    package init() {}
    package var framesPerKick: Double { measured == 0 ? 0 : Double(frames) / Double(measured) }
}

extension XSKSocket {
    /// Takes up to `limit` RX descriptors into `batch` (replacing its contents) and releases
    /// them from the ring; returns how many.
    @inline(__always)
    package func receive(into batch: PacketBatch, limit: Int) -> Int {
        var index: UInt32 = 0
        let n = xsk_ring_cons__peek(rx, UInt32(limit), &index)
        guard n > 0 else { return 0 }
        var bytes: UInt64 = 0
        for i in 0..<n {
            let desc = xsk_ring_cons__rx_desc(rx, index &+ i).pointee
            batch.addresses[Int(i)] = desc.addr
            batch.lengths[Int(i)] = desc.len
            bytes &+= UInt64(desc.len)
        }
        batch.count = Int(n)
        xsk_ring_cons__release(rx, n)
        fillOutstanding &-= Int(n)
        counters.rxPackets &+= UInt64(n)
        counters.rxBytes &+= bytes
        return Int(n)
    }

    /// Completed TX frames go back to `pool`'s free list; returns how many.
    @inline(__always)
    package func reclaimCompletions(into pool: FramePool, ringSize: UInt32) -> Int {
        guard txOutstanding > 0 else { return 0 }
        var index: UInt32 = 0
        let n = xsk_ring_cons__peek(completion, ringSize, &index)
        guard n > 0 else { return 0 }
        for i in 0..<n {
            pool.free(xsk_ring_cons__comp_addr(completion, index &+ i).pointee)
        }
        xsk_ring_cons__release(completion, n)
        txOutstanding &-= Int(n)
        counters.completed &+= UInt64(n)
        return Int(n)
    }

    /// Tops the fill ring up from `pool` (in steps of at least 16).
    ///
    /// `fillOutstanding` counts the frames the kernel holds for this socket: those still
    /// in the fill ring and those it already put on the RX ring for us. The target is one
    /// ring's worth of both together: while the worker keeps up the fill ring is full;
    /// when it falls a whole ring behind (the RX ring holds `ringSize` frames) the fill
    /// ring is empty, and the kernel drops arrivals *before* copying them (`rx-dropped`)
    /// instead of copying each into the UMEM and then dropping it for a full RX ring
    /// (`rx-ring-full`). Under overload that saves the softirq a copy per dropped frame —
    /// 8–10% of the machine's CPU per forwarded packet on the veth bench, with the same
    /// forwarding rate (BENCHMARKS.md, "Rings"). It needs a deep ring: with 1,024 entries
    /// a burst of the veth's softirq overflowed it while the worker then idled in the gap;
    /// the default is 4,096 (`EngineConfiguration.ringSize`).
    ///
    /// `reserve` frames always stay in the pool for the datapath's own frames (flood
    /// copies, encapsulation, ARP, DHCP and ICMP answers): with more sockets than the
    /// UMEM has rings' worth of frames for (interfaces added at run time), the fill rings
    /// share what is left instead of taking every frame and leaving the datapath to drop
    /// everything it must create as `no-buffer`.
    @inline(__always)
    package func refill(from pool: FramePool, ringSize: UInt32, reserve: Int) {
        let want = Int(ringSize) &- fillOutstanding
        guard want >= 16 || (want > 0 && fillOutstanding == 0) else { return }
        let room = Int(xsk_prod_nb_free(fill, UInt32(want)))
        let n = min(want, room, pool.freeCount &- reserve)
        guard n > 0 else {
            if room > 0 { counters.fillStarved &+= 1 }
            return
        }
        var index: UInt32 = 0
        let reserved = xsk_ring_prod__reserve(fill, UInt32(n), &index)
        guard reserved > 0 else { return }
        for i in 0..<reserved {
            // n ≤ freeCount: allocate cannot fail.
            xsk_ring_prod__fill_addr(fill, index &+ i).pointee = pool.allocate()!
        }
        xsk_ring_prod__submit(fill, reserved)
        fillOutstanding &+= Int(reserved)
    }

    /// Puts the frames of `batch` on the TX ring and kicks (at most `kicksPerBatch` times).
    /// Frames that do not fit (even after recycling completions and a kick) are freed to
    /// `pool` and counted as drops.
    @inline(__always)
    package func transmit(_ batch: PacketBatch, pool: FramePool, ringSize: UInt32, kicksPerBatch: Int,
                          kicks counters: inout KickCounters) {
        let count = UInt32(batch.count)
        var start = 0
        var remaining = count
        var kicks = 0
        while remaining > 0 {
            var room = xsk_prod_nb_free(tx, remaining)
            if room < remaining {
                self.counters.txRingFullEvents &+= 1
                if kicks < kicksPerBatch {
                    kick(&counters)
                    kicks &+= 1
                    _ = reclaimCompletions(into: pool, ringSize: ringSize)
                    room = xsk_prod_nb_free(tx, remaining)
                }
            }
            let n = min(room, remaining)
            if n == 0 { break }
            var index: UInt32 = 0
            _ = xsk_ring_prod__reserve(tx, n, &index)
            var bytes: UInt64 = 0
            for i in 0..<Int(n) {
                let desc = xsk_ring_prod__tx_desc(tx, index &+ UInt32(i))!
                desc.pointee.addr = batch.addresses[start &+ i]
                desc.pointee.len = batch.lengths[start &+ i]
                desc.pointee.options = 0
                bytes &+= UInt64(batch.lengths[start &+ i])
            }
            xsk_ring_prod__submit(tx, n)
            txOutstanding &+= Int(n)
            self.counters.txPackets &+= UInt64(n)
            self.counters.txBytes &+= bytes
            start &+= Int(n)
            remaining &-= n
        }
        if remaining > 0 {
            for i in start..<Int(count) { pool.free(batch.addresses[i]) }
            self.counters.txRingFullDrops &+= UInt64(remaining)
        }
        // Copy mode sends a limited batch per kick: kick until the ring is drained or the
        // per-batch budget is spent (the idle loop kicks again for what is left).
        while kicks < kicksPerBatch && txRingOccupancy > 0 {
            kick(&counters)
            kicks &+= 1
        }
    }

    /// Asks the kernel to transmit (copy mode: it sends a limited batch per call).
    @inline(__always)
    package func kick(_ kicks: inout KickCounters) {
        guard xsk_ring_prod__needs_wakeup(tx) != 0 else { return }
        let before = txConsumerIndex
        let r = sendto(fd, nil, 0, Int32(MSG_DONTWAIT), nil, 0)
        counters.txKicks &+= 1
        if r < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN {
            counters.txKickErrors &+= 1
        }
        // A down (or vanished) device refuses every kick until a link event says otherwise.
        if r < 0 && (errno == ENETDOWN || errno == ENXIO) { kickRefused = true }
        let sent = txConsumerIndex &- before
        kicks.measured &+= 1
        kicks.frames &+= UInt64(sent)
        if sent > kicks.maximum { kicks.maximum = sent }
    }

    /// Zero-copy drivers stop pulling from an empty fill ring until woken: wakes them.
    @inline(__always)
    package func wakeFillIfNeeded() {
        guard xsk_ring_prod__needs_wakeup(fill) != 0 else { return }
        _ = recvfrom(fd, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
        counters.rxWakeups &+= 1
    }

    /// Frames on the TX ring the kernel has not taken yet.
    @inline(__always)
    package var txRingOccupancy: UInt32 {
        tx.pointee.cached_prod &- UnsafeMutableRawPointer(tx.pointee.consumer).load(as: UInt32.self)
    }

    @inline(__always)
    var txConsumerIndex: UInt32 { UnsafeMutableRawPointer(tx.pointee.consumer).load(as: UInt32.self) }
}

extension XSKSocket {
    /// Gives back to `pool` every frame this socket holds, once nothing can arrive on it any
    /// more (its interface detached and out of the XSKMAP, or deleted): completions, the RX
    /// ring, the fill ring's unused entries, the TX ring's untaken descriptors, then the
    /// frames the kernel took for transmission as they complete (waiting up to 50 ms).
    /// Returns the frames reclaimed and those the kernel never gave back (`lost`).
    /// Worker thread only; the socket is closed afterwards.
    package func reclaimAll(into pool: FramePool, ringSize: UInt32) -> (reclaimed: Int, lost: Int) {
        var reclaimed = reclaimCompletions(into: pool, ringSize: ringSize)
        // RX: received and not yet taken.
        var index: UInt32 = 0
        let received = xsk_ring_cons__peek(rx, ringSize, &index)
        for i in 0..<received { pool.free(xsk_ring_cons__rx_desc(rx, index &+ i).pointee.addr) }
        if received > 0 { xsk_ring_cons__release(rx, received) }
        fillOutstanding -= Int(received)
        reclaimed += Int(received)
        // Fill: handed to the kernel, not consumed.
        let fillConsumer = UnsafeMutableRawPointer(fill.pointee.consumer).load(as: UInt32.self)
        var position = fillConsumer
        while position != fill.pointee.cached_prod {
            pool.free(xsk_ring_prod__fill_addr(fill, position).pointee)
            position &+= 1
        }
        let unused = Int(fill.pointee.cached_prod &- fillConsumer)
        fillOutstanding -= unused
        reclaimed += unused
        // TX: submitted, not taken by the kernel.
        let txConsumer = txConsumerIndex
        position = txConsumer
        while position != tx.pointee.cached_prod {
            pool.free(xsk_ring_prod__tx_desc(tx, position).pointee.addr)
            position &+= 1
        }
        let untaken = Int(tx.pointee.cached_prod &- txConsumer)
        txOutstanding -= untaken
        reclaimed += untaken
        // Taken for transmission: they come back on the completion ring.
        var waited = 0
        while txOutstanding > 0 && waited < 50 {
            let n = reclaimCompletions(into: pool, ringSize: ringSize)
            reclaimed += n
            if n == 0 { usleep(1_000); waited += 1 }
        }
        // What the kernel took from the fill ring without delivering (none in copy mode).
        let lost = max(0, fillOutstanding) + max(0, txOutstanding)
        fillOutstanding = 0
        txOutstanding = 0
        return (reclaimed, lost)
    }
}
