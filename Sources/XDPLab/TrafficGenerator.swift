#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import CXDP
import CXDPShim
import Synchronization

/// A load generator: `bpf/lab/traffic_gen.bpf.c` run with BPF_PROG_RUN and
/// BPF_F_TEST_XDP_LIVE_FRAMES. The kernel replays one template frame `repeat` times per
/// call as if it arrived on `interface`; the program answers XDP_TX, so every copy leaves
/// through `interface` (on a veth: arrives on the peer, which needs an XDP program or GRO).
/// xdp-trafficgen does the same and fails on this kernel with xdp-tools 1.3.1.
///
/// Where the kernel refuses live frames (EPERM: kernel lockdown or a security module), the
/// generator sends the same frames through a raw packet socket without the qdisc
/// (`usesPacketSocket`): fewer frames per CPU second, the same frames on the wire.
///
/// Several flows: with `flows` > 1 the program rewrites the UDP source port of each frame
/// (1024 + n, n cycling through `flows` values), so consecutive frames are different
/// 5-tuples. The generator thread enters `namespace` (the calling thread does not), loads
/// the program there and loops until `stop()`. `sent` counts frames offered; `cpuSeconds`
/// is the generator thread's own CPU time (RUSAGE_THREAD).
///
/// Checked `Sendable`: the template and the flow settings are constants, the counters are
/// atomics, and the thread handle and the settings the caller may change (`cpu`,
/// `restoreHeaders`, read by the generator thread as it starts) are behind mutexes.
public final class TrafficGenerator: Sendable {
    public let interface: String
    public let namespace: String?
    private let frame: [UInt8]
    private let flows: Int
    private let portOffset: Int
    private let stopFlag = Atomic<Bool>(false)
    private let sentCounter = Atomic<UInt64>(0)
    private let cpuMicroseconds = Atomic<Int64>(0)
    private let failure = Mutex<AFXDPError?>(nil)
    /// The running generator thread (held while it is joined: the thread never takes it).
    private let thread = Mutex<pthread_t?>(nil)
    private let settings = Mutex<(cpu: Int?, restoreHeaders: Bool)>((nil, false))
    /// CPU to pin the generator thread to, nil for none (set it before `start()`).
    public var cpu: Int? {
        get { settings.withLock { $0.cpu } }
        set { settings.withLock { $0.cpu = newValue } }
    }
    /// Write the template's first bytes (up to 128) back into every frame before sending:
    /// needed when the receiver modifies the live frames' pages in place (the Linux stack
    /// routing/NATing them), which the kernel's page pool would otherwise send again. Set it
    /// before `start()`.
    public var restoreHeaders: Bool {
        get { settings.withLock { $0.restoreHeaders } }
        set { settings.withLock { $0.restoreHeaders = newValue } }
    }

    /// Replays `frame` as is (the bench's come from XDPScenarios' `ScenarioFrames`); `flows`
    /// > 1 rewrites the 16-bit field at `portOffset` (< 256).
    public init(interface: String, namespace: String?, frame: [UInt8], flows: Int = 1, portOffset: Int = 34) {
        self.interface = interface
        self.namespace = namespace
        self.frame = frame
        self.flows = max(1, min(flows, 60_000))
        self.portOffset = portOffset
    }

    deinit { stop() }

    /// Whether the generator fell back to the packet socket (see the type's comment).
    public var usesPacketSocket: Bool { packetSocketFallback.load(ordering: .relaxed) }
    private let packetSocketFallback = Atomic<Bool>(false)

    /// Frames offered so far.
    public var sent: UInt64 { sentCounter.load(ordering: .relaxed) }
    /// CPU seconds (user + system) of the generator thread so far, updated after each
    /// BPF_PROG_RUN call (2^18 frames).
    public var cpuSeconds: Double { Double(cpuMicroseconds.load(ordering: .relaxed)) / 1e6 }
    /// Why the generator stopped early, if it did.
    public var error: AFXDPError? { failure.withLock { $0 } }
    /// The template frame (before the per-flow port rewrite).
    public var template: [UInt8] { frame }

    public func start() throws(AFXDPError) {
        try thread.withLock { (thread: inout pthread_t?) throws(AFXDPError) in
            thread = try startLabThread { self.run() }
        }
    }

    public func stop() {
        stopFlag.store(true, ordering: .relaxed)
        thread.withLock { thread in
            if let running = thread { pthread_join(running, nil) }
            thread = nil
        }
    }

    private func run() {
        let (cpu, restoreHeaders) = settings.withLock { $0 }
        if let cpu { _ = cxdp_pin_thread(Int32(cpu)) }
        if let namespace {
            let entered = cxdp_enter_netns("/run/netns/\(namespace)")
            guard entered == 0 else {
                failure.withLock { $0 = AFXDPError(call: "setns", errno: entered, interface: interface, detail: namespace) }
                return
            }
        }
        do {
            let ifindex = try NetworkInterface.index(of: interface)
            let object = try BPFObject(name: "traffic_gen", bytes: EmbeddedBPF.bytes(EmbeddedBPF.trafficGen))
            let program = try object.programFD("traffic_gen")
            var key: UInt32 = 0
            var config: (UInt32, UInt32) = (UInt32(flows), UInt32(portOffset & 0xFF))
            guard bpf_map_update_elem(try object.mapFD("config"), &key, &config, 0) == 0 else {
                throw AFXDPError(call: "bpf_map_update_elem(traffic_gen config)", errno: errno, interface: interface)
            }
            if restoreHeaders {
                // struct gen_headers { __u32 len; unsigned char bytes[128]; }
                let count = min(frame.count, 128)
                var value = [UInt8](repeating: 0, count: 4 + 128)
                value[0] = UInt8(count)
                for i in 0..<count { value[4 + i] = frame[i] }
                guard bpf_map_update_elem(try object.mapFD("headers"), &key, &value, 0) == 0 else {
                    throw AFXDPError(call: "bpf_map_update_elem(traffic_gen headers)", errno: errno, interface: interface)
                }
            }
            // 2^18 frames per BPF_PROG_RUN call: with 2^16 the offered rate dropped from ~3 to
            // ~1.6 Mpps on this machine and the forwarders measured ~40% lower (per-call setup
            // of the live-frames page pool and NAPI placement between calls).
            let repeatCount: UInt32 = 1 << 18
            let start = cxdp_thread_cpu_microseconds()
            while !stopFlag.load(ordering: .relaxed) {
                let err = frame.withUnsafeBytes {
                    cxdp_prog_run_live(program, $0.baseAddress, UInt32($0.count), ifindex, repeatCount, 64)
                }
                if err == -EPERM && sentCounter.load(ordering: .relaxed) == 0 {
                    // A kernel that refuses live frames (lockdown, a security module): the
                    // same frames through a packet socket instead.
                    try sendThroughPacketSocket(ifindex: ifindex, start: start)
                    return
                }
                guard err == 0 else { throw AFXDPError(call: "bpf_prog_test_run(LIVE_FRAMES)", errno: err, interface: interface) }
                sentCounter.add(UInt64(repeatCount), ordering: .relaxed)
                cpuMicroseconds.store(cxdp_thread_cpu_microseconds() - start, ordering: .relaxed)
            }
        } catch let error as AFXDPError {
            failure.withLock { $0 = error }
        } catch {}
    }

    /// The fallback loop: batches of 64 copies of the template (each with its flow's port
    /// when `flows` > 1) through a raw packet socket on `ifindex`, until `stop()`.
    private func sendThroughPacketSocket(ifindex: Int32, start: Int64) throws(AFXDPError) {
        packetSocketFallback.store(true, ordering: .relaxed)
        let fd = cxdp_packet_socket(ifindex)
        guard fd >= 0 else { throw AFXDPError(call: "socket(AF_PACKET)", errno: fd, interface: interface) }
        defer { close(fd) }
        let batch = 64, size = frame.count
        var frames = [UInt8](repeating: 0, count: batch * size)
        for i in 0..<batch { frames.replaceSubrange(i * size..<(i + 1) * size, with: frame) }
        var flow = 0
        var sinceClock = 0
        while !stopFlag.load(ordering: .relaxed) {
            if flows > 1 && portOffset + 1 < size {
                for i in 0..<batch {
                    let port = 1024 + flow
                    frames[i * size + portOffset] = UInt8(port >> 8)
                    frames[i * size + portOffset + 1] = UInt8(port & 0xFF)
                    flow = flow + 1 == flows ? 0 : flow + 1
                }
            }
            let sent = frames.withUnsafeBufferPointer { cxdp_packet_send_batch(fd, $0.baseAddress, UInt32(size), UInt32(batch)) }
            guard sent >= 0 else { throw AFXDPError(call: "sendmmsg(AF_PACKET)", errno: sent, interface: interface) }
            if sent == 0 { sched_yield(); continue }
            sentCounter.add(UInt64(sent), ordering: .relaxed)
            sinceClock += Int(sent)
            if sinceClock >= 4096 {
                sinceClock = 0
                cpuMicroseconds.store(cxdp_thread_cpu_microseconds() - start, ordering: .relaxed)
            }
        }
        cpuMicroseconds.store(cxdp_thread_cpu_microseconds() - start, ordering: .relaxed)
    }
}
