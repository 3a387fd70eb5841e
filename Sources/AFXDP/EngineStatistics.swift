import XDPDatapath

/// Where every UMEM frame is at one moment, from the worker's point of view.
///
/// The invariant of the I/O layer: each frame is in exactly one place and
/// `sum == total`. Places the kernel owns are derived from ring indices, read
/// downstream-first so that a frame moving while we read is counted once:
/// - `fillRing`: handed to the kernel, not yet taken for a packet;
/// - `kernelRX`: taken from the fill ring, being written (between fill and RX ring);
/// - `rxRing`: received, waiting for the worker;
/// - `inFlight`: in the worker's batch or a datapath port's `txQueue`;
/// - `txRing`: submitted for transmission, not yet taken by the kernel;
/// - `kernelTX`: taken by the kernel (an skb in copy mode), not yet completed;
/// - `completionRing`: transmitted, waiting for the worker to recycle it;
/// - `free`: in the `FramePool` free list.
public struct FrameAccounting: Sendable, Equatable, CustomStringConvertible {
    /// Frames in the UMEM.
    public var total = 0
    /// Frames in the `FramePool` free list.
    public var free = 0
    /// Frames handed to the kernel on fill rings, not yet taken for a packet.
    public var fillRing = 0
    /// Frames the kernel took from a fill ring and is writing (not yet on an RX ring).
    public var kernelRX = 0
    /// Received frames waiting on RX rings for the worker.
    public var rxRing = 0
    /// Frames in the worker's batch or in a datapath port's `txQueue`.
    public var inFlight = 0
    /// Frames submitted on TX rings, not yet taken by the kernel.
    public var txRing = 0
    /// Frames the kernel took for transmission and has not completed.
    public var kernelTX = 0
    /// Transmitted frames on completion rings, waiting to be recycled.
    public var completionRing = 0

    /// Every place zero; the worker fills it in.
    public init() {}

    /// The frames found in all places together; equals `total` when nothing is lost or counted twice.
    public var sum: Int { free + fillRing + kernelRX + rxRing + inFlight + txRing + kernelTX + completionRing }

    /// Every frame accounted for exactly once, no place negative.
    public var isBalanced: Bool {
        sum == total && [free, fillRing, kernelRX, rxRing, inFlight, txRing, kernelTX, completionRing].allSatisfy { $0 >= 0 }
    }

    /// One line with every place, e.g. `frames 8192: free 100 fill 4096 ... (sum 8192)`.
    public var description: String {
        "frames \(total): free \(free) fill \(fillRing) kernel-rx \(kernelRX) rx \(rxRing) in-flight \(inFlight) "
            + "tx \(txRing) kernel-tx \(kernelTX) completion \(completionRing) (sum \(sum))"
    }
}

extension FrameAccounting {
    /// Where the `total` frames of a UMEM are: `free` in the pool, `inFlight` held by the
    /// datapath, the rest in the rings of `sockets` and the kernel. Worker thread (or a
    /// stopped worker) only. Reads each ring's downstream index first so a frame moving
    /// during the reads lands in the kernel's share, never counted twice.
    package init(total: Int, free: Int, inFlight: Int, sockets: [XSKSocket]) {
        self.init()
        self.total = total
        self.free = free
        self.inFlight = inFlight
        for socket in sockets {
            let rxRing = XSKSocket.occupancy(producer: socket.rx.pointee.producer, consumer: socket.rx.pointee.consumer)
            let fillRing = XSKSocket.occupancy(producer: socket.fill.pointee.producer, consumer: socket.fill.pointee.consumer)
            self.rxRing += rxRing
            self.fillRing += fillRing
            kernelRX += socket.fillOutstanding - rxRing - fillRing
            let completionRing = XSKSocket.occupancy(producer: socket.completion.pointee.producer,
                                                     consumer: socket.completion.pointee.consumer)
            let txRing = XSKSocket.occupancy(producer: socket.tx.pointee.producer, consumer: socket.tx.pointee.consumer)
            self.completionRing += completionRing
            self.txRing += txRing
            kernelTX += socket.txOutstanding - completionRing - txRing
        }
    }
}

/// I/O counters of one interface (all its queues).
public struct InterfaceStatistics: Sendable, Equatable {
    /// The interface's name (`veth0`).
    public var name: String
    /// Sockets (rx queues) the engine serves on it.
    public var queues: Int
    /// The mode the kernel accepted for the steering program (`.auto` when not attached).
    public var attachMode: XDPAttachMode
    /// Whether its sockets are bound zero-copy.
    public var zeroCopy: Bool
    /// Frames taken off its RX rings.
    public var rxPackets: UInt64 = 0
    /// Bytes of those frames (Ethernet header on, no FCS).
    public var rxBytes: UInt64 = 0
    /// Frames submitted to its TX rings.
    public var txPackets: UInt64 = 0
    /// Bytes of those frames.
    public var txBytes: UInt64 = 0
    /// Frames the kernel reported transmitted (completion ring).
    public var completed: UInt64 = 0
    /// Drops by reason, counted by the worker (`tx-ring-full`, `no-transport`) and the
    /// kernel (`rx-ring-full`, `rx-dropped`, `rx-invalid-desc`, `tx-invalid-desc`).
    public var drops: [String: UInt64] = [:]
    /// Times the TX ring was found without room for a whole batch.
    public var txRingFullEvents: UInt64 = 0
    /// Times the free list could not refill the fill ring.
    public var fillStarved: UInt64 = 0
    /// TX kicks (sendto) issued to make the kernel send what the TX rings hold.
    public var txKicks: UInt64 = 0
    /// RX wakeups (recvfrom) issued because the fill ring asked for one (need-wakeup).
    public var rxWakeups: UInt64 = 0
    /// The kernel's counters (XDP_STATISTICS), summed over queues.
    public var kernel = KernelXSKStatistics()
    /// Frames received here that the in-kernel fast path forwarded: they never reached an
    /// RX ring, so `rxPackets` does not count them (AFXDPEngine+FastPath.swift).
    public var fastPathRxPackets: UInt64 = 0
    /// Bytes of those frames, as they entered.
    public var fastPathRxBytes: UInt64 = 0
    /// Frames the in-kernel fast path sent out of this interface (redirected to it, never
    /// on a TX ring, so not in `txPackets`).
    public var fastPathTxPackets: UInt64 = 0
    /// Bytes of those frames, as they left (a VLAN tag pushed or popped counted).
    public var fastPathTxBytes: UInt64 = 0

    /// All drops of the interface, every reason together.
    public var totalDrops: UInt64 { drops.values.reduce(0, +) }
    /// Frames received here by either path: off the RX rings and by the in-kernel fast path.
    public var receivedPackets: UInt64 { rxPackets + fastPathRxPackets }
    /// Frames sent out of here by either path: onto the TX rings and by the in-kernel fast path.
    public var sentPackets: UInt64 { txPackets + fastPathTxPackets }

    /// The counters of `sockets` (one interface's queues) summed, the kernel's read now.
    /// Worker thread (or a stopped worker) only.
    package init(name: String, sockets: [XSKSocket], link: XDPLink?, noTransportDrops: UInt64 = 0) {
        self.name = name
        queues = sockets.count
        attachMode = link?.mode ?? .auto
        zeroCopy = sockets.first?.zeroCopy ?? false
        var ringFullDrops: UInt64 = 0
        for socket in sockets {
            let c = socket.counters
            rxPackets += c.rxPackets; rxBytes += c.rxBytes
            txPackets += c.txPackets; txBytes += c.txBytes
            completed += c.completed
            txRingFullEvents += c.txRingFullEvents
            fillStarved += c.fillStarved
            txKicks += c.txKicks
            rxWakeups += c.rxWakeups
            ringFullDrops += c.txRingFullDrops
            kernel = kernel + socket.kernelStatistics()
        }
        let drops: [(String, UInt64)] = [
            ("tx-ring-full", ringFullDrops), ("no-transport", noTransportDrops),
            ("rx-ring-full", kernel.rxRingFull), ("rx-dropped", kernel.rxDropped),
            ("rx-invalid-desc", kernel.rxInvalidDescriptors), ("tx-invalid-desc", kernel.txInvalidDescriptors),
        ]
        for (reason, count) in drops where count > 0 { self.drops[reason] = count }
    }

    /// Adds the counters of `other` (the same interface's sockets closed earlier: a lost
    /// interface, a closed engine), so that an interface's counters only ever grow.
    package mutating func add(_ other: InterfaceStatistics) {
        rxPackets += other.rxPackets; rxBytes += other.rxBytes
        txPackets += other.txPackets; txBytes += other.txBytes
        completed += other.completed
        txRingFullEvents += other.txRingFullEvents
        fillStarved += other.fillStarved
        txKicks += other.txKicks
        rxWakeups += other.rxWakeups
        kernel = kernel + other.kernel
        fastPathRxPackets += other.fastPathRxPackets; fastPathRxBytes += other.fastPathRxBytes
        fastPathTxPackets += other.fastPathTxPackets; fastPathTxBytes += other.fastPathTxBytes
        drops.merge(other.drops, uniquingKeysWith: +)
    }
}

/// A consistent picture of an `AFXDPEngine`, taken by its worker between two loop iterations.
public struct EngineStatistics: Sendable {
    /// Counters of each served interface, in the engine's interface order.
    public var interfaces: [InterfaceStatistics] = []
    /// The datapath's own per-port counters (forwarding decisions, drops by reason).
    public var datapathPorts: [String: PortStats] = [:]
    /// Where every UMEM frame was at the moment of the snapshot.
    public var frames = FrameAccounting()
    /// Worker loop iterations since the worker started.
    public var iterations: UInt64 = 0
    /// Worker loop iterations that ended asleep in poll() (`IdleMode.poll` only).
    public var sleeps: UInt64 = 0
    /// RX batches taken off the rings (RX packets / batches = frames per batch; against
    /// `iterations`, how often the worker found work).
    public var rxBatches: UInt64 = 0
    /// CPU time (user + system) of the worker thread since it started. In copy mode this
    /// includes the kernel's TX work, which runs inside the worker's sendto() kicks.
    public var workerCPUTime: Duration = .zero
    /// Frames the kernel took from a TX ring per kick, on average (copy mode sends a
    /// limited batch per kick).
    public var framesPerKick: Double = 0
    /// The most frames the kernel took from a TX ring in one kick.
    public var maxFramesPerKick: UInt32 = 0
    /// Frames the kernel never gave back from the sockets of an interface that was closed
    /// (`AFXDPEngine+Interfaces.swift`): gone from the pool, so `frames` is short of them.
    public var framesLost = 0
    /// Entries in the in-kernel fast path; 0 with the fast path off.
    public var fastPathEntries = 0
    /// Frames the in-kernel fast path forwarded so far (already in the datapath's port counters).
    public var fastPathPackets: UInt64 = 0
    /// Frames of served queues the steering program dropped because their socket was gone:
    /// the daemon away, its program left pinned (SteeringPins.swift). Counted by the
    /// program since its maps were made, so across restarts while they stay pinned.
    public var framesDroppedWithoutSocket: UInt64 = 0

    /// An empty snapshot; the worker fills it in.
    public init() {}

    /// The counters of the interface called `name`, nil when the engine does not serve it.
    public func interface(_ name: String) -> InterfaceStatistics? { interfaces.first { $0.name == name } }

    /// Frames received on all interfaces.
    public var rxPackets: UInt64 { interfaces.reduce(0) { $0 + $1.rxPackets } }
    /// Frames submitted for transmission on all interfaces.
    public var txPackets: UInt64 { interfaces.reduce(0) { $0 + $1.txPackets } }
}
