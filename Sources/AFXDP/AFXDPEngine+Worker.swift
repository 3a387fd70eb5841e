#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import XDPDatapath

// The worker loop: see the essay at the top of AFXDPEngine.swift. Worker thread only, except
// `refill`, which init also calls before the worker exists.
extension AFXDPEngine {
    func runWorker() {
        if let cpu = configuration.cpu { _ = cxdp_pin_thread(Int32(cpu)) }
        workerCPUStart = cxdp_thread_cpu_microseconds()
        lastWorkerCPU = workerCPUStart
        let batch = PacketBatch(capacity: PacketBatch.defaultCapacity)
        var pollFDs: [pollfd] = []
        var pollVersion = socketsVersion &- 1
        var idle = 0
        var served: UInt64 = 0
        while !stopRequested.load(ordering: .relaxed) {
            iterations &+= 1
            var moved = 0
            for socket in sockets {
                moved &+= reclaimCompletions(socket)
                refill(socket)
            }
            let now = DatapathInstant.now().nanoseconds
            for socket in sockets {
                moved &+= receive(socket, into: batch, now: now)
            }
            if controlPending.load(ordering: .relaxed) { runControlJobs(now: now) }
            pollLinkChanges(now: now, readable: false)
            if fastPathOn { fastPathHousekeeping(now: now) }
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
            // Nor for a device that refused the last kick as down, until a link event.
            for port in ports where !port.sockets.isEmpty && !port.txSocket.kickRefused && port.txSocket.txRingOccupancy > 0 {
                port.txSocket.kick(&kicks)
            }
            if configuration.idle == .busyPoll && idle & 63 == 0 {
                datapath?.tick(now: DatapathInstant.now())
                for socket in sockets { socket.wakeFillIfNeeded() }
            }
            if configuration.idle == .poll && idle > configuration.spinIterations {
                sleeps &+= 1
                if pollVersion != socketsVersion {
                    // The sockets, the wake eventfd and the link monitor.
                    pollFDs = sockets.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                    pollFDs.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
                    pollFDs.append(pollfd(fd: linkMonitor?.fd ?? -1, events: Int16(POLLIN), revents: 0))
                    pollVersion = socketsVersion
                }
                let outstanding = sockets.contains { $0.txOutstanding > 0 && !$0.kickRefused }
                for i in pollFDs.indices { pollFDs[i].revents = 0 }
                _ = poll(&pollFDs, nfds_t(pollFDs.count), outstanding ? 1 : 1000)
                if pollFDs[pollFDs.count - 2].revents != 0 {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                }
                // Learned flows and timeouts advance even when no frame arrives.
                let woke = DatapathInstant.now().nanoseconds
                datapath?.tick(now: DatapathInstant(nanoseconds: woke))
                pollLinkChanges(now: woke, readable: pollFDs[pollFDs.count - 1].revents != 0)
                for socket in sockets { socket.wakeFillIfNeeded() }
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
        socket.reclaimCompletions(into: pool, ringSize: configuration.ringSize)
    }

    /// Tops the fill ring up from the free list (`XSKSocket.refill(from:ringSize:reserve:)`), leaving `fillReserve` frames in the pool.
    @inline(__always)
    func refill(_ socket: XSKSocket) {
        socket.refill(from: pool, ringSize: configuration.ringSize, reserve: fillReserve)
    }

    /// One RX batch of `socket` through the datapath and onto TX rings.
    @inline(__always)
    private func receive(_ socket: XSKSocket, into batch: PacketBatch, now: UInt64) -> Int {
        let n = socket.receive(into: batch, limit: configuration.batchSize)
        guard n > 0 else { return 0 }
        rxBatches &+= 1
        let port = ports[socket.portIndex]
        let datapath = datapath.unsafelyUnwrapped
        if let id = port.datapathPortID {
            datapath.process(batch, from: id, now: DatapathInstant(nanoseconds: now))
            if fastPathOn { fastPathAfterBatch(datapath, now: now) }
        } else {
            for i in 0..<batch.count { pool.free(batch.addresses[i]) }
            port.noTransportDrops &+= UInt64(batch.count)
            batch.removeAll()
        }
        drainDatapathQueues(datapath)
        return n
    }

    /// Moves every port's `txQueue` onto its interface's TX ring; frames for ports
    /// without an interface (internal ports) are freed, and those for a port whose
    /// interface is down are freed and counted (`port-down`).
    @inline(__always)
    func drainDatapathQueues(_ datapath: Datapath) {
        let dpPorts = datapath.ports
        for id in 0..<dpPorts.count {
            let queue = dpPorts[id].txQueue
            guard queue.count > 0 else { continue }
            let io = ioPortOfDatapathPort[id]
            if io >= 0 {
                let port = ports[io]
                if port.sockets.isEmpty {
                    datapath.discardTransmitQueue(of: dpPorts[id])
                    continue
                }
                transmit(queue, on: port.txSocket)
            } else {
                for i in 0..<queue.count { pool.free(queue.addresses[i]) }
            }
            queue.removeAll()
        }
    }

    /// Puts the frames of `batch` on `socket`'s TX ring and kicks
    /// (`XSKSocket.transmit(_:pool:ringSize:kicksPerBatch:kicks:)`).
    @inline(__always)
    private func transmit(_ batch: PacketBatch, on socket: XSKSocket) {
        socket.transmit(batch, pool: pool, ringSize: configuration.ringSize, kicksPerBatch: configuration.kicksPerBatch,
                        kicks: &kicks)
    }
}
