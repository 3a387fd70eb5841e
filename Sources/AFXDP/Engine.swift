#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import Synchronization
import XDPDatapath

// The engine: AF_XDP sockets on real interfaces, one UMEM, one worker thread.
//
// Setup (init, control path, throws `AFXDPError`): raise RLIMIT_MEMLOCK, load the
// steering program, create the UMEM and one socket per (interface, rx queue) — all
// sharing the UMEM — put each socket in the XSKMAP, record which port owns each
// interface, and only then attach the program (a bpf_link per interface), so traffic
// is redirected only to sockets that exist. Any failure unwinds what was built: no
// program stays attached.
//
// The worker (`start()` … `stop()`) runs, per iteration:
//   1. recycle completions of every socket into the free list, top up every fill ring;
//   2. for every socket: peek ≤ batchSize RX descriptors into a `PacketBatch`, release
//      them, hand the batch to the datapath (or, in raw mode, straight to the peer port),
//      then move every port's `txQueue` onto its TX ring and kick;
//   3. when nothing moved: spin a little, then sleep in poll() (idle mode `.poll`).
// It is the only thread that touches rings, the FramePool and the Datapath: the MAC
// tables are not thread-safe, so one worker serves every port and queue.
//
// Frame ownership: see `FrameAccounting`. Frames the kernel has not returned when the
// engine stops are simply dropped with the UMEM.
//
// Thread safety: `start`, `stop`, `statistics` may be called from any thread (they
// synchronise with the worker); everything else is the worker's.
public final class Engine: @unchecked Sendable {
    /// How frames are forwarded.
    enum Mode {
        /// Through the datapath (bridges, MAC learning, VLANs...).
        case datapath
        /// The minimal forwarder: everything received on a port goes out of its peer port.
        case raw
    }

    /// One interface the engine serves.
    final class IOPort {
        let name: String
        let ifindex: Int32
        /// `Datapath.ports` index, -1 in raw mode.
        let datapathPortID: Int
        var sockets: [XSKSocket] = []
        /// Raw mode: index of the port frames received here leave by.
        var rawPeer = -1
        var link: XDPLink?
        var noTransportDrops: UInt64 = 0
        init(name: String, ifindex: Int32, datapathPortID: Int) {
            self.name = name
            self.ifindex = ifindex
            self.datapathPortID = datapathPortID
        }
        var txSocket: XSKSocket { sockets[0] }
    }

    public let configuration: EngineConfiguration
    /// The datapath the engine feeds (nil for a raw forwarder). It lives in the UMEM:
    /// do not use it to process frames after the engine is gone.
    public let datapath: Datapath?
    let mode: Mode
    let umem: Umem
    let pool: FramePool
    let steering: SteeringProgram
    let ports: [IOPort]
    /// Every socket, in service order.
    let sockets: [XSKSocket]
    /// Datapath port id → index in `ports`, -1 for ports without an interface.
    let ioPortOfDatapathPort: [Int]

    // Worker state.
    private let stopRequested = Atomic<Bool>(false)
    private let statisticsRequested = Atomic<UInt64>(0)
    private let statisticsServed = Atomic<UInt64>(0)
    private let published = Mutex(EngineStatistics())
    private let wakeFD: Int32
    private var thread: pthread_t?
    private let lifecycle = Mutex(false)   // true while running
    private var iterations: UInt64 = 0
    private var sleeps: UInt64 = 0
    private var kicksMeasured: UInt64 = 0
    private var framesKicked: UInt64 = 0
    private var maxFramesPerKick: UInt32 = 0
    private var workerCPUStart: Int64 = 0
    private var lastWorkerCPU: Int64 = 0

    /// Builds the datapath `configuration` describes and attaches to every `system` port's
    /// interface. Throws `DatapathConfigurationError` or `AFXDPError`.
    /// `makeDatapath` builds the datapath over the engine's UMEM frame pool (default:
    /// `Datapath(configuration:pool:)`; `XDPModel` passes one that reports file and line).
    public convenience init(configuration: DatapathConfiguration, options: EngineConfiguration = EngineConfiguration(),
                            makeDatapath: ((FramePool) throws -> Datapath)? = nil) throws {
        let interfaces = configuration.bridges.flatMap { $0.ports.filter { $0.type == .system }.map(\.name) }
        try self.init(mode: .datapath, interfaces: interfaces, options: options) { pool in
            if let makeDatapath { return try makeDatapath(pool) }
            return try Datapath(configuration: configuration, pool: pool)
        }
    }

    /// A minimal AF_XDP forwarder with no datapath: each pair's two interfaces forward
    /// to each other (rx → tx, frames unchanged). The I/O cost alone; `bench --raw`.
    public static func rawForwarder(pairs: [(String, String)], options: EngineConfiguration = EngineConfiguration()) throws -> Engine {
        let interfaces = pairs.flatMap { [$0.0, $0.1] }
        let engine = try Engine(mode: .raw, interfaces: interfaces, options: options) { _ in nil }
        for i in stride(from: 0, to: engine.ports.count, by: 2) {
            engine.ports[i].rawPeer = i + 1
            engine.ports[i + 1].rawPeer = i
        }
        return engine
    }

    init(mode: Mode, interfaces: [String], options: EngineConfiguration,
         makeDatapath: (FramePool) throws -> Datapath?) throws {
        precondition(options.batchSize > 0 && options.batchSize <= PacketBatch.defaultCapacity)
        self.configuration = options
        self.mode = mode
        NetworkInterface.raiseMemlockLimit()

        // Interfaces and queue counts first: a missing interface is the most common error.
        var ports: [IOPort] = []
        var queueCounts: [Int] = []
        for name in interfaces {
            let ifindex = try NetworkInterface.index(of: name)
            ports.append(IOPort(name: name, ifindex: ifindex, datapathPortID: -1))
            queueCounts.append(max(1, options.queues.map { min($0, NetworkInterface.rxQueueCount(of: name)) }
                ?? NetworkInterface.rxQueueCount(of: name)))
        }
        let socketCount = queueCounts.reduce(0, +)
        let ring = Int(options.ringSize)
        let frameCount = options.frameCount
            ?? max(4096, socketCount * 2 * ring + ports.count * 256 + 1024)

        steering = try SteeringProgram()
        umem = try Umem(frameSize: options.frameSize, frameCount: frameCount, headroom: options.headroom,
                        fillSize: options.ringSize, completionSize: options.ringSize)
        pool = umem.pool
        let datapath = try makeDatapath(pool)
        self.datapath = datapath

        // Re-create ports with their datapath ids now that the datapath exists.
        if let datapath {
            ports = ports.map { p in
                IOPort(name: p.name, ifindex: p.ifindex, datapathPortID: datapath.port(named: p.name)?.id ?? -1)
            }
        }
        var sockets: [XSKSocket] = []
        for (index, port) in ports.enumerated() {
            let queues = queueCounts[index]
            let slotBase = try steering.reserveSlots(queues, interface: port.name)
            for queue in 0..<queues {
                let socket = try XSKSocket(interface: port.name, ifindex: port.ifindex, queue: UInt32(queue),
                                           portIndex: index, umem: umem, rxSize: options.ringSize,
                                           txSize: options.ringSize, bind: options.bindMode)
                try steering.setSocket(socket.fd, slot: slotBase + UInt32(queue), interface: port.name)
                port.sockets.append(socket)
                sockets.append(socket)
            }
            try steering.setPort(ifindex: port.ifindex, portID: max(port.datapathPortID, index), slotBase: slotBase,
                                 queues: queues, interface: port.name)
        }
        var map = [Int](repeating: -1, count: datapath?.ports.count ?? 0)
        for (index, port) in ports.enumerated() where port.datapathPortID >= 0 { map[port.datapathPortID] = index }
        ioPortOfDatapathPort = map
        self.ports = ports
        self.sockets = sockets

        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw AFXDPError(call: "eventfd", errno: errno) }
        wakeFD = fd

        // Fill every socket's fill ring before attaching, so the first frames find buffers.
        for socket in sockets { refill(socket) }
        do {
            for port in ports {
                port.link = try steering.attach(interface: port.name, ifindex: port.ifindex, mode: options.attachMode)
            }
        } catch {
            // Fully initialised: deinit runs on this throw and closes the eventfd; detach
            // here anyway so nothing is attached by the time the error surfaces.
            steering.detachAll()
            throw error
        }
    }

    deinit {
        stop()
        // Order matters: detach programs (traffic goes back to the stack), then the
        // sockets (via `sockets`/`ports` release), then the UMEM (last socket's reference).
        steering.detachAll()
        Glibc.close(wakeFD)
    }

    /// Interfaces served, with the attach mode the kernel accepted.
    public var attachments: [(interface: String, mode: XDPAttachMode, queues: Int, zeroCopy: Bool, replaced: String?)] {
        ports.map { ($0.name, $0.link?.mode ?? .auto, $0.sockets.count, $0.sockets.first?.zeroCopy ?? false, $0.link?.replacedProgram) }
    }

    /// Frame size and count of the UMEM.
    public var umemFrames: (size: Int, count: Int, dataOffset: Int) { (umem.frameSize, umem.frameCount, pool.headroom) }

    // MARK: - Lifecycle

    /// Starts the worker thread. Idempotent.
    public func start() throws(AFXDPError) {
        let started: AFXDPError? = lifecycle.withLock { running in
            guard !running else { return nil }
            stopRequested.store(false, ordering: .relaxed)
            let context = Unmanaged.passRetained(self).toOpaque()
            var tid = pthread_t()
            let err = pthread_create(&tid, nil, { argument in
                let engine = Unmanaged<Engine>.fromOpaque(argument!).takeRetainedValue()
                engine.runWorker()
                return nil
            }, context)
            guard err == 0 else {
                Unmanaged<Engine>.fromOpaque(context).release()
                return AFXDPError(call: "pthread_create", errno: err)
            }
            thread = tid
            running = true
            return nil
        }
        if let started { throw started }
    }

    /// Stops the worker and waits for it. Programs stay attached until the engine is
    /// released (or `close()`), so traffic keeps arriving in the RX rings meanwhile.
    public func stop() {
        lifecycle.withLock { running in
            guard running, let thread else { return }
            stopRequested.store(true, ordering: .releasing)
            wake()
            pthread_join(thread, nil)
            self.thread = nil
            running = false
        }
    }

    /// Stops the worker and detaches from every interface now (rather than at deinit).
    public func close() {
        stop()
        steering.detachAll()
        for port in ports { port.link = nil }
    }

    public var isRunning: Bool { lifecycle.withLock { $0 } }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// A consistent snapshot of counters and frame accounting. While the worker runs, it
    /// takes the snapshot between two iterations (this call waits up to a second for it).
    public func statistics() -> EngineStatistics {
        if !isRunning { return makeStatistics(cpuSeconds: Double(lastWorkerCPU - workerCPUStart) / 1e6) }
        let ticket = statisticsRequested.add(1, ordering: .acquiringAndReleasing).newValue
        wake()
        for _ in 0..<10_000 {
            if statisticsServed.load(ordering: .acquiring) >= ticket { break }
            if !isRunning { break }
            usleep(100)
        }
        return published.withLock { $0 }
    }

    // MARK: - Worker

    private func runWorker() {
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

    /// Tops the fill ring up to its size from the free list (in steps of at least 16).
    @inline(__always)
    private func refill(_ socket: XSKSocket) {
        let want = Int(configuration.ringSize) &- socket.fillOutstanding
        guard want >= 16 || (want > 0 && socket.fillOutstanding == 0) else { return }
        let n = min(want, pool.freeCount)
        guard n > 0 else { socket.counters.fillStarved &+= 1; return }
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
    private func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    // MARK: - Statistics

    private func publishStatistics() {
        lastWorkerCPU = cxdp_thread_cpu_microseconds()
        let stats = makeStatistics(cpuSeconds: Double(lastWorkerCPU - workerCPUStart) / 1e6)
        published.withLock { $0 = stats }
    }

    /// Worker thread (or stopped engine) only.
    private func makeStatistics(cpuSeconds: Double) -> EngineStatistics {
        var stats = EngineStatistics()
        stats.iterations = iterations
        stats.sleeps = sleeps
        stats.workerCPUSeconds = cpuSeconds
        stats.framesPerKick = kicksMeasured == 0 ? 0 : Double(framesKicked) / Double(kicksMeasured)
        stats.maxFramesPerKick = maxFramesPerKick
        stats.frames = frameAccounting()
        for port in ports {
            var s = InterfaceStatistics(name: port.name, queues: port.sockets.count, attachMode: port.link?.mode ?? .auto,
                                        zeroCopy: port.sockets.first?.zeroCopy ?? false)
            var kernel = KernelXSKStatistics()
            var ringFullDrops: UInt64 = 0
            for socket in port.sockets {
                let c = socket.counters
                s.rxPackets += c.rxPackets; s.rxBytes += c.rxBytes
                s.txPackets += c.txPackets; s.txBytes += c.txBytes
                s.completed += c.completed
                s.txRingFullEvents += c.txRingFullEvents
                s.fillStarved += c.fillStarved
                s.txKicks += c.txKicks
                s.rxWakeups += c.rxWakeups
                ringFullDrops += c.txRingFullDrops
                kernel = kernel + socket.kernelStatistics()
            }
            s.kernel = kernel
            let drops: [(String, UInt64)] = [
                ("tx-ring-full", ringFullDrops), ("no-transport", port.noTransportDrops),
                ("rx-ring-full", kernel.rxRingFull), ("rx-dropped", kernel.rxDropped),
                ("rx-invalid-desc", kernel.rxInvalidDescriptors), ("tx-invalid-desc", kernel.txInvalidDescriptors),
            ]
            for (reason, count) in drops where count > 0 { s.drops[reason] = count }
            stats.interfaces.append(s)
        }
        if let datapath {
            for port in datapath.ports { stats.datapathPorts[port.name] = port.stats }
        }
        return stats
    }

    /// Worker thread (or stopped engine) only. Reads each ring's downstream index first so a
    /// frame moving during the reads lands in the kernel's share, never counted twice.
    private func frameAccounting() -> FrameAccounting {
        var a = FrameAccounting()
        a.total = umem.frameCount
        a.free = pool.freeCount
        if let datapath { a.inFlight = datapath.ports.reduce(0) { $0 + $1.txQueue.count } }
        for socket in sockets {
            let rxRing = XSKSocket.occupancy(producer: socket.rx.pointee.producer, consumer: socket.rx.pointee.consumer)
            let fillRing = XSKSocket.occupancy(producer: socket.fill.pointee.producer, consumer: socket.fill.pointee.consumer)
            a.rxRing += rxRing
            a.fillRing += fillRing
            a.kernelRX += socket.fillOutstanding - rxRing - fillRing
            let completionRing = XSKSocket.occupancy(producer: socket.completion.pointee.producer,
                                                     consumer: socket.completion.pointee.consumer)
            let txRing = XSKSocket.occupancy(producer: socket.tx.pointee.producer, consumer: socket.tx.pointee.consumer)
            a.completionRing += completionRing
            a.txRing += txRing
            a.kernelTX += socket.txOutstanding - completionRing - txRing
        }
        return a
    }
}

extension XSKSocket {
    /// Frames on the TX ring the kernel has not taken yet.
    @inline(__always)
    var txRingOccupancy: UInt32 {
        tx.pointee.cached_prod &- UnsafeMutableRawPointer(tx.pointee.consumer).load(as: UInt32.self)
    }

    @inline(__always)
    var txConsumerIndex: UInt32 { UnsafeMutableRawPointer(tx.pointee.consumer).load(as: UInt32.self) }
}
