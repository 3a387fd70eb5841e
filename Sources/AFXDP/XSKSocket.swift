#if canImport(Glibc)
import Glibc
#endif
import CXDP
import XDPDatapath

/// How a socket binds: zero-copy needs driver support (not veth: EOPNOTSUPP).
public enum XSKBindMode: String, Sendable, CustomStringConvertible {
    /// Frames are copied between the driver and the UMEM: works on every driver.
    case copy
    /// The driver DMAs into the UMEM directly; fails with EOPNOTSUPP without driver support.
    case zeroCopy = "zero-copy"
    /// Zero-copy where the driver supports it, else copy.
    case auto
    /// The mode as the command line spells it (`copy`, `zero-copy`, `auto`).
    public var description: String { rawValue }
}

/// One AF_XDP socket: an (interface, queue) with its four rings over the shared UMEM.
///
/// The `xsk_ring_*` structs are allocated here and never move: libxdp keeps pointers to
/// them, and the `static inline` ring verbs of `xdp/xsk.h` (imported from the module map,
/// inlined in release builds) work on them. Only the engine's worker touches the rings.
///
/// Frame accounting per socket (worker-owned): `fillOutstanding` frames were handed to the
/// kernel through the fill ring and have not come back on RX; `txOutstanding` frames were
/// put on the TX ring and have not come back on the completion ring.
package final class XSKSocket {
    let interface: String
    let ifindex: Int32
    let queue: UInt32
    /// Index of the engine port this socket belongs to (the engine renumbers it when its
    /// interfaces change).
    package var portIndex: Int
    let umem: Umem
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let completion: UnsafeMutablePointer<xsk_ring_cons>
    package let fd: Int32
    package let zeroCopy: Bool
    private let handle: OpaquePointer

    var fillOutstanding = 0
    package var txOutstanding = 0
    /// The last kick found the device down (ENETDOWN, ENXIO): the idle loop stops kicking
    /// until the next link event clears it (AFXDPEngine+Interfaces.swift).
    package var kickRefused = false
    var counters = SocketCounters()

    package init(interface: String, ifindex: Int32, queue: UInt32, portIndex: Int, umem: Umem,
         rxSize: UInt32, txSize: UInt32, bind: XSKBindMode) throws(AFXDPError) {
        self.interface = interface
        self.ifindex = ifindex
        self.queue = queue
        self.portIndex = portIndex
        self.umem = umem
        rx = .allocate(capacity: 1)
        rx.initialize(to: xsk_ring_cons())
        tx = .allocate(capacity: 1)
        tx.initialize(to: xsk_ring_prod())
        if let first = umem.takeFirstRings() {
            fill = first.fill
            completion = first.completion
        } else {
            fill = .allocate(capacity: 1)
            fill.initialize(to: xsk_ring_prod())
            completion = .allocate(capacity: 1)
            completion.initialize(to: xsk_ring_cons())
        }
        // Sockets after the first bind with XDP_SHARED_UMEM and inherit copy/zero-copy and
        // need-wakeup from the UMEM's first socket (the kernel refuses flags on them).
        let attempts: [UInt16] = switch bind {
        case .copy: [UInt16(XDP_COPY)]
        case .zeroCopy: [UInt16(XDP_ZEROCOPY)]
        case .auto: [UInt16(XDP_ZEROCOPY), UInt16(XDP_COPY)]
        }
        var created: OpaquePointer?
        var err: Int32 = 0
        var usedZeroCopy = false
        for flags in attempts {
            var config = xsk_socket_config()
            config.rx_size = rxSize
            config.tx_size = txSize
            config.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
            config.xdp_flags = 0
            config.bind_flags = flags | UInt16(XDP_USE_NEED_WAKEUP)
            // A socket closed a moment ago (a previous engine, a run that just exited)
            // releases its queue asynchronously (the kernel clears it in deferred work that
            // takes the RTNL lock): EBUSY meanwhile, retried for `busyWait`. A queue held
            // by a live socket (another switch) is still busy after it.
            let busyDeadline = DatapathInstant.now() + Self.busyWait
            while true {
                err = xsk_socket__create_shared(&created, interface, queue, umem.handle, rx, tx, fill, completion, &config)
                guard err == -EBUSY, DatapathInstant.now() < busyDeadline else { break }
                usleep(10_000)
            }
            if err == 0 {
                usedZeroCopy = flags == UInt16(XDP_ZEROCOPY)
                break
            }
            guard err == -EOPNOTSUPP || err == -EINVAL, bind == .auto else { break }
        }
        guard err == 0, let created else {
            rx.deallocate(); tx.deallocate(); fill.deallocate(); completion.deallocate()
            var detail = [queue == 0 ? nil : "queue \(queue)"]
            if err == -EBUSY { detail.append("another AF_XDP socket still holds it after \(Self.busyWait)") }
            let words = detail.compactMap { $0 }
            throw AFXDPError(call: "xsk_socket__create_shared", errno: err == 0 ? EINVAL : err, interface: interface,
                             detail: words.isEmpty ? nil : words.joined(separator: ", "))
        }
        handle = created
        fd = xsk_socket__fd(created)
        // Close-on-exec: a child started by any thread of this process must not inherit
        // the socket and hold the queue bound after the engine closes it (see Umem).
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        zeroCopy = usedZeroCopy
    }

    /// How long a queue that answers EBUSY is tried again: long enough for the release of
    /// a socket closed a moment ago, on a loaded machine.
    static let busyWait: Duration = .seconds(15)

    deinit {
        xsk_socket__delete(handle)
        rx.deallocate()
        tx.deallocate()
        fill.deallocate()
        completion.deallocate()
    }

    /// The kernel's own counters for this socket (XDP_STATISTICS).
    func kernelStatistics() -> KernelXSKStatistics {
        var stats = xdp_statistics()
        var length = socklen_t(MemoryLayout<xdp_statistics>.size)
        guard getsockopt(fd, Int32(SOL_XDP), XDP_STATISTICS, &stats, &length) == 0 else { return KernelXSKStatistics() }
        return KernelXSKStatistics(rxDropped: stats.rx_dropped, rxInvalidDescriptors: stats.rx_invalid_descs,
                                   txInvalidDescriptors: stats.tx_invalid_descs, rxRingFull: stats.rx_ring_full,
                                   fillRingEmpty: stats.rx_fill_ring_empty_descs, txRingEmpty: stats.tx_ring_empty_descs)
    }

    /// Entries between producer and consumer of a ring, read from the shared indices.
    /// Control path only (accounting snapshots): the value may be stale by the time it is
    /// used, which the accounting tolerates by reading downstream rings first.
    static func occupancy(producer: UnsafeMutablePointer<UInt32>, consumer: UnsafeMutablePointer<UInt32>) -> Int {
        let p = UnsafeMutableRawPointer(producer).load(as: UInt32.self)
        let c = UnsafeMutableRawPointer(consumer).load(as: UInt32.self)
        return Int(p &- c)
    }
}

/// The kernel's per-socket drop counters (`struct xdp_statistics`).
public struct KernelXSKStatistics: Sendable, Equatable {
    /// Dropped for reasons other than invalid descriptors (RX).
    public var rxDropped: UInt64 = 0
    /// RX descriptors the kernel found invalid (`rx_invalid_descs`).
    public var rxInvalidDescriptors: UInt64 = 0
    /// TX descriptors the kernel refused as invalid (`tx_invalid_descs`): a frame address or length out of the UMEM.
    public var txInvalidDescriptors: UInt64 = 0
    /// Frames dropped because our RX ring was full.
    public var rxRingFull: UInt64 = 0
    /// Times the kernel found the fill ring empty.
    public var fillRingEmpty: UInt64 = 0
    /// Times the kernel found the TX ring empty when kicked.
    public var txRingEmpty: UInt64 = 0

    static func + (a: Self, b: Self) -> Self {
        Self(rxDropped: a.rxDropped + b.rxDropped, rxInvalidDescriptors: a.rxInvalidDescriptors + b.rxInvalidDescriptors,
             txInvalidDescriptors: a.txInvalidDescriptors + b.txInvalidDescriptors, rxRingFull: a.rxRingFull + b.rxRingFull,
             fillRingEmpty: a.fillRingEmpty + b.fillRingEmpty, txRingEmpty: a.txRingEmpty + b.txRingEmpty)
    }
}

/// What the worker counts per socket. Plain integers: only the worker writes them; others
/// read copies the worker publishes (`AFXDPEngine.statistics()`).
struct SocketCounters {
    var rxPackets: UInt64 = 0
    var rxBytes: UInt64 = 0
    var txPackets: UInt64 = 0
    var txBytes: UInt64 = 0
    var completed: UInt64 = 0
    /// Frames dropped because the TX ring had no room even after a kick.
    var txRingFullDrops: UInt64 = 0
    /// Times the TX ring was found full (before any retry).
    var txRingFullEvents: UInt64 = 0
    /// Times the fill ring could not be topped up because the free list was empty.
    var fillStarved: UInt64 = 0
    /// sendto() kicks for TX, and how many of them failed with something other than EAGAIN.
    var txKicks: UInt64 = 0
    var txKickErrors: UInt64 = 0
    /// recvfrom() wakeups for RX (fill ring needs_wakeup).
    var rxWakeups: UInt64 = 0
}
