#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import XDPDatapath

// The worker loop: see the essay at the top of Engine.swift. Worker thread only, except
// `refill`, which init also calls before the worker exists.
extension Engine {
    func runWorker() {
        if let cpu = configuration.cpu { _ = cxdp_pin_thread(Int32(cpu)) }
        workerCPUStart = cxdp_thread_cpu_microseconds()
        lastWorkerCPU = workerCPUStart
        let batch = PacketBatch(capacity: PacketBatch.defaultCapacity)
        var pollFDs = [pollfd](repeating: pollfd(), count: sockets.count + 1)
        for (i, socket) in sockets.enumerated() { pollFDs[i] = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0) }
        pollFDs[sockets.count] = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
        var idle = 0
        var served: UInt64 = 0
        while !stopRequested.load(ordering: .relaxed) {
            iterations &+= 1
            var moved = 0
            for socket in sockets {
                moved &+= reclaimCompletions(socket)
                refill(socket)
            }
            let now = monotonicNanoseconds()
            for socket in sockets {
                moved &+= receive(socket, into: batch, now: now)
            }
            if controlPending.load(ordering: .relaxed) { runControlJobs(now: now) }
            let requested = statisticsRequested.load(ordering: .acquiring)
            if requested != served {
                publishStatistics()
                served = requested
                statisticsServed.store(requested, ordering: .releasing)
            }
            if moved != 0 { idle = 0; continue }
            idle &+= 1
            // Frames still on a TX ring (a kick found the kernel busy): kick again. Frames the
            // kernel already took only wait for their completion: no kick for those.
            for port in ports where port.txSocket.txRingOccupancy > 0 { kick(port.txSocket) }
            if configuration.idle == .busyPoll && idle & 63 == 0 {
                datapath?.tick(now: monotonicNanoseconds())
                // Zero-copy drivers stop pulling from an empty fill ring until woken.
                for socket in sockets where xsk_ring_prod__needs_wakeup(socket.fill) != 0 {
                    _ = recvfrom(socket.fd, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
                    socket.counters.rxWakeups &+= 1
                }
            }
            if configuration.idle == .poll && idle > configuration.spinIterations {
                sleeps &+= 1
                let outstanding = sockets.contains { $0.txOutstanding > 0 }
                for i in pollFDs.indices { pollFDs[i].revents = 0 }
                _ = poll(&pollFDs, nfds_t(pollFDs.count), outstanding ? 1 : 1000)
                if pollFDs[sockets.count].revents != 0 {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                }
                // Learned flows and timeouts advance even when no frame arrives.
                datapath?.tick(now: monotonicNanoseconds())
                for socket in sockets where xsk_ring_prod__needs_wakeup(socket.fill) != 0 {
                    _ = recvfrom(socket.fd, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
                    socket.counters.rxWakeups &+= 1
                }
            }
        }
        // Final state for statistics() after stop, and the worker's CPU time.
        lastWorkerCPU = cxdp_thread_cpu_microseconds()
        publishStatistics()
        statisticsServed.store(statisticsRequested.load(ordering: .acquiring), ordering: .releasing)
    }

    /// Completed TX frames go back to the free list.
    @inline(__always)
    private func reclaimCompletions(_ socket: XSKSocket) -> Int {
        guard socket.txOutstanding > 0 else { return 0 }
        var index: UInt32 = 0
        let n = xsk_ring_cons__peek(socket.completion, configuration.ringSize, &index)
        guard n > 0 else { return 0 }
        for i in 0..<n {
            pool.free(xsk_ring_cons__comp_addr(socket.completion, index &+ i).pointee)
        }
        xsk_ring_cons__release(socket.completion, n)
        socket.txOutstanding &-= Int(n)
        socket.counters.completed &+= UInt64(n)
        return Int(n)
    }

    /// Tops the fill ring up from the free list (in steps of at least 16).
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
    @inline(__always)
    func refill(_ socket: XSKSocket) {
        let want = Int(configuration.ringSize) &- socket.fillOutstanding
        guard want >= 16 || (want > 0 && socket.fillOutstanding == 0) else { return }
        let room = Int(xsk_prod_nb_free(socket.fill, UInt32(want)))
        let n = min(want, room, pool.freeCount)
        guard n > 0 else {
            if room > 0 { socket.counters.fillStarved &+= 1 }
            return
        }
        var index: UInt32 = 0
        let reserved = xsk_ring_prod__reserve(socket.fill, UInt32(n), &index)
        guard reserved > 0 else { return }
        for i in 0..<reserved {
            // n ≤ freeCount: allocate cannot fail.
            xsk_ring_prod__fill_addr(socket.fill, index &+ i).pointee = pool.allocate()!
        }
        xsk_ring_prod__submit(socket.fill, reserved)
        socket.fillOutstanding &+= Int(reserved)
    }

    /// One RX batch of `socket` through the datapath (or the raw peer) and onto TX rings.
    @inline(__always)
    private func receive(_ socket: XSKSocket, into batch: PacketBatch, now: UInt64) -> Int {
        var index: UInt32 = 0
        let n = xsk_ring_cons__peek(socket.rx, UInt32(configuration.batchSize), &index)
        guard n > 0 else { return 0 }
        rxBatches &+= 1
        var bytes: UInt64 = 0
        for i in 0..<n {
            let desc = xsk_ring_cons__rx_desc(socket.rx, index &+ i).pointee
            batch.addresses[Int(i)] = desc.addr
            batch.lengths[Int(i)] = desc.len
            bytes &+= UInt64(desc.len)
        }
        batch.count = Int(n)
        xsk_ring_cons__release(socket.rx, n)
        socket.fillOutstanding &-= Int(n)
        socket.counters.rxPackets &+= UInt64(n)
        socket.counters.rxBytes &+= bytes

        switch mode {
        case .datapath:
            let port = ports[socket.portIndex]
            let datapath = datapath.unsafelyUnwrapped
            if port.datapathPortID >= 0 {
                datapath.process(batch, from: port.datapathPortID, now: now)
            } else {
                for i in 0..<batch.count { pool.free(batch.addresses[i]) }
                port.noTransportDrops &+= UInt64(batch.count)
                batch.removeAll()
            }
            drainDatapathQueues(datapath)
        case .raw:
            let peer = ports[ports[socket.portIndex].rawPeer]
            transmit(batch, on: peer.txSocket)
            batch.removeAll()
        }
        return Int(n)
    }

    /// Moves every port's `txQueue` onto its interface's TX ring; frames for ports
    /// without an interface (internal ports) are freed and counted.
    @inline(__always)
    private func drainDatapathQueues(_ datapath: Datapath) {
        let dpPorts = datapath.ports
        for id in 0..<dpPorts.count {
            let queue = dpPorts[id].txQueue
            guard queue.count > 0 else { continue }
            let io = ioPortOfDatapathPort[id]
            if io >= 0 {
                transmit(queue, on: ports[io].txSocket)
            } else {
                for i in 0..<queue.count { pool.free(queue.addresses[i]) }
            }
            queue.removeAll()
        }
    }

    /// Puts the frames of `batch` on `socket`'s TX ring and kicks. Frames that do not fit
    /// (even after recycling completions and a kick) are freed and counted as drops.
    @inline(__always)
    private func transmit(_ batch: PacketBatch, on socket: XSKSocket) {
        let count = UInt32(batch.count)
        var start = 0
        var remaining = count
        var kicks = 0
        while remaining > 0 {
            var room = xsk_prod_nb_free(socket.tx, remaining)
            if room < remaining {
                socket.counters.txRingFullEvents &+= 1
                if kicks < configuration.kicksPerBatch {
                    kick(socket)
                    kicks &+= 1
                    _ = reclaimCompletions(socket)
                    room = xsk_prod_nb_free(socket.tx, remaining)
                }
            }
            let n = min(room, remaining)
            if n == 0 { break }
            var index: UInt32 = 0
            _ = xsk_ring_prod__reserve(socket.tx, n, &index)
            var bytes: UInt64 = 0
            for i in 0..<Int(n) {
                let desc = xsk_ring_prod__tx_desc(socket.tx, index &+ UInt32(i))!
                desc.pointee.addr = batch.addresses[start &+ i]
                desc.pointee.len = batch.lengths[start &+ i]
                desc.pointee.options = 0
                bytes &+= UInt64(batch.lengths[start &+ i])
            }
            xsk_ring_prod__submit(socket.tx, n)
            socket.txOutstanding &+= Int(n)
            socket.counters.txPackets &+= UInt64(n)
            socket.counters.txBytes &+= bytes
            start &+= Int(n)
            remaining &-= n
        }
        if remaining > 0 {
            for i in start..<Int(count) { pool.free(batch.addresses[i]) }
            socket.counters.txRingFullDrops &+= UInt64(remaining)
        }
        // Copy mode sends a limited batch per kick: kick until the ring is drained or the
        // per-batch budget is spent (the idle loop kicks again for what is left).
        while kicks < configuration.kicksPerBatch && socket.txRingOccupancy > 0 {
            kick(socket)
            kicks &+= 1
        }
    }

    /// Asks the kernel to transmit (copy mode: it sends a limited batch per call).
    @inline(__always)
    private func kick(_ socket: XSKSocket) {
        guard xsk_ring_prod__needs_wakeup(socket.tx) != 0 else { return }
        let before = socket.txConsumerIndex
        let r = sendto(socket.fd, nil, 0, Int32(MSG_DONTWAIT), nil, 0)
        socket.counters.txKicks &+= 1
        if r < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN {
            socket.counters.txKickErrors &+= 1
        }
        let sent = socket.txConsumerIndex &- before
        kicksMeasured &+= 1
        framesKicked &+= UInt64(sent)
        if sent > maxFramesPerKick { maxFramesPerKick = sent }
    }

    @inline(__always)
    func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
