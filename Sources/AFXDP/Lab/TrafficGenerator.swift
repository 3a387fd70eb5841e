#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import Synchronization

/// A load generator: `bpf/traffic_gen.bpf.c` run with BPF_PROG_RUN and
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
public final class TrafficGenerator: @unchecked Sendable {
    public let interface: String
    public let namespace: String?
    private let frame: [UInt8]
    private let flows: Int
    private let portOffset: Int
    private let stopFlag = Atomic<Bool>(false)
    private let sentCounter = Atomic<UInt64>(0)
    private let cpuMicroseconds = Atomic<Int64>(0)
    private let failure = Mutex<AFXDPError?>(nil)
    private var thread: pthread_t?
    /// CPU to pin the generator thread to, nil for none.
    public var cpu: Int?
    /// Write the template's first bytes (up to 128) back into every frame before sending:
    /// needed when the receiver modifies the live frames' pages in place (the Linux stack
    /// routing/NATing them), which the kernel's page pool would otherwise send again.
    public var restoreHeaders = false

    /// A UDP/IPv4 frame from `source` to `destination` (port 9, discard) of `size` bytes
    /// (without FCS, at least 60), 802.1Q-tagged with `vlan` when given; `flows` source ports.
    public init(interface: String, namespace: String?, destination: [UInt8], source: [UInt8], size: Int = 60,
                vlan: UInt16? = nil, flows: Int = 1) {
        self.interface = interface
        self.namespace = namespace
        frame = Self.udpFrame(destination: destination, source: source, size: size, vlan: vlan)
        self.flows = max(1, min(flows, 60_000))
        portOffset = vlan == nil ? 34 : 38
    }

    /// Replays `frame` as is; `flows` > 1 rewrites the 16-bit field at `portOffset` (< 256).
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
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let err = pthread_create(&tid, nil, { argument in
            let generator = Unmanaged<TrafficGenerator>.fromOpaque(argument!).takeRetainedValue()
            generator.run()
            return nil
        }, context)
        guard err == 0 else {
            Unmanaged<TrafficGenerator>.fromOpaque(context).release()
            throw AFXDPError(call: "pthread_create", errno: err)
        }
        thread = tid
    }

    public func stop() {
        stopFlag.store(true, ordering: .relaxed)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func run() {
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

    /// `inner` encapsulated like a GRE tunnel endpoint would send it: Ethernet (`destination`
    /// ← `source`) + IPv4 (`from` → `to`, DF, TTL 64, id 0, protocol 47) + GRE (no flags, no
    /// key, protocol 0x6558 Transparent Ethernet Bridging): 38 bytes before `inner`, so the
    /// inner UDP source port is at 38 + 34 = 72 (for `flows`).
    public static func greFrame(inner: [UInt8], destination: [UInt8], source: [UInt8],
                                from: [UInt8], to: [UInt8]) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 38)   // Ethernet 14 + IPv4 20 + GRE 4 (no key)
        // Addresses shorter than 6 bytes are zero-padded (replaceSubrange must not shrink the frame).
        for (i, byte) in destination.prefix(6).enumerated() { f[i] = byte }
        for (i, byte) in source.prefix(6).enumerated() { f[6 + i] = byte }
        f[12] = 0x08; f[13] = 0x00
        let ipLength = 20 + 4 + inner.count
        f[14] = 0x45; f[16] = UInt8(ipLength >> 8); f[17] = UInt8(ipLength & 0xFF)
        f[20] = 0x40; f[22] = 64; f[23] = 47
        f.replaceSubrange(26..<30, with: from.prefix(4))
        f.replaceSubrange(30..<34, with: to.prefix(4))
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(f[i]) << 8 | UInt32(f[i + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        f[24] = UInt8(checksum >> 8); f[25] = UInt8(checksum & 0xFF)
        f[36] = 0x65; f[37] = 0x58
        return f + inner
    }

    /// Ethernet (+ 802.1Q `vlan`) + IPv4 + UDP 10.77.0.1:9 → 10.77.0.2:9, zero payload, UDP
    /// checksum 0, padded to `size` bytes (at least 60; 4 more with a tag).
    public static func udpFrame(destination: [UInt8], source: [UInt8], size: Int, vlan: UInt16? = nil) -> [UInt8] {
        let tag = vlan == nil ? 0 : 4
        let size = max(60 + tag, size)
        var f = [UInt8](repeating: 0, count: size)
        // Addresses shorter than 6 bytes are zero-padded (replaceSubrange must not shrink the frame).
        for (i, byte) in destination.prefix(6).enumerated() { f[i] = byte }
        for (i, byte) in source.prefix(6).enumerated() { f[6 + i] = byte }
        if let vlan {
            f[12] = 0x81; f[13] = 0x00; f[14] = UInt8(vlan >> 8 & 0x0F); f[15] = UInt8(vlan & 0xFF)
        }
        let l3 = 14 + tag
        f[l3 - 2] = 0x08; f[l3 - 1] = 0x00
        let ipLength = size - l3
        f[l3] = 0x45; f[l3 + 2] = UInt8(ipLength >> 8); f[l3 + 3] = UInt8(ipLength & 0xFF)
        f[l3 + 8] = 64; f[l3 + 9] = 17
        f.replaceSubrange(l3 + 12..<l3 + 16, with: [10, 77, 0, 1])
        f.replaceSubrange(l3 + 16..<l3 + 20, with: [10, 77, 0, 2])
        var sum: UInt32 = 0
        for i in stride(from: l3, to: l3 + 20, by: 2) { sum += UInt32(f[i]) << 8 | UInt32(f[i + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        f[l3 + 10] = UInt8(checksum >> 8); f[l3 + 11] = UInt8(checksum & 0xFF)
        f[l3 + 21] = 9; f[l3 + 23] = 9
        let udpLength = ipLength - 20
        f[l3 + 24] = UInt8(udpLength >> 8); f[l3 + 25] = UInt8(udpLength & 0xFF)
        return f
    }
}

/// A counting sink: `bpf/count_sink.bpf.c` attached (bpf_link, native mode) to
/// `interface` in `namespace`; it counts every frame and drops it.
public final class CountingSink: @unchecked Sendable {
    public let interface: String
    private let object: BPFObject
    private let countsFD: Int32
    private let link: XDPLink
    private let cpus: Int

    public init(interface: String, namespace: String?) throws {
        self.interface = interface
        let object = try BPFObject(name: "count_sink", bytes: EmbeddedBPF.bytes(EmbeddedBPF.countSink))
        self.object = object
        countsFD = try object.mapFD("counts")
        let program = try object.programFD("count_sink")
        let attach = { () throws -> XDPLink in
            let ifindex = try NetworkInterface.index(of: interface)
            return try XDPLink(programFD: program, interface: interface, ifindex: ifindex, mode: .native)
        }
        link = try namespace.map { try LabNetwork.inNamespace($0, attach) } ?? attach()
        cpus = Int(libbpf_num_possible_cpus())
    }

    /// Frames and bytes counted so far (summed over CPUs).
    public var counts: (packets: UInt64, bytes: UInt64) {
        var key: UInt32 = 0
        var values = [UInt64](repeating: 0, count: 2 * max(cpus, 1))
        guard bpf_map_lookup_elem(countsFD, &key, &values) == 0 else { return (0, 0) }
        var packets: UInt64 = 0
        var bytes: UInt64 = 0
        for cpu in 0..<cpus { packets += values[2 * cpu]; bytes += values[2 * cpu + 1] }
        return (packets, bytes)
    }

    public func detach() { link.detach() }
}
