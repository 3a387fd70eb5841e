#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import Synchronization
import XDPDatapath

// Interfaces that come and go under a running engine.
//
// Each interface the configuration names is an `IOPort`: attached (its sockets in the
// XSKMAP, the steering program linked to it) or absent (no interface of that name, or
// one that failed to attach). The worker learns of changes from the kernel: a NETLINK_ROUTE
// socket subscribed to link events (`LinkMonitor`) is in its poll set, and is read at most
// every 100 ms while traffic flows. Any link event makes the worker compare each port's
// interface index with the one the kernel has for its name now (`checkInterfaces`):
// - attached, and the name is gone or names another interface (deleted, or deleted and
//   created again): the port is closed (`closeInterface`) and goes down;
// - absent, and the name exists: the port is opened and attached (`openInterface`,
//   `attachLink`); a failure (a foreign XDP program, no queue) leaves it `.failed`, and it
//   is tried again only for another interface of that name.
// Without netlink the check runs every second.
//
// Closing an interface gives every frame its sockets held back to the pool: the program
// is detached and the XSKMAP slots emptied first (no new frame can arrive), then the
// completion, RX, fill and TX rings are read out — the kernel no longer consumes them —
// and the frames the kernel took for transmission are waited for on the completion ring
// (briefly: a copy-mode transmission completes within the kick, and a deleted device frees
// its packets as it goes). Only then is the socket closed. A frame that never comes back
// is counted in `EngineStatistics.framesLost`, so the accounting shows it. A down port's
// frames (the datapath still forwards to it) are freed by the worker and counted as
// `port-down` drops on the port; nothing kicks a socket that is gone. A device that is
// only down (`ip link set down`) keeps its sockets; once a kick is refused (ENETDOWN) the
// idle loop stops kicking it until the next link event.

/// Where the interface of a datapath port stands.
public enum InterfaceState: Sendable, Equatable, CustomStringConvertible {
    /// Served: the steering program is attached and its sockets receive.
    case attached
    /// No interface of that name (never was, or deleted): the port is down and is
    /// attached when the interface appears.
    case absent
    /// The interface exists but could not be attached (the reason); tried again when an
    /// interface of that name appears anew.
    case failed(String)

    /// `attached`, `absent`, or `failed: REASON`, as `show` prints it.
    public var description: String {
        switch self {
        case .attached: "attached"
        case .absent: "absent"
        case .failed(let reason): "failed: \(reason)"
        }
    }
}

/// What other threads see of one interface (published by the worker).
struct InterfaceSnapshot: Sendable {
    var name: String
    var state: InterfaceState
    var mode: XDPAttachMode
    var queues: Int
    var zeroCopy: Bool
    var replaced: String?
}

/// A NETLINK_ROUTE socket subscribed to link events (RTMGRP_LINK), non-blocking.
final class LinkMonitor {
    let fd: Int32

    /// nil when the kernel refuses the socket (the engine then polls the interfaces).
    init?() {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                        NETLINK_ROUTE)
        guard fd >= 0 else { return nil }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = 1  // RTMGRP_LINK (linux/rtnetlink.h)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard bound == 0 else { Glibc.close(fd); return nil }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Reads every pending message; true when any arrived (or some were lost: ENOBUFS).
    /// Which links changed does not matter: the engine checks all of its own.
    func drain() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 8192)
        var changed = false
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { changed = true; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == ENOBUFS { changed = true; continue }
            return changed
        }
    }
}

/// Runs a body once on a thread of its own that has left for a new network namespace
/// (`unshare(CLONE_NEWNET)`); the calling thread's namespace is untouched.
///
/// Why `@unchecked Sendable` holds: `body` is set in init and never changes; `entered` is
/// written only by the started thread, and read by the caller of `run` only after
/// `pthread_join`, which orders the two. Only these two threads ever reach the box (it
/// goes to the new thread through `pthread_create`'s argument), and the caller is blocked
/// in `pthread_join` while `body` runs, so `body` and what it captures are touched by one
/// thread at a time.
private final class PrivateNamespaceThread: @unchecked Sendable {
    private let body: () -> Void
    private var entered = false

    private init(_ body: @escaping () -> Void) { self.body = body }

    /// Whether the namespace was made and `body` ran in it.
    static func run(_ body: @escaping () -> Void) -> Bool {
        let box = PrivateNamespaceThread(body)
        let context = Unmanaged.passRetained(box).toOpaque()
        var thread = pthread_t()
        let err = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<PrivateNamespaceThread>.fromOpaque(argument!).takeRetainedValue()
            box.entered = cxdp_unshare_netns() == 0
            if box.entered { box.body() }
            return nil
        }, context)
        guard err == 0 else {
            Unmanaged<PrivateNamespaceThread>.fromOpaque(context).release()
            return false
        }
        pthread_join(thread, nil)
        return box.entered
    }
}

/// Runs async bodies one at a time, in call order.
final class AsyncSerializer: Sendable {
    private let state = Mutex<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T, Failure: Error>(_ body: () async throws(Failure) -> T) async throws(Failure) -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                guard state.busy else { state.busy = true; return true }
                state.waiting.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.waiting.isEmpty else { state.busy = false; return nil }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}

extension AFXDPEngine {
    /// Rx queues served on interface `name`.
    static func queueCount(of name: String, options: EngineConfiguration) -> Int {
        max(1, options.queues.map { min($0, NetworkInterface.rxQueueCount(of: name)) } ?? NetworkInterface.rxQueueCount(of: name))
    }

    /// The UMEM, and in copy mode its own socket bound to the loopback interface of a
    /// network namespace of its own (see the top of AFXDPEngine.swift): made on a thread that
    /// unshares its network namespace, so the UMEM's socket lives there (the namespace
    /// lives as long as the socket, and goes with the process however it ends) and no two
    /// engines contend for one `lo`. Where a namespace cannot be made, the anchor is this
    /// namespace's `lo` if free, else there is none.
    static func makeUmem(options: EngineConfiguration, frameCount: Int) throws(AFXDPError) -> (Umem, XSKSocket?) {
        func umem() throws(AFXDPError) -> Umem {
            try Umem(frameSize: options.frameSize, frameCount: frameCount, headroom: options.headroom,
                     fillSize: options.ringSize, completionSize: options.ringSize)
        }
        func anchor(_ umem: Umem) throws(AFXDPError) -> XSKSocket {
            let lo = try NetworkInterface.index(of: "lo")
            return try XSKSocket(interface: "lo", ifindex: lo, queue: 0, portIndex: -1, umem: umem,
                                 rxSize: options.ringSize, txSize: options.ringSize, bind: .copy)
        }
        guard options.bindMode == .copy else { return (try umem(), nil) }
        var isolated: (Umem, XSKSocket)?
        _ = PrivateNamespaceThread.run {
            guard let made = try? umem() else { return }
            if let socket = try? anchor(made) { isolated = (made, socket) }
        }
        if let isolated { return isolated }
        let made = try umem()
        return (made, try? anchor(made))
    }

    /// Opens `port`'s sockets on interface `ifindex` (one per queue), puts them in the
    /// XSKMAP and fills their fill rings; the link comes after (`attachLink`). On a throw
    /// nothing stays open. Worker (or init, or a stopped engine under `lifecycle`) only.
    func openInterface(_ port: IOPort, index: Int, ifindex: Int32) throws(AFXDPError) {
        let queues = Self.queueCount(of: port.name, options: configuration)
        let slotBase = try steering.reserveSlots(queues, interface: port.name)
        var opened: [XSKSocket] = []
        do {
            for queue in 0..<queues {
                let socket = try XSKSocket(interface: port.name, ifindex: ifindex, queue: UInt32(queue), portIndex: index,
                                           umem: umem, rxSize: configuration.ringSize, txSize: configuration.ringSize,
                                           bind: configuration.bindMode)
                opened.append(socket)
                try steering.setSocket(socket.fd, slot: slotBase + UInt32(queue), interface: port.name)
            }
            try steering.setPort(ifindex: ifindex, portID: max(port.datapathPortID?.index ?? -1, index), slotBase: slotBase,
                                 queues: queues, interface: port.name)
        } catch {
            steering.releaseSlots(slotBase, count: queues)
            throw error
        }
        for socket in opened { refill(socket) }
        port.sockets = opened
        port.slotBase = slotBase
        port.ifindex = ifindex
    }

    /// Attaches the steering program to `port`'s interface (its sockets are open): from
    /// here on its traffic arrives. On a throw the port is closed again.
    func attachLink(_ port: IOPort) throws(AFXDPError) {
        do {
            port.link = try steering.attach(interface: port.name, ifindex: port.ifindex, mode: configuration.attachMode)
            port.state = .attached
            port.failedIfindex = 0
        } catch {
            closeInterface(port, interfaceGone: false)
            throw error
        }
    }

    /// Detaches `port`, gives every frame its sockets hold back to the pool and closes them
    /// (see the top). `interfaceGone`: the kernel already unbound the sockets (the
    /// interface was deleted), so nothing can arrive any more. Returns the frames reclaimed.
    @discardableResult
    func closeInterface(_ port: IOPort, interfaceGone: Bool) -> Int {
        if let link = port.link { steering.detach(link) }
        port.link = nil
        if !port.sockets.isEmpty {
            // A program left pinned keeps the port: its fast path goes on, the rest is dropped.
            if !leavesFastPathPinned { steering.removePort(ifindex: port.ifindex) }
            steering.releaseSlots(port.slotBase, count: port.sockets.count)
            // A frame the program was redirecting when it was detached lands within
            // microseconds (softirq); wait that out before reading the rings.
            if !interfaceGone { usleep(2_000) }
        }
        var reclaimed = 0
        for socket in port.sockets {
            let result = socket.reclaimAll(into: pool, ringSize: configuration.ringSize)
            reclaimed += result.reclaimed
            framesLost += result.lost
        }
        port.closedSocketCounters.add(InterfaceStatistics(name: port.name, sockets: port.sockets, link: nil))
        port.sockets = []
        port.ifindex = 0
        port.state = .absent
        return reclaimed
    }

    /// Compares each port's interface with what the kernel has now, closing those gone and
    /// opening those that appeared (see the top). Worker (or a stopped engine) only.
    /// Returns whether anything changed.
    @discardableResult
    func checkInterfaces() -> Bool {
        // A device that refused kicks as down may be up again: the idle loop retries.
        for socket in sockets { socket.kickRefused = false }
        var changed = false
        for (index, port) in ports.enumerated() {
            let current = Int32(bitPattern: if_nametoindex(port.name))
            if port.state == .attached {
                guard current != port.ifindex else { continue }
                closeInterface(port, interfaceGone: true)
                changed = true
            }
            guard current != 0, port.state != .attached, current != port.failedIfindex else { continue }
            changed = true
            do {
                try openInterface(port, index: index, ifindex: current)
                try attachLink(port)
                if let underlay = datapath?.underlay, underlay.configuration.interface == port.name {
                    try? Self.adoptInterfaceMAC(underlay)
                }
            } catch {
                port.state = .failed(error.description)
                port.failedIfindex = current
            }
        }
        if changed { interfacesChanged() }
        return changed
    }

    /// After `ports` or their sockets changed: the socket list and the maps between
    /// datapath ports and interfaces, the datapath ports' `linkDown`, and what other
    /// threads see. Worker (or init, or a stopped engine) only.
    func interfacesChanged() {
        if fastPathOn && !leavesFastPathPinned { fastPathFlush(datapath) }
        var all: [XSKSocket] = []
        var map = [Int](repeating: -1, count: datapath?.ports.count ?? 0)
        for (index, port) in ports.enumerated() {
            port.datapathPortID = datapath?.port(named: port.name)?.id
            if let id = port.datapathPortID { map[id.index] = index }
            for socket in port.sockets {
                socket.portIndex = index
                all.append(socket)
            }
            if let datapath, let id = port.datapathPortID {
                datapath[id].linkDown = port.state == .attached ? nil : "\(port.state)"
            }
        }
        sockets = all
        ioPortOfDatapathPort = map
        socketsVersion &+= 1
        let snapshot = ports.map {
            InterfaceSnapshot(name: $0.name, state: $0.state, mode: $0.link?.mode ?? .auto, queues: $0.sockets.count,
                              zeroCopy: $0.sockets.first?.zeroCopy ?? false, replaced: $0.link?.replacedProgram)
        }
        publishedInterfaces.withLock { $0 = snapshot }
    }

    /// Worker side: reads the link monitor at most every 100 ms (or when poll said it is
    /// readable), or checks every second without one.
    func pollLinkChanges(now: UInt64, readable: Bool) {
        if let linkMonitor {
            guard readable || now &- lastLinkCheck >= 100_000_000 else { return }
            lastLinkCheck = now
            if linkMonitor.drain() { checkInterfaces() }
        } else {
            guard now &- lastLinkCheck >= 1_000_000_000 else { return }
            lastLinkCheck = now
            checkInterfaces()
        }
    }
}
