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
// steering program, create the UMEM and bind its own socket to the loopback interface
// (the anchor: see below), then per interface one socket per rx queue — all sharing the
// UMEM — put each socket in the XSKMAP, record which port owns each interface, and only
// then attach the program (a bpf_link per interface), so traffic is redirected only to
// sockets that exist. Any failure unwinds what was built: no program stays attached.
//
// The anchor: the kernel lets a socket share a UMEM only through the UMEM's own socket,
// and only while that socket is bound. Were it bound to a served interface, deleting that
// interface would leave no way to open a socket for any interface that appears later. In
// copy mode (the default) the UMEM's socket is bound to the `lo` of a network namespace
// of the engine's own (`makeUmem`: made by a thread that unshares its namespace; it lives
// as long as the socket), which never goes away, is no other engine's, and never gets a
// frame (no program is attached to it, its fill ring stays empty). In zero-copy modes the
// first interface's socket is the UMEM's (zero-copy is decided by the UMEM's socket, and
// `lo` cannot do it), and interfaces then come and go only while that one stays.
//
// The worker (`start()` … `stop()`) runs, per iteration:
//   1. recycle completions of every socket into the free list, top up every fill ring;
//   2. for every socket: peek ≤ batchSize RX descriptors into a `PacketBatch`, release
//      them, hand the batch to the datapath, then move every port's `txQueue` onto its
//      TX ring and kick (the ring verbs: XSKSocket+Rings.swift);
//   3. when nothing moved: spin a little, then sleep in poll() (idle mode `.poll`);
//   4. when the link monitor reports a change (netlink, AFXDPEngine+Interfaces.swift), detach
//      the interfaces that went away and attach those that appeared.
// It is the only thread that touches rings, the FramePool and the Datapath: the MAC
// tables are not thread-safe, so one worker serves every port and queue.
//
// Frame ownership: see `FrameAccounting`. Frames the kernel has not returned when the
// engine stops are simply dropped with the UMEM.
//
// Thread safety: `start`, `stop`, `close`, `statistics`, `attachments`,
// `interfaceStates`, `perform` and `reconfigure` may be called from any thread (they
// synchronise with the worker); everything else is the worker's.
//
// Why `@unchecked Sendable` holds: the compiler cannot see it because the worker's state
// is plain stored properties, not locks. Each is owned by exactly one party at a time:
// - `configuration`, `umem`, `pool`, `steering`, `anchor`, `linkMonitor` and `wakeFD` are
//   set in init and never change;
// - the rings, the frame pool, the datapath, the interfaces (`ports`, `sockets`,
//   `ioPortOfDatapathPort`, the ports' sockets, links and states) and the worker counters
//   (`iterations`...) are touched only by the worker while it runs, and otherwise only by
//   a thread holding `lifecycle` (`perform` while stopped, `stop` running orphaned jobs;
//   see AFXDPEngine+Control.swift) or after `pthread_join` (statistics of a stopped engine);
//   `datapath` is internal, so other modules reach it only through `perform`, and it is
//   replaced only by a `reconfigure` job on the worker (AFXDPEngine+Reconfiguration.swift);
// - `thread` changes only under `lifecycle`, and is read under it;
// - what other threads read while the worker runs goes through `Atomic`s and `Mutex`es
//   (`stopRequested`, `statisticsRequested`/`published`, `controlJobs`,
//   `publishedInterfaces`).
/// The AF_XDP I/O layer: serves a `Datapath`'s ports on real interfaces through one UMEM and
/// one worker thread. `start`, `stop`, `close`, `statistics`, `perform` and `reconfigure`
/// may be called from any thread; setup failures throw `AFXDPEngineError`.
public final class AFXDPEngine: @unchecked Sendable {
    /// One interface the engine serves, attached or waiting for it to exist.
    final class IOPort {
        let name: String
        /// The interface's index while attached (0 while absent).
        var ifindex: Int32
        /// The datapath port of the interface; nil for an interface that is no datapath port.
        var datapathPortID: PortID?
        var sockets: [XSKSocket] = []
        var link: XDPLink?
        /// The interface's XSKMAP slots while attached.
        var slotBase: UInt32 = 0
        var state: InterfaceState = .absent
        /// The interface index the last failed attach was tried on (not retried for it).
        var failedIfindex: Int32 = 0
        var noTransportDrops: UInt64 = 0
        /// The counters of this port's sockets closed so far (added to the open ones').
        var closedSocketCounters: InterfaceStatistics
        /// Frames (and bytes) the in-kernel fast path took in and sent out here.
        var fastPathRx: (packets: UInt64, bytes: UInt64) = (0, 0)
        var fastPathTx: (packets: UInt64, bytes: UInt64) = (0, 0)
        init(name: String, ifindex: Int32, datapathPortID: PortID?) {
            closedSocketCounters = InterfaceStatistics(name: name, sockets: [], link: nil)
            self.name = name
            self.ifindex = ifindex
            self.datapathPortID = datapathPortID
        }
        var txSocket: XSKSocket { sockets[0] }
    }

    /// The knobs the engine was made with.
    public let configuration: EngineConfiguration
    /// The datapath the engine feeds. It lives in the UMEM, is not thread-safe and is owned
    /// by the worker: other modules reach it only through `perform`. `reconfigure`
    /// replaces it (on the worker, between two batches).
    var datapath: Datapath?
    /// Whether the engine has a datapath (fixed at init; `datapath` is the worker's).
    let hasDatapath: Bool
    let umem: Umem
    let pool: FramePool
    /// Frames the fill rings leave in the pool for the datapath (`XSKSocket.refill`): an
    /// eighth of the UMEM.
    let fillReserve: Int
    let steering: SteeringProgram
    /// The UMEM's own socket, bound to `lo` (see the top); nil in zero-copy modes.
    let anchor: XSKSocket?
    /// Every interface served or waited for, in configuration order.
    var ports: [IOPort]
    /// Every socket of an attached interface, in service order.
    var sockets: [XSKSocket]
    /// Bumped whenever `sockets` changes (the worker rebuilds its poll set).
    var socketsVersion = 0
    /// Datapath port id → index in `ports`, -1 for ports without an interface.
    var ioPortOfDatapathPort: [Int]
    /// Interface changes from the kernel (netlink); nil where netlink is unavailable (the
    /// worker then checks every second).
    let linkMonitor: LinkMonitor?
    /// When the worker last looked at the interfaces (its clock).
    var lastLinkCheck: UInt64 = 0
    /// Frames the kernel never gave back from a socket that was closed (see
    /// `closeInterface`): lost to the pool, reported in `EngineStatistics.framesLost`.
    var framesLost = 0
    /// What `attachments` and `interfaceStates` report, published by the worker.
    let publishedInterfaces = Mutex<[InterfaceSnapshot]>([])
    /// Serialises `reconfigure` calls (AFXDPEngine+Reconfiguration.swift).
    let reconfiguration = AsyncSerializer()
    /// The configuration the datapath was last built from, when the engine knows it (what
    /// `reconfigure` compares routers and DHCP responders with).
    let appliedConfiguration = Mutex<DatapathConfiguration?>(nil)

    // Worker state (AFXDPEngine+Worker.swift, AFXDPEngine+Statistics.swift). Only the worker writes the
    // plain counters; other threads see them through published snapshots.
    let stopRequested = Atomic<Bool>(false)
    let statisticsRequested = Atomic<UInt64>(0)
    let statisticsServed = Atomic<UInt64>(0)
    let published = Mutex(EngineStatistics())
    /// Control operations waiting for the worker (AFXDPEngine+Control.swift).
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
    // The fast path's state (AFXDPEngine+FastPath.swift), the worker's.
    var fastPathEntries: [FastPathKey: InstalledFastPathEntry] = [:]
    /// The tunnels installed in `fp_tunnels` (by their key bytes) and the ids they map to.
    var fastPathTunnelIDs: [[UInt8]: UInt32] = [:]
    var fastPathEvictions: UInt64 = 0
    /// `Datapath.flowTablesGeneration` when the fast path's entries were last re-checked.
    var fastPathTablesGeneration: UInt64 = 0
    /// `Datapath.neighbourChanges` when the entries were last re-checked.
    var fastPathNeighbourChanges: UInt64 = 0
    var lastFastPathSync: UInt64 = 0
    /// Frames the kernel's fast path carried (credited to the datapath so far).
    var fastPathPackets: UInt64 = 0
    var fastPathInstallErrors: UInt64 = 0
    /// Per egress ifindex: whether it accepts XDP redirects, and when that was asked.
    var fastPathEgressChecks: [Int32: (accepts: Bool, checked: UInt64)] = [:]
    /// What pinning found and did at start, one line each (`fastPathPinningReports`);
    /// written in init only.
    var fastPathPinReports: [String] = []
    /// Set by a `close()` that left the program pinned (`--on-exit keep`).
    var leavesFastPathPinned = false
    var lastWorkerCPU: Int64 = 0

    /// Builds a datapath over the engine's UMEM and attaches to every `system` port's
    /// interface of `configuration` (and the tunnel underlay's). Throws
    /// `AFXDPEngineError.configuration` with the datapath's `DatapathConfigurationError`,
    /// or `AFXDPEngineError.system` with the `AFXDPError` of the step that failed.
    ///
    /// **Builds only what a `DatapathConfiguration` holds** (bridges, ports, flows,
    /// routers, DHCP, tunnels, conntrack): security groups are not part of it. From a YAML
    /// file use `AFXDPEngine(configuration: SwitchConfiguration, options:)` (module
    /// `XDPSwitch`), which builds exactly what `xdpswitch run` builds.
    public convenience init(configuration: DatapathConfiguration,
                            options: EngineConfiguration = EngineConfiguration()) throws(AFXDPEngineError<DatapathConfigurationError>) {
        try self.init(configuration: configuration, options: options) { pool throws(DatapathConfigurationError) in
            try Datapath(configuration: configuration, pool: pool, now: DatapathInstant.now())
        }
    }

    /// Like `init(configuration:options:)`, with `makeDatapath` building the datapath over
    /// the engine's frame pool instead of `Datapath(configuration:pool:now:)`; its ports must
    /// still be those `configuration` names. What it throws is thrown as
    /// `AFXDPEngineError.configuration`.
    public convenience init<Failure: Error>(configuration: DatapathConfiguration, options: EngineConfiguration = EngineConfiguration(),
                                            makeDatapath: (FramePool) throws(Failure) -> Datapath) throws(AFXDPEngineError<Failure>) {
        try self.init(interfaces: Self.interfaces(of: configuration), options: options, makeDatapath: makeDatapath)
        appliedConfiguration.withLock { $0 = configuration }
    }

    /// The interfaces a configuration's datapath is served through: every `system` port,
    /// and the tunnel underlay's (bridgeID -1 in the datapath).
    package static func interfaces(of configuration: DatapathConfiguration) -> [String] {
        configuration.bridges.flatMap { $0.ports.filter { $0.type == .system }.map(\.name) }
            + (configuration.underlay.map { [$0.interface] } ?? [])
    }

    init<Failure: Error>(interfaces: [String], options: EngineConfiguration,
                         makeDatapath: (FramePool) throws(Failure) -> Datapath?) throws(AFXDPEngineError<Failure>) {
        precondition(options.batchSize > 0 && options.batchSize <= PacketBatch.defaultCapacity)
        guard EngineConfiguration.isValidRingSize(Int(options.ringSize)) else {
            throw .system(AFXDPError(call: "EngineConfiguration.ringSize", errno: EINVAL,
                                     detail: "\(options.ringSize): expected \(EngineConfiguration.ringSizeRule)"))
        }
        if let cpu = options.cpu, !EngineConfiguration.isValidCPU(cpu) {
            throw .system(AFXDPError(call: "EngineConfiguration.cpu", errno: EINVAL,
                                     detail: "\(cpu): expected \(EngineConfiguration.cpuRule)"))
        }
        self.configuration = options
        NetworkInterface.raiseMemlockLimit()

        // Interfaces and queue counts first: a missing interface is the most common error
        // (unless the engine waits for it).
        var ports: [IOPort] = []
        var socketCount = 0
        for name in interfaces {
            let ifindex: Int32
            do {
                ifindex = try NetworkInterface.index(of: name)
            } catch {
                guard options.waitForInterfaces, error.errno == ENODEV else { throw .system(error) }
                ifindex = 0
            }
            ports.append(IOPort(name: name, ifindex: ifindex, datapathPortID: nil))
            socketCount += ifindex == 0 ? 1 : Self.queueCount(of: name, options: options)
        }
        let ring = Int(options.ringSize)
        // The UMEM is sized once. An engine told that interfaces come and go
        // (`waitForInterfaces`: a node agent's VM taps and metadata ports) gets room for about
        // four sockets with full rings beyond what it starts with; more share what is left
        // (`fillReserve`).
        let growth = options.waitForInterfaces ? 4 * 2 * ring : 0
        let frameCount = options.frameCount
            ?? max(4096, socketCount * 2 * ring + ports.count * 256 + 1024 + growth)

        var pinReports: [String] = []
        if !options.fastPath, let pinning = options.fastPathPinning, FastPathPinning.remove(directory: pinning.directory) > 0 {
            pinReports.append("fast path: off; removed the program a previous run left pinned in \(pinning.directory)")
        }
        do {
            steering = try SteeringProgram(pinning: options.fastPath ? options.fastPathPinning : nil)
            (umem, anchor) = try Self.makeUmem(options: options, frameCount: frameCount)
        } catch {
            throw .system(error)
        }
        pool = umem.pool
        fillReserve = max(64, frameCount / 8)
        let datapath: Datapath?
        do {
            datapath = try makeDatapath(pool)
        } catch {
            throw .configuration(error)
        }
        self.datapath = datapath
        hasDatapath = datapath != nil
        if let underlay = datapath?.underlay, ports.contains(where: { $0.name == underlay.configuration.interface && $0.ifindex != 0 }) {
            do { try Self.adoptInterfaceMAC(underlay) } catch { throw .system(error) }
        }
        for port in ports { port.datapathPortID = datapath?.port(named: port.name)?.id }
        self.ports = ports
        sockets = []
        ioPortOfDatapathPort = []
        linkMonitor = LinkMonitor()

        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw .system(AFXDPError(call: "eventfd", errno: errno)) }
        wakeFD = fd

        // Sockets (their fill rings filled, so the first frames find buffers), then the
        // links. Fully initialised: deinit runs on a throw and closes what was opened;
        // detach here anyway so nothing is attached by the time the error surfaces.
        do {
            for (index, port) in ports.enumerated() where port.ifindex != 0 {
                try openInterface(port, index: index, ifindex: port.ifindex)
            }
            try prepareFastPath(datapath)
            for port in ports where port.ifindex != 0 { try attachLink(port) }
            steering.removeStalePins()
        } catch {
            steering.detachAll()
            throw .system(error)
        }
        interfacesChanged()
        fastPathPinReports = pinReports + pinningReports()
    }

    deinit {
        stop()
        // Order matters: detach programs (traffic goes back to the stack), then the
        // sockets (via `sockets`/`ports` release), then the UMEM (last socket's reference).
        // A program `close()` left pinned stays.
        if !leavesFastPathPinned { steering.detachAll() }
        Glibc.close(wakeFD)
    }

    /// Interfaces served (attached now), with the attach mode the kernel accepted.
    public var attachments: [(interface: String, mode: XDPAttachMode, queues: Int, zeroCopy: Bool, replaced: String?)] {
        publishedInterfaces.withLock { snapshot in
            snapshot.filter { $0.state == .attached }.map { ($0.name, $0.mode, $0.queues, $0.zeroCopy, $0.replaced) }
        }
    }

    /// Each interface the engine serves or waits for: attached, absent (waiting for it to
    /// appear), or failed to attach (with the reason).
    public func interfaceStates() async -> [String: InterfaceState] {
        publishedInterfaces.withLock { snapshot in
            Dictionary(snapshot.map { ($0.name, $0.state) }, uniquingKeysWith: { a, _ in a })
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
                let engine = Unmanaged<AFXDPEngine>.fromOpaque(argument!).takeRetainedValue()
                engine.runWorker()
                return nil
            }, context)
            guard err == 0 else {
                Unmanaged<AFXDPEngine>.fromOpaque(context).release()
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

    /// Stops the worker and lets go of every interface now rather than at deinit: the
    /// programs are detached and the sockets closed, so another engine or process can
    /// serve the interfaces at once (the kernel finishes releasing a queue shortly after;
    /// opening a socket waits for that). Counters and the datapath stay readable; the
    /// engine is not meant to be started again.
    ///
    /// With pinning (`EngineConfiguration.fastPathPinning`) and `onExit` `.keep`, the
    /// program, its links and maps stay pinned and attached instead, with the fast path's
    /// entries: cached flows keep moving until the next engine adopts them; the sockets
    /// close, and the program drops and counts the other frames of the served queues.
    public func close() {
        stop()
        if fastPathOn, steering.pinDirectory != nil, configuration.fastPathPinning?.onExit == .keep {
            lifecycle.withLock { _ in leaveFastPathPinned() }
            return
        }
        lifecycle.withLock { _ in
            steering.detachAll()
            for port in ports {
                port.link = nil
                if !port.sockets.isEmpty { closeInterface(port, interfaceGone: false) }
            }
            interfacesChanged()
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
