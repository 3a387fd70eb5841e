#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Synchronization
import XDPLab
import XDPScenarios

/// Where the bench writes its lines: the command's stdout writer, and whether whoever read
/// it went away (`xdpswitch bench … | head`: the bench then unwinds and removes its lab).
public struct BenchOutput: Sendable {
    public var line: @Sendable (String) -> Void
    public var isClosed: @Sendable () -> Bool
    public init(line: @escaping @Sendable (String) -> Void, isClosed: @escaping @Sendable () -> Bool) {
        self.line = line
        self.isClosed = isClosed
    }
}

/// A failure of the bench, reported as one line (`Error: ...`).
public struct BenchFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

/// `--min-raw-ratio` / `--min-fast-path-ratio`: a check on l2 was not met (the lines saying
/// so are already written); the command exits 1.
public struct BenchCheckFailure: Error, Sendable {}

/// `xdpswitch bench SCENARIO`: forwarding throughput on veth pairs, ours beside the peers.
///
///     ns gen: g0 ⇄ <p>a  [ns <p>fwd: the forwarder under test]  <p>b ⇄ s0 :ns sink
///
/// Every name carries a unique `xb<pid % 1000, 3 digits><n>` prefix; namespaces (with their veths), the OVS
/// daemons and rundir are removed on exit, also on Ctrl-C/SIGTERM. The generator replays
/// UDP frames into g0 with BPF_PROG_RUN live frames (XDP_TX), `--flows` source ports, the
/// sink counts with an XDP program and drops. Each peer — `xdpswitch` (our datapath) and
/// those of `compared` (`raw`: the minimal AF_XDP forwarder, XDPLab's `RawForwarder`; `ovs`:
/// Open vSwitch userspace with afxdp ports; `kernel`: Linux bridge; `fastpath`: ours with the
/// in-kernel fast path, `xdpswitch-fp`; `direct`: no forwarder, a veth pair from the
/// generator's namespace into the sink's, `DirectPeer`) — is measured in turn,
/// the order rotating every round, `repeats` rounds; the report gives medians
/// (BenchReport.swift, docs in BENCHMARKS.md). The command's options are these fields.
public struct BenchRun {
    public var scenario = "l2"
    public var seconds = 5
    public var repeats = 3
    /// Frame size as RFC 2544 counts it (with the 4-byte FCS veth does not carry).
    public var size = 64
    public var flows = 1
    /// Peers beside xdpswitch: ovs, kernel, raw, fastpath, direct.
    public var compared: [String] = []
    public var json: String?
    /// The raw check: the median xdpswitch/raw rate on l2 must reach this.
    public var minRawRatio: Double?
    /// The fast-path check: the median xdpswitch-fp/direct rate on l2 must reach this, and
    /// the kernel must have carried at least `minFastPathShare` of xdpswitch-fp's frames.
    public var minFastPathRatio: Double?
    /// Below this share of frames carried by the kernel (median over xdpswitch-fp's runs) the
    /// fast path fell back to the worker and its rate says nothing about the fast path.
    public static let minFastPathShare = 0.99
    /// Our forwarder's options (idle mode, batch, ring size, kicks) and CPU placement.
    public var options = EngineConfiguration()
    public var generatorCPU: Int?
    public var verbose = false
    /// The command line, for the JSON report.
    public var arguments: [String] = []

    public init() {}

    /// Checks the options before any set-up; throws `BenchFailure`.
    public func validate() throws {
        guard BenchScenario.select(scenario) != nil else {
            throw BenchFailure("unknown scenario \(scenario) (all, l2, vlan, vlan-push, vlan-pop, gre-encap, gre-decap, vxlan-encap, vxlan-decap, sg, snat, fip, compute)")
        }
        guard seconds > 0, repeats > 0, (1...64).contains(options.batchSize) else {
            throw BenchFailure("--seconds and --repeat must be positive, --batch 1-64")
        }
        guard (64...1518).contains(size) else { throw BenchFailure("--size \(size): expected 64-1518") }
        guard (1...60_000).contains(flows) else { throw BenchFailure("--flows \(flows): expected 1-60000") }
        for peer in compared where !["ovs", "kernel", "raw", "fastpath", "direct"].contains(peer) {
            throw BenchFailure("--compare \(peer): expected ovs, kernel, raw, fastpath, direct")
        }
        let measuresL2 = BenchScenario.select(scenario)!.contains { $0.name == "l2" }
        if let minRawRatio, !(minRawRatio > 0 && minRawRatio.isFinite) || !measuresL2 || !compared.contains("raw") {
            throw BenchFailure("--min-raw-ratio \(minRawRatio): needs a positive ratio, scenario l2 and --compare raw")
        }
        if let minFastPathRatio, !(minFastPathRatio > 0 && minFastPathRatio.isFinite) || !measuresL2
            || !compared.contains("fastpath") || !compared.contains("direct") {
            throw BenchFailure("--min-fast-path-ratio \(minFastPathRatio): needs a positive ratio, scenario l2 and --compare fastpath,direct")
        }
    }

    /// Builds the lab, measures every peer on every selected scenario and writes the report.
    /// Throws `BenchFailure`, or `BenchCheckFailure` when `minRawRatio` is not met.
    public func run(output: BenchOutput) throws {
        try validate()
        let scenarios = BenchScenario.select(scenario)!
        let printLine = output.line
        let placement = (forwarder: options.cpu, generator: generatorCPU)
        let interrupted = BenchSignals.install(outputClosed: output.isClosed)

        let lab = try BenchLab()
        // `xdpswitch` is the slow path whatever XDPSWITCH_FAST_PATH says; `fastpath` adds the other.
        var slowPath = options
        slowPath.fastPath = false
        var peers: [any BenchPeer] = [EnginePeer(options: slowPath)]
        for name in compared {
            switch name {
            case "raw": peers.append(RawPeer(options: options))
            case "fastpath":
                var fast = options
                fast.fastPath = true
                peers.append(EnginePeer(name: "xdpswitch-fp", options: fast))
            case "kernel": peers.append(KernelPeer(output: output))
            case "direct": peers.append(DirectPeer())
            default: peers.append(OVSPeer(rundir: "/tmp/xdpswitch-bench-\(lab.network.prefix)", pmdCPU: placement.forwarder,
                                          output: output))
            }
        }
        defer {
            for peer in peers { peer.stop(); peer.shutdown() }
            lab.tearDown()
            if let ovs = peers.first(where: { $0.name == "ovs" }) as? OVSPeer { ovs.removeRundir() }
        }

        let frameBytes = size - 4
        printLine("bench \(scenario): \(lab.gen):g0 → \(lab.a) [\(lab.fwd): forwarder] \(lab.b) → \(lab.sink):s0, "
            + "\(seconds)s × \(repeats), \(size)-byte frames (\(frameBytes) on the wire), \(flows) flow\(flows == 1 ? "" : "s"), "
            + "peers: \(peers.map(\.name).joined(separator: ", ")), "
            + "forwarder on CPU \(placement.forwarder.map(String.init) ?? "any"), generator on CPU \(placement.generator.map(String.init) ?? "any")")
        let startTime = now()
        var report = BenchReport(seconds: seconds, repeats: repeats, size: size, flows: flows,
                                 peers: peers.map(\.name), arguments: arguments)
        report.cpuMethods = Dictionary(uniqueKeysWithValues: peers.map { ($0.name, $0.cpuMethod) })
        for scenario in scenarios {
            if let reason = scenario.pending {
                printLine("\(scenario.name): pending — \(reason)")
                report.scenarios.append(.init(name: scenario.name, summary: scenario.summary, pending: reason))
                continue
            }
            printLine("\(scenario.name): \(scenario.summary)")
            var result = BenchReport.Scenario(name: scenario.name, summary: scenario.summary)
            for round in 0..<repeats {
                // Rotate the order every round so no peer always runs first (or right after another).
                let order = (0..<peers.count).map { peers[($0 + round) % peers.count] }
                for peer in order where result.unsupported[peer.name] == nil {
                    if interrupted.isRaised { throw BenchFailure("interrupted; topology removed") }
                    let sample: BenchReport.Sample
                    do {
                        sample = try measure(peer: peer, scenario: scenario, lab: lab, round: round,
                                             generatorCPU: placement.generator, interrupted: interrupted)
                    } catch let unsupported as BenchUnsupported {
                        printLine("  \(padded(peer.name, 9)) n/a: \(unsupported.reason)")
                        result.unsupported[peer.name] = unsupported.reason
                        continue
                    } catch let failure as BenchFailure where !interrupted.isRaised {
                        peer.stop()
                        printLine("  run \(round + 1) \(padded(peer.name, 9)) failed: \(failure)")
                        result.failures[peer.name] = failure.description
                        continue
                    }
                    result.samples.append(sample)
                    printLine("  run \(round + 1) \(padded(peer.name, 9)) \(fixed(sample.mpps, 3)) Mpps at sink "
                        + "(offered \(fixed(sample.offered, 3)))  CPU s/Mpkt: fwd \(sample.forwarderCPU.map { fixed($0, 3) } ?? "-") "
                        + "softirq \(fixed(sample.softirqCPU, 3))"
                        + (verbose ? "  \(fixed(sample.sinkFrameBytes, 0)) B/frame at sink" : "") + (verbose && !sample.detail.isEmpty ? "  \(sample.detail)" : ""))
                }
            }
            report.scenarios.append(result)
            for line in result.summaryLines(peers: peers.map(\.name)) { printLine(line) }
        }
        report.elapsedSeconds = now() - startTime
        printLine("")
        for line in report.table() { printLine(line) }
        printLine("elapsed \(fixed(report.elapsedSeconds, 0)) s")
        if let json {
            do { try report.writeJSON(to: json) } catch { throw BenchFailure("--json \(json): \(error)") }
            printLine("wrote \(json)")
        }
        let l2 = report.scenarios.first { $0.name == "l2" }
        var failed = false
        if let minRawRatio, let l2 { failed = !check(l2, ratioOf: "xdpswitch", to: "raw", atLeast: minRawRatio, printLine) || failed }
        if let minFastPathRatio, let l2 {
            failed = !check(l2, ratioOf: "xdpswitch-fp", to: "direct", atLeast: minFastPathRatio, printLine) || failed
            failed = !checkFastPathShare(l2, printLine) || failed
        }
        if failed { throw BenchCheckFailure() }
    }

    /// A bench-check: the median `ours`/`peer` rate on `l2` must reach `threshold`; prints
    /// its `bench-check: ok …` or `FAIL …` line and returns whether it held.
    private func check(_ l2: BenchReport.Scenario, ratioOf ours: String, to peer: String, atLeast threshold: Double,
                       _ printLine: (String) -> Void) -> Bool {
        let runs = l2.samples.filter { $0.peer == ours }.count
        guard let ratio = l2.ratio(ours, peer) else {
            printLine("bench-check: FAIL \(ours)/\(peer) on l2: no successful run of \([ours, peer].filter { l2.median($0) == nil }.joined(separator: " and "))")
            return false
        }
        let holds = ratio >= threshold
        printLine("bench-check: \(holds ? "ok" : "FAIL") \(ours)/\(peer) on l2 = \(fixed(ratio, 3)) \(holds ? "≥" : "<") \(threshold) (median of \(runs))")
        return holds
    }

    /// The fast-path check's other half: in the median of xdpswitch-fp's runs the kernel
    /// carried at least `minFastPathShare` of the frames (`fast-path` / (`fast-path` + the
    /// worker's `rx`) over the window); below it the fast path fell back to the worker.
    private func checkFastPathShare(_ l2: BenchReport.Scenario, _ printLine: (String) -> Void) -> Bool {
        let shares = l2.samples.filter { $0.peer == "xdpswitch-fp" }.map { sample -> Double in
            let (kernel, worker) = (Double(sample.counts["fast-path"] ?? 0), Double(sample.counts["rx"] ?? 0))
            return kernel + worker > 0 ? kernel / (kernel + worker) : 0
        }
        guard !shares.isEmpty else { return false }  // the ratio's line already says there was no run
        let share = median(shares), threshold = Self.minFastPathShare
        let holds = share >= threshold
        printLine("bench-check: \(holds ? "ok" : "FAIL") the kernel carried \(fixed(100 * share, 2))% of xdpswitch-fp's frames on l2 "
            + "\(holds ? "≥" : "<") \(fixed(100 * threshold, 0))% (median of \(shares.count): "
            + shares.map { fixed(100 * $0, 2) + "%" }.joined(separator: ", ") + ")"
            + (holds ? "" : " — it fell back to the worker, so its rate is not the fast path's"))
        return holds
    }

    private func measure(peer: any BenchPeer, scenario: BenchScenario, lab: BenchLab, round: Int,
                         generatorCPU: Int?, interrupted: InterruptFlag) throws -> BenchReport.Sample {
        try peer.start(scenario, lab: lab)
        defer { peer.stop() }
        let (frame, portOffset) = scenario.generatorFrame(size: size - 4)
        let path = peer.endpoints(lab: lab)
        let generator = TrafficGenerator(interface: path.generator, namespace: lab.gen, frame: frame, flows: flows, portOffset: portOffset)
        generator.cpu = generatorCPU
        // Routed scenarios: the Linux peer rewrites the live frames' pages in place.
        generator.restoreHeaders = scenario.nat != nil
        do { try generator.start() } catch { throw BenchFailure("generator: \(error)") }
        defer { generator.stop() }
        let label = "\(scenario.name) \(peer.name) run \(round + 1)/\(repeats)"

        try sleep(seconds: 1, interrupted: interrupted)        // warm-up
        if let arp = scenario.generatorPrimeFrame() {
            // snat/fip: the generator's side asks for its gateway as a host does, and the
            // router's answer teaches the bridge on that side the router's MAC.
            let asking = TrafficGenerator(interface: path.generator, namespace: lab.gen, frame: arp, flows: 1, portOffset: 34)
            do { try asking.start() } catch { throw BenchFailure("generator's ARP request: \(error)") }
            try sleep(seconds: 0.1, interrupted: interrupted)
            asking.stop()
            if let error = asking.error { throw BenchFailure("generator's ARP request: \(error)") }
        }
        if let prime = scenario.primeFrame(size: size - 4) {
            // sg: the sink answers every flow (one BPF_PROG_RUN call or more), so the measured
            // stream is established in every peer's tracker; snat/fip: the sink's ARP request
            // teaches our router its MAC.
            let replies = TrafficGenerator(interface: path.sink, namespace: lab.sink, frame: prime.frame,
                                           flows: prime.perFlow ? flows : 1, portOffset: prime.portOffset)
            do { try replies.start() } catch { throw BenchFailure("sink's frames: \(error)") }
            try sleep(seconds: 0.3, interrupted: interrupted)
            replies.stop()
            if let error = replies.error { throw BenchFailure("sink's frames: \(error)") }
            try sleep(seconds: 0.5, interrupted: interrupted)
        }
        let f0 = scenario.firewallCounter == nil ? nil : peer.firewallCounts()
        let c0 = path.counter.counts
        let (s0, g0, gc0, p0, m0, t0) = (c0.packets, generator.sent, generator.cpuSeconds,
                                         peer.counters(), ProcessCPU.machine(), now())
        var last = (s0, t0)
        try sleep(seconds: Double(seconds), interrupted: interrupted) { elapsed in
            let (s, t) = (path.counter.counts.packets, now())
            progress("  \(label): \(fixed(elapsed, 0))/\(seconds) s  \(fixed(Double(s &- last.0) / max(t - last.1, 1e-3) / 1e6, 3)) Mpps")
            last = (s, t)
        }
        let c1 = path.counter.counts
        let (s1, g1, gc1, p1, m1, t1) = (c1.packets, generator.sent, generator.cpuSeconds,
                                         peer.counters(), ProcessCPU.machine(), now())
        progress(nil)
        if let error = generator.error { throw BenchFailure("generator: \(error)") }
        var detail = p1.detail
        let grown = p1.counts.compactMap { key, value -> (String, UInt64)? in
            let delta = value &- (p0.counts[key] ?? 0)
            return delta > 0 ? (key, delta) : nil
        }.sorted { $0.0 < $1.0 }
        if !grown.isEmpty {
            detail += (detail.isEmpty ? "" : ", ") + "in the window: " + grown.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        }
        if let f0, let f1 = peer.firewallCounts() {
            // Which packets of the window the VM's ingress filter passed as established.
            let (est, new) = (f1.established &- f0.established, f1.new &- f0.new)
            let share = est + new > 0 ? 100 * Double(est) / Double(est + new) : 0
            detail = (detail.isEmpty ? "" : detail + ", ") + "conntrack: \(fixed(share, 2))% of \(est + new) passed as +est"
        }
        if generator.usesPacketSocket {
            detail = (detail.isEmpty ? "" : detail + ", ") + "generator: packet socket (live frames refused by this kernel)"
        }
        let elapsed = t1 - t0
        guard s1 > s0 else { throw BenchFailure("nothing reached the sink in \(fixed(elapsed, 1)) s") }
        let mpkts = Double(s1 &- s0) / 1e6
        let perMpkt = { (cpu: Double) in mpkts > 0 ? cpu / mpkts : 0 }
        var forwarder: Double?
        if let c0 = p0.cpuSeconds, let c1 = p1.cpuSeconds { forwarder = perMpkt(c1 - c0) }
        return BenchReport.Sample(
            peer: peer.name, round: round + 1, mpps: mpkts / elapsed, offered: Double(g1 &- g0) / elapsed / 1e6,
            forwarderCPU: forwarder, softirqCPU: perMpkt(m1.softirq - m0.softirq),
            machineCPU: perMpkt((m1.busy - m0.busy) - (gc1 - gc0)), generatorCPU: perMpkt(gc1 - gc0),
            sinkFrameBytes: s1 > s0 ? Double(c1.bytes &- c0.bytes) / Double(s1 &- s0) : 0, detail: detail,
            counts: Dictionary(uniqueKeysWithValues: grown))
    }

    private func sleep(seconds: Double, interrupted: InterruptFlag, each: ((Double) -> Void)? = nil) throws {
        let start = now()
        var next = start + 1
        while now() < start + seconds {
            if interrupted.isRaised { progress(nil); throw BenchFailure("interrupted; topology removed") }
            usleep(100_000)
            if now() >= next { each?(now() - start); next += 1 }
        }
    }
}

/// A progress line on stderr when it is a terminal (overwritten in place; nil clears it).
func progress(_ line: String?) {
    guard isatty(2) != 0 else { return }
    let text = "\r\u{1B}[K" + (line ?? "")
    _ = Array(text.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// SIGINT/SIGTERM during a bench set a flag (a thread waits for them) so the bench unwinds
/// through its `defer`s and removes its namespaces instead of dying with them in place.
final class InterruptFlag: Sendable {
    let raised = Atomic<Bool>(false)
    let outputClosed: @Sendable () -> Bool
    init(outputClosed: @escaping @Sendable () -> Bool) { self.outputClosed = outputClosed }
    /// A stop signal arrived, or whoever read our output went away (`| head`).
    var isRaised: Bool { raised.load(ordering: .relaxed) || outputClosed() }
}

enum BenchSignals {
    /// Blocks SIGINT and SIGTERM in this thread (and the threads it starts later) and
    /// starts a thread that turns them into the returned flag. SIGPIPE is ignored: a
    /// closed output (`xdpswitch bench … | head -3`) raises the flag through `printLine`
    /// instead of killing the process with its namespaces, OVS daemons and XDP programs
    /// still there.
    static func install(outputClosed: @escaping @Sendable () -> Bool) -> InterruptFlag {
        signal(SIGPIPE, SIG_IGN)
        let flag = InterruptFlag(outputClosed: outputClosed)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let context = Unmanaged.passRetained(flag).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { argument in
            let flag = Unmanaged<InterruptFlag>.fromOpaque(argument!).takeRetainedValue()
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, SIGINT)
            sigaddset(&signals, SIGTERM)
            while true {
                var received: Int32 = 0
                if sigwait(&signals, &received) == 0 { flag.raised.store(true, ordering: .relaxed) }
            }
        }, context)
        pthread_detach(thread)
        return flag
    }
}

/// `value` with `digits` decimals (no Foundation in this target).
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    var fraction = String(Int(scaled) - whole * Int(scale))
    while fraction.count < digits { fraction = "0" + fraction }
    return (value < 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + fraction : "")
}

func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
