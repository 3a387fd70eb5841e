#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import CXDPShim
import Synchronization
import XDPDatapath

// The minimal AF_XDP forwarder the bench measures our datapath against (`xdpswitch bench
// --compare raw`, `make bench-check`): each pair's two interfaces forward to each other,
// every frame received on one leaves unchanged by the other, no parsing, no datapath — the
// I/O cost alone.
//
// It is built from the engine's own parts (the steering program, one UMEM, one socket per
// interface queue, and the ring verbs of XSKSocket+Rings.swift), with the engine's ring
// size, batch size, kick budget, idle spin and CPU pinning, so the ratio of the two rates
// is the datapath's cost and nothing else. One worker thread serves every socket:
//   1. recycle completions and top up the fill ring of every socket;
//   2. for every socket: take ≤ batchSize RX descriptors and put them on the peer's TX ring;
//   3. when nothing moved: kick TX rings the kernel has not drained, spin, then sleep in
//      poll() (1 ms while frames are out, else until traffic arrives).
// Not part of any product: the library's `AFXDPEngine` has only the datapath.

/// Forwards each pair's interfaces to each other over AF_XDP, frames unchanged.
///
/// Why `@unchecked Sendable` holds: `configuration`, `umem`, `pool`, `steering`,
/// `interfaces`, `sockets` and `peer` are set in init and never change (the objects behind
/// `umem`, `pool` and `sockets` are used by init, then only by the worker; `umemFrames`
/// reads their constants). The worker counters (`iterations`, `sleeps`, `rxBatches`,
/// `kicks`, `cpuStart`) are touched only by the worker (`runWorker` and the `publish` it
/// calls); one worker runs at a time, and the next starts after the last was joined.
/// `thread` is behind its mutex, held by `start`, `stop` (through the join) and `close`;
/// `links` is written only by init and by `close` under that mutex with no worker running,
/// and read by the worker, which runs only between a `start` and the next join. Other
/// threads see the worker's figures only through the atomics and `published` (a mutex).
public final class RawForwarder: @unchecked Sendable {
    public let configuration: EngineConfiguration
    private let umem: Umem
    private let pool: FramePool
    private let steering: SteeringProgram
    private let interfaces: [String]
    /// Sockets per interface, in `interfaces` order; `peer[i]` is the index frames received
    /// on interface `i` leave by.
    private let sockets: [[XSKSocket]]
    private let peer: [Int]
    private var links: [XDPLink?]
    private let stopRequested = Atomic<Bool>(false)
    private let statisticsWanted = Atomic<Bool>(false)
    private let published = Mutex(EngineStatistics())
    /// The running worker (held while it is joined: the worker never takes it).
    private let thread = Mutex<pthread_t?>(nil)

    // Worker-owned counters.
    private var iterations: UInt64 = 0
    private var sleeps: UInt64 = 0
    private var rxBatches: UInt64 = 0
    private var kicks = KickCounters()
    private var cpuStart: Int64 = 0

    /// Opens sockets on every interface of `pairs` (inside the caller's network namespace)
    /// and attaches the steering program; throws `AFXDPError` and leaves nothing attached.
    public init(pairs: [(String, String)], options: EngineConfiguration = EngineConfiguration()) throws {
        precondition(options.batchSize > 0 && options.batchSize <= PacketBatch.defaultCapacity)
        configuration = options
        interfaces = pairs.flatMap { [$0.0, $0.1] }
        peer = interfaces.indices.map { $0 ^ 1 }
        NetworkInterface.raiseMemlockLimit()
        let indexes = try interfaces.map { name throws(AFXDPError) in try NetworkInterface.index(of: name) }
        let queues = interfaces.map { name in
            max(1, min(options.queues ?? Int.max, NetworkInterface.rxQueueCount(of: name)))
        }
        let socketCount = queues.reduce(0, +)
        let steering = try SteeringProgram()
        let umem = try Umem(frameSize: options.frameSize,
                            frameCount: options.frameCount ?? max(4096, socketCount * 2 * Int(options.ringSize) + 1024),
                            headroom: options.headroom, fillSize: options.ringSize, completionSize: options.ringSize)
        let pool = umem.pool
        (self.steering, self.umem, self.pool) = (steering, umem, pool)
        var sockets: [[XSKSocket]] = []
        for (i, name) in interfaces.enumerated() {
            let first = try steering.reserveSlots(queues[i], interface: name)
            sockets.append(try (0..<queues[i]).map { queue throws(AFXDPError) in
                let socket = try XSKSocket(interface: name, ifindex: indexes[i], queue: UInt32(queue), portIndex: i,
                                           umem: umem, rxSize: options.ringSize, txSize: options.ringSize,
                                           bind: options.bindMode)
                try steering.setSocket(socket.fd, slot: first + UInt32(queue), interface: name)
                socket.refill(from: pool, ringSize: options.ringSize, reserve: 0)
                return socket
            })
            try steering.setPort(ifindex: indexes[i], portID: i, slotBase: first, queues: queues[i], interface: name)
        }
        self.sockets = sockets
        var links: [XDPLink?] = []
        do {
            for (i, name) in interfaces.enumerated() {
                links.append(try steering.attach(interface: name, ifindex: indexes[i], mode: options.attachMode))
            }
        } catch {
            steering.detachAll()
            throw error
        }
        self.links = links
    }

    deinit {
        stop()
        steering.detachAll()
    }

    /// Starts the worker thread.
    public func start() throws(AFXDPError) {
        try thread.withLock { (thread: inout pthread_t?) throws(AFXDPError) in
            guard thread == nil else { return }
            stopRequested.store(false, ordering: .relaxed)
            thread = try startLabThread { self.runWorker() }
        }
    }

    /// Stops the worker and waits for it.
    public func stop() {
        thread.withLock { stopWorker(&$0) }
    }

    /// Stops the worker and detaches from every interface now.
    public func close() {
        thread.withLock {
            stopWorker(&$0)
            steering.detachAll()
            links = links.map { _ in nil }
        }
    }

    /// `stop()` with `thread` locked.
    private func stopWorker(_ thread: inout pthread_t?) {
        guard let running = thread else { return }
        stopRequested.store(true, ordering: .releasing)
        pthread_join(running, nil)
        thread = nil
    }

    /// Frame size and count of the UMEM, and where the kernel puts received data in a frame.
    public var umemFrames: (size: Int, count: Int, dataOffset: Int) { (umem.frameSize, umem.frameCount, pool.headroom) }

    /// Counters in the engine's terms (interfaces, loop iterations, sleeps, RX batches,
    /// worker CPU, frames per kick), taken by the worker between two iterations.
    public func statistics() -> EngineStatistics {
        guard thread.withLock({ $0 != nil }) else { return published.withLock { $0 } }
        statisticsWanted.store(true, ordering: .releasing)
        for _ in 0..<10_000 where statisticsWanted.load(ordering: .acquiring) { usleep(100) }
        return published.withLock { $0 }
    }

    private func publish() {
        var stats = EngineStatistics()
        stats.iterations = iterations
        stats.sleeps = sleeps
        stats.rxBatches = rxBatches
        stats.workerCPUTime = .microseconds(cxdp_thread_cpu_microseconds() - cpuStart)
        stats.framesPerKick = kicks.framesPerKick
        stats.maxFramesPerKick = kicks.maximum
        stats.frames = FrameAccounting(total: umem.frameCount, free: pool.freeCount, inFlight: 0,
                                       sockets: sockets.flatMap { $0 })
        stats.interfaces = interfaces.indices.map {
            InterfaceStatistics(name: interfaces[$0], sockets: sockets[$0], link: links[$0])
        }
        published.withLock { $0 = stats }
    }

    private func runWorker() {
        if let cpu = configuration.cpu { _ = cxdp_pin_thread(Int32(cpu)) }
        cpuStart = cxdp_thread_cpu_microseconds()
        let batch = PacketBatch(capacity: PacketBatch.defaultCapacity)
        let all = sockets.flatMap { $0 }
        var pollFDs = all.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        let (ring, limit, budget) = (configuration.ringSize, configuration.batchSize, configuration.kicksPerBatch)
        var idle = 0
        while !stopRequested.load(ordering: .relaxed) {
            iterations &+= 1
            var moved = 0
            for socket in all {
                moved &+= socket.reclaimCompletions(into: pool, ringSize: ring)
                socket.refill(from: pool, ringSize: ring, reserve: 0)
            }
            for socket in all {
                let n = socket.receive(into: batch, limit: limit)
                guard n > 0 else { continue }
                rxBatches &+= 1
                moved &+= n
                sockets[peer[socket.portIndex]][0].transmit(batch, pool: pool, ringSize: ring, kicksPerBatch: budget,
                                                            kicks: &kicks)
                batch.removeAll()
            }
            if statisticsWanted.load(ordering: .acquiring) {
                publish()
                statisticsWanted.store(false, ordering: .releasing)
            }
            if moved != 0 { idle = 0; continue }
            idle &+= 1
            for socket in all where socket.txRingOccupancy > 0 { socket.kick(&kicks) }
            if configuration.idle == .busyPoll && idle & 63 == 0 { for socket in all { socket.wakeFillIfNeeded() } }
            guard configuration.idle == .poll && idle > configuration.spinIterations else { continue }
            sleeps &+= 1
            let outstanding = all.contains { $0.txOutstanding > 0 }
            _ = poll(&pollFDs, nfds_t(pollFDs.count), outstanding ? 1 : 100)
            for socket in all { socket.wakeFillIfNeeded() }
        }
        publish()
        statisticsWanted.store(false, ordering: .releasing)
    }
}
