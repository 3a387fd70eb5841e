#if canImport(Glibc)
import Glibc
#endif
import CXDPShim

/// Knobs of an `AFXDPEngine`. The defaults suit veth in copy mode on a small machine.
public struct EngineConfiguration: Sendable {
    /// What the worker does when no frame arrived.
    public enum IdleMode: String, Sendable, CustomStringConvertible {
        /// Spin on the rings forever: lowest latency, one core always at 100%.
        case busyPoll = "busy-poll"
        /// Spin briefly, then sleep in poll() on every socket (and need-wakeup): an idle
        /// switch uses no CPU.
        case poll
        /// The mode as `xdpswitch run --idle` spells it (`busy-poll`, `poll`).
        public var description: String { rawValue }
    }

    /// Bytes per UMEM frame: 2048 or 4096 (AF_XDP aligned mode).
    public var frameSize = 2048
    /// Extra headroom before received data, on top of the kernel's 256 bytes.
    public var headroom = 0
    /// UMEM frames; nil sizes the UMEM from the socket count (see `AFXDPEngine`), with room to
    /// grow when `waitForInterfaces` is set.
    public var frameCount: Int? = nil
    /// Entries of every RX, TX, fill and completion ring (a power of two, see
    /// `isValidRingSize`). The RX ring absorbs the bursts in which a veth's softirq
    /// delivers frames (it and the sender share a CPU and take turns): with 1,024
    /// entries the kernel dropped frames during a burst while the worker then idled in
    /// the gap — 15–20% fewer frames forwarded under overload, ours and `raw` alike
    /// (BENCHMARKS.md, "Rings"). libxdp's default and Open vSwitch's AF_XDP rings are
    /// 2,048. Memory: the UMEM holds 2 × `ringSize` frames per socket (16 MiB per socket
    /// with 2 KiB frames at 4,096).
    public var ringSize: UInt32 = 4096
    /// Frames taken from one RX ring per datapath batch (≤ 64, the batch capacity).
    public var batchSize = 64
    /// What the worker does when no frame arrived; `.poll` (the default) sleeps, `.busyPoll` spins.
    public var idle: IdleMode = .poll
    /// Empty loop iterations before the worker sleeps in poll().
    public var spinIterations = 64
    /// How the steering program is attached; `.auto` tries native first, then generic.
    public var attachMode: XDPAttachMode = .auto
    /// How the sockets bind; `.copy` (the default) works on every driver, veth included.
    public var bindMode: XSKBindMode = .copy
    /// Rx queues served per interface; nil serves every queue the driver reports.
    public var queues: Int? = nil
    /// CPU to pin the worker to (one the process may run on, `isValidCPU`); nil leaves it
    /// to the scheduler.
    public var cpu: Int? = nil
    /// Most TX kicks issued after one batch while the TX ring still holds frames (copy mode
    /// sends a limited number of frames per kick).
    public var kicksPerBatch = 4
    /// What `AFXDPEngine.init` does with a configured interface that does not exist: false (the
    /// default) refuses the configuration with `if_nametoindex: No such device`; true
    /// keeps its port, down (`InterfaceState.absent`), and attaches it when the interface
    /// appears — as `AFXDPEngine.reconfigure` always does, and as a node agent needs for VM
    /// taps that come and go. True also sizes a default UMEM (`frameCount` nil) for about
    /// four more sockets than the engine starts with.
    public var waitForInterfaces = false
    /// Whether the steering program forwards learned unicast itself, repeating decisions
    /// the datapath took (AFXDPEngine+FastPath.swift). Off by default; `XDPSWITCH_FAST_PATH=on`
    /// in the environment turns the default on (to run a test suite with it).
    public var fastPath = EngineConfiguration.fastPathByDefault
    /// With the fast path on: pin the steering program's links and maps there, adopt those
    /// a previous process left, and on `close()` keep or remove them (SteeringPins.swift).
    /// With it off: pins left there are removed at start. nil (the default): nothing pinned,
    /// the program detaches with the process.
    public var fastPathPinning: FastPathPinning? = nil

    /// `XDPSWITCH_FAST_PATH=on`.
    public static var fastPathByDefault: Bool {
        getenv("XDPSWITCH_FAST_PATH").map { String(cString: $0) == "on" } ?? false
    }

    /// The defaults: 2 KiB frames, 4,096-entry rings, batches of 64, `.poll`, copy mode, the fast path
    /// as `XDPSWITCH_FAST_PATH` says (off unless it is `on`).
    public init() {}

    /// Ring sizes the engine accepts, as error messages say it.
    public static let ringSizeRule = "a power of two, 64-16384"

    /// The CPUs this process may run on, ascending: its affinity mask (the online CPUs,
    /// narrowed by `taskset` or a cgroup cpuset). Pinning a thread to any other fails, and
    /// the thread runs unpinned. Control path: one system call per use.
    public static var allowedCPUs: [Int] {
        let limit = 4096
        var allowed = [UInt8](repeating: 0, count: limit)
        guard cxdp_allowed_cpus(&allowed, Int32(limit)) > 0 else {
            return Array(0..<max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        }
        return allowed.indices.filter { allowed[$0] != 0 }
    }

    /// CPUs a thread can be pinned to, as error messages say it:
    /// `a CPU this process may run on (0-3,6)`.
    public static var cpuRule: String { "a CPU this process may run on (\(cpuListText(allowedCPUs)))" }

    /// Whether a thread can be pinned to `cpu` (`allowedCPUs`).
    public static func isValidCPU(_ cpu: Int) -> Bool { allowedCPUs.contains(cpu) }

    /// Ascending CPU numbers in `taskset -c` form: `[0, 1, 2, 5]` → `0-2,5`.
    public static func cpuListText(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count && cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(j > i ? "\(cpus[i])-\(cpus[j])" : "\(cpus[i])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// Ring sizes the engine accepts: powers of two from 64 to 16384.
    public static func isValidRingSize(_ size: Int) -> Bool {
        (64...16384).contains(size) && size & (size - 1) == 0
    }
}
