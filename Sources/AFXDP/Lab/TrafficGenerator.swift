#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim
import Synchronization

/// A load generator: `bpf/traffic_gen.bpf.c` run with BPF_PROG_RUN and
/// BPF_F_TEST_XDP_LIVE_FRAMES. The kernel replays one template frame `repeat` times per
/// call as if it arrived on `interface`; the program answers XDP_TX, so every copy leaves
/// through `interface` (on a veth: arrives on the peer, which needs an XDP program).
/// xdp-trafficgen does the same and fails on this kernel with xdp-tools 1.3.1.
///
/// The generator thread enters `namespace` (the calling thread does not), loads the
/// program there and loops until `stop()`. `sent` counts frames offered.
public final class TrafficGenerator: @unchecked Sendable {
    public let interface: String
    public let namespace: String?
    private let frame: [UInt8]
    private let stopFlag = Atomic<Bool>(false)
    private let sentCounter = Atomic<UInt64>(0)
    private let failure = Mutex<AFXDPError?>(nil)
    private var thread: pthread_t?
    /// CPU to pin the generator thread to, nil for none.
    public var cpu: Int?

    /// A 60-byte UDP/IPv4 frame from `source` to `destination` (port 9, discard).
    public init(interface: String, namespace: String?, destination: [UInt8], source: [UInt8], size: Int = 60) {
        self.interface = interface
        self.namespace = namespace
        frame = Self.udpFrame(destination: destination, source: source, size: size)
    }

    deinit { stop() }

    /// Frames offered so far.
    public var sent: UInt64 { sentCounter.load(ordering: .relaxed) }
    /// Why the generator stopped early, if it did.
    public var error: AFXDPError? { failure.withLock { $0 } }

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
            // 2^18 frames per BPF_PROG_RUN call: with 2^16 the offered rate dropped from ~3 to
            // ~1.6 Mpps on this machine and the forwarders measured ~40% lower (per-call setup
            // of the live-frames page pool and NAPI placement between calls).
            let repeatCount: UInt32 = 1 << 18
            while !stopFlag.load(ordering: .relaxed) {
                let err = frame.withUnsafeBytes {
                    cxdp_prog_run_live(program, $0.baseAddress, UInt32($0.count), ifindex, repeatCount, 64)
                }
                guard err == 0 else { throw AFXDPError(call: "bpf_prog_test_run(LIVE_FRAMES)", errno: err, interface: interface) }
                sentCounter.add(UInt64(repeatCount), ordering: .relaxed)
            }
        } catch let error as AFXDPError {
            failure.withLock { $0 = error }
        } catch {}
    }

    /// Ethernet + IPv4 + UDP 10.77.0.1:9 → 10.77.0.2:9, zero payload, padded to `size`.
    static func udpFrame(destination: [UInt8], source: [UInt8], size: Int) -> [UInt8] {
        let size = max(60, size)
        var f = [UInt8](repeating: 0, count: size)
        f.replaceSubrange(0..<6, with: destination.prefix(6))
        f.replaceSubrange(6..<12, with: source.prefix(6))
        f[12] = 0x08; f[13] = 0x00
        let ipLength = size - 14
        f[14] = 0x45; f[16] = UInt8(ipLength >> 8); f[17] = UInt8(ipLength & 0xFF)
        f[22] = 64; f[23] = 17
        f.replaceSubrange(26..<30, with: [10, 77, 0, 1])
        f.replaceSubrange(30..<34, with: [10, 77, 0, 2])
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(f[i]) << 8 | UInt32(f[i + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        f[24] = UInt8(checksum >> 8); f[25] = UInt8(checksum & 0xFF)
        f[35] = 9; f[37] = 9
        let udpLength = ipLength - 20
        f[38] = UInt8(udpLength >> 8); f[39] = UInt8(udpLength & 0xFF)
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
