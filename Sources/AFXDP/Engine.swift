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
//      them, hand the batch to the datapath, then move every port's `txQueue` onto its
//      TX ring and kick (the ring verbs: XSKSocket+Rings.swift);
//   3. when nothing moved: spin a little, then sleep in poll() (idle mode `.poll`).
// It is the only thread that touches rings, the FramePool and the Datapath: the MAC
// tables are not thread-safe, so one worker serves every port and queue.
//
// Frame ownership: see `FrameAccounting`. Frames the kernel has not returned when the
// engine stops are simply dropped with the UMEM.
//
// Thread safety: `start`, `stop`, `close`, `statistics`, `attachments` and `perform` may
// be called from any thread (they synchronise with the worker); everything else is the
// worker's.
//
// Why `@unchecked Sendable` holds: the compiler cannot see it because the worker's state
// is plain stored properties, not locks. Each is owned by exactly one party at a time:
// - `configuration`, `umem`, `pool`, `steering`, `sockets`, `wakeFD`,
//   `ioPortOfDatapathPort` and the ports' names, ifindices and sockets are set in init and
//   never change;
// - the rings, the frame pool, the datapath and the worker counters (`iterations`...) are
//   touched only by the worker while it runs, and otherwise only by a thread holding
//   `lifecycle` (`perform` while stopped, `stop` running orphaned jobs; see
//   Engine+Control.swift) or after `pthread_join` (statistics of a stopped engine);
//   `datapath` is internal, so other modules reach it only through `perform`;
// - `thread` and the ports' `link` change only under `lifecycle`, and are read under it;
// - what other threads read while the worker runs goes through `Atomic`s and `Mutex`es
//   (`stopRequested`, `statisticsRequested`/`published`, `controlJobs`).
public final class Engine: @unchecked Sendable {
    /// One interface the engine serves.
    final class IOPort {
        let name: String
        let ifindex: Int32
        /// `Datapath.ports` index, -1 for an interface that is no datapath port.
        let datapathPortID: Int
        var sockets: [XSKSocket] = []
        var link: XDPLink?
        var noTransportDrops: UInt64 = 0
        init(name: String, ifindex: Int32, datapathPortID: Int) {
            self.name = name
            self.ifindex = ifindex
            self.datapathPortID = datapathPortID
        }
        var txSocket: XSKSocket { sockets[0] }
    }

    /// The knobs the engine was made with.
    public let configuration: EngineConfiguration
    /// The datapath the engine feeds. It lives in the UMEM, is not thread-safe and is owned
    /// by the worker: other modules reach it only through `perform`.
    let datapath: Datapath?
    let umem: Umem
    let pool: FramePool
    let steering: SteeringProgram
    let ports: [IOPort]
    /// Every socket, in service order.
    let sockets: [XSKSocket]
    /// Datapath port id → index in `ports`, -1 for ports without an interface.
    let ioPortOfDatapathPort: [Int]

    // Worker state (Engine+Worker.swift, Engine+Statistics.swift). Only the worker writes the
    // plain counters; other threads see them through published snapshots.
    let stopRequested = Atomic<Bool>(false)
    let statisticsRequested = Atomic<UInt64>(0)
    let statisticsServed = Atomic<UInt64>(0)
    let published = Mutex(EngineStatistics())
    /// Control operations waiting for the worker (Engine+Control.swift).
    let controlJobs = Mutex<[ControlJob]>([])
    let controlPending = Atomic<Bool>(false)
    let wakeFD: Int32
    private var thread: pthread_t?
    let lifecycle = Mutex(false)   // true while running
    var iterations: UInt64 = 0
    var rxBatches: UInt64 = 0
    var sleeps: UInt64 = 0
    var kicks = KickCounters()
    var workerCPUStart: Int64 = 0
    var lastWorkerCPU: Int64 = 0

    /// Builds a datapath over the engine's UMEM and attaches to every `system` port's
    /// interface of `configuration` (and the tunnel underlay's). Throws
    /// `DatapathConfigurationError` or `AFXDPError`.
    ///
    /// **Builds only what a `DatapathConfiguration` holds** (bridges, ports, flows,
    /// routers, DHCP, tunnels, conntrack): security groups are not part of it. From a YAML
    /// file use `Engine(configuration: SwitchConfiguration, options:)` (module
    /// `XDPSwitch`), which builds exactly what `xdpswitch run` builds. `makeDatapath`
    /// replaces the datapath built over the engine's frame pool (default:
    /// `Datapath(configuration:pool:)`); its ports must still be those `configuration` names.
    public convenience init(configuration: DatapathConfiguration, options: EngineConfiguration = EngineConfiguration(),
                            makeDatapath: ((FramePool) throws -> Datapath)? = nil) throws {
        // The tunnel underlay is an interface like a system port (bridgeID -1 in the datapath).
        let interfaces = configuration.bridges.flatMap { $0.ports.filter { $0.type == .system }.map(\.name) }
            + (configuration.underlay.map { [$0.interface] } ?? [])
        try self.init(interfaces: interfaces, options: options) { pool in
            if let makeDatapath { return try makeDatapath(pool) }
            return try Datapath(configuration: configuration, pool: pool)
        }
    }

    init(interfaces: [String], options: EngineConfiguration,
         makeDatapath: (FramePool) throws -> Datapath?) throws {
        precondition(options.batchSize > 0 && options.batchSize <= PacketBatch.defaultCapacity)
        guard EngineConfiguration.isValidRingSize(Int(options.ringSize)) else {
            throw AFXDPError(call: "EngineConfiguration.ringSize", errno: EINVAL,
                             detail: "\(options.ringSize): expected \(EngineConfiguration.ringSizeRule)")
        }
        if let cpu = options.cpu, !EngineConfiguration.isValidCPU(cpu) {
            throw AFXDPError(call: "EngineConfiguration.cpu", errno: EINVAL,
                             detail: "\(cpu): expected \(EngineConfiguration.cpuRule)")
        }
        self.configuration = options
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
        if let underlay = datapath?.underlay { try Self.adoptInterfaceMAC(underlay) }

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
        lifecycle.withLock { _ in
            ports.map { ($0.name, $0.link?.mode ?? .auto, $0.sockets.count, $0.sockets.first?.zeroCopy ?? false, $0.link?.replacedProgram) }
        }
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
            runOrphanedControlJobs()
        }
    }

    /// Stops the worker and detaches from every interface now (rather than at deinit).
    public func close() {
        stop()
        lifecycle.withLock { _ in
            steering.detachAll()
            for port in ports { port.link = nil }
        }
    }

    /// Whether the worker thread runs.
    public var isRunning: Bool { lifecycle.withLock { $0 } }

    func wake() {
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
}
