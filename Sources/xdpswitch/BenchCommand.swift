#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Synchronization
import XDPSwitch

/// `xdpswitch bench l2`: the first throughput check on veth (the full harness is issue 7).
///
/// Topology (every name carries a unique `xb<pid><n>` prefix and is removed on exit,
/// also on Ctrl-C):
///
///     ns gen: g0 ⇄ <p>a  [switch, this process]  <p>b ⇄ s0 :ns sink
///
/// The generator replays one 60-byte UDP frame into g0 with BPF_PROG_RUN live frames
/// (XDP_TX); the sink counts with an XDP program and drops. Each peer — `xdpswitch` (the
/// datapath: one bridge, two access ports, NORMAL) and, with `--raw`, the minimal AF_XDP
/// forwarder (rx → tx, no datapath) — is measured in turn, alternating, `--repeat` times;
/// the report gives medians of packets per second at the sink, the offered rate, and the
/// forwarder thread's CPU seconds per million packets delivered.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure forwarding throughput on veth pairs (scenario: l2).")

    @Argument(help: "Scenario: l2 (NORMAL between two access ports).")
    var scenario: String = "l2"

    @Option(name: .long, help: "Seconds measured per run (after one second of warm-up).")
    var seconds: Int = 5

    @Option(name: .customLong("repeat"), help: "Runs per peer; the report gives the median.")
    var repeats: Int = 3

    @Flag(name: .long, help: "Also measure the minimal AF_XDP forwarder (rx → tx, no datapath), alternating.")
    var raw = false

    @Option(name: .long, help: "Idle mode of the forwarder: poll or busy-poll.")
    var idle: String = "poll"

    @Option(name: .long, help: "Frames per RX batch (1-64).")
    var batch: Int = 64

    @Option(name: .long, help: "Most TX kicks after one batch.")
    var kicksPerBatch: Int = 4

    @Flag(name: .long, help: "Print drops by reason per run.")
    var verbose = false

    @Option(name: .long, help: "Pin the forwarder thread to this CPU.")
    var cpu: Int?

    @Option(name: .long, help: "Pin the generator thread to this CPU.")
    var generatorCPU: Int?

    struct Sample {
        var peer: String
        var mpps: Double
        var offered: Double
        var cpuPerMillion: Double
        var framesPerKick: Double
        var maxFramesPerKick: UInt32
        var drops: UInt64
        var dropReasons: String
    }

    func run() throws {
        guard scenario == "l2" else { throw CommandFailure("scenario \(scenario): pending (only l2 exists so far)") }
        guard seconds > 0, repeats > 0, (1...64).contains(batch) else {
            throw CommandFailure("--seconds and --repeat must be positive, --batch 1-64")
        }
        guard let idleMode = EngineConfiguration.IdleMode(rawValue: idle) else {
            throw CommandFailure("--idle \(idle): expected poll or busy-poll")
        }
        let interrupted = BenchSignals.install()

        let lab = LabNetwork(tag: "b")
        defer { lab.tearDown() }
        let generatorMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
        let sinkMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x04]
        let sides: (a: String, b: String, gen: String, sink: String)
        do {
            let gen = try lab.addNamespace("gen")
            let sink = try lab.addNamespace("sink")
            let a = try lab.addHost(namespace: gen, switchSide: "a", hostSide: "g0", mac: "02:00:00:00:00:01")
            let b = try lab.addHost(namespace: sink, switchSide: "b", hostSide: "s0", mac: "02:00:00:00:00:04")
            sides = (a, b, gen, sink)
        } catch {
            throw CommandFailure("topology: \(error)")
        }
        let sink: CountingSink
        do { sink = try CountingSink(interface: "s0", namespace: sides.sink) } catch { throw CommandFailure("sink: \(error)") }
        defer { sink.detach() }

        var options = EngineConfiguration()
        options.idle = idleMode
        options.batchSize = batch
        options.kicksPerBatch = kicksPerBatch
        options.cpu = cpu
        let peers = raw ? ["xdpswitch", "raw"] : ["xdpswitch"]
        printLine("bench l2: \(sides.gen):g0 → \(sides.a) [forwarder] \(sides.b) → \(sides.sink):s0, "
            + "\(seconds)s × \(repeats), 60-byte frames, peers: \(peers.joined(separator: ", "))")

        var samples: [Sample] = []
        for round in 0..<repeats {
            // Alternate the order too, so neither peer always runs first after a pause.
            for peer in round % 2 == 0 ? peers : peers.reversed() {
                if interrupted.raised.load(ordering: .relaxed) { throw CommandFailure("interrupted; topology removed") }
                let sample = try measure(peer: peer, sides: (sides.a, sides.b), generatorNamespace: sides.gen,
                                         generatorMAC: generatorMAC, sinkMAC: sinkMAC, sink: sink,
                                         options: options, interrupted: interrupted)
                samples.append(sample)
                printLine("  run \(round + 1) \(padded(sample.peer, 9)) \(fixed(sample.mpps, 3)) Mpps at sink "
                    + "(offered \(fixed(sample.offered, 3)))  \(fixed(sample.cpuPerMillion, 3)) CPU s/Mpkt  "
                    + "\(fixed(sample.framesPerKick, 1)) frames/kick (max \(sample.maxFramesPerKick))  drops \(sample.drops)"
                    + (verbose ? " (\(sample.dropReasons))" : ""))
            }
        }
        printLine("median of \(repeats):")
        var medians: [String: Double] = [:]
        for peer in peers {
            let mine = samples.filter { $0.peer == peer }
            let mpps = median(mine.map(\.mpps))
            medians[peer] = mpps
            printLine("  \(padded(peer, 9)) \(fixed(mpps, 3)) Mpps at sink (offered \(fixed(median(mine.map(\.offered)), 3)))  "
                + "\(fixed(median(mine.map(\.cpuPerMillion)), 3)) CPU s/Mpkt")
        }
        if let ours = medians["xdpswitch"], let ceiling = medians["raw"], ceiling > 0 {
            printLine("  xdpswitch/raw \(fixed(ours / ceiling, 2))")
        }
    }

    private func measure(peer: String, sides: (String, String), generatorNamespace: String, generatorMAC: [UInt8],
                         sinkMAC: [UInt8], sink: CountingSink, options: EngineConfiguration,
                         interrupted: InterruptFlag) throws -> Sample {
        let engine: Engine
        do {
            if peer == "raw" {
                engine = try Engine.rawForwarder(pairs: [sides], options: options)
            } else {
                let config = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-bench", ports: [
                    PortConfiguration(name: sides.0, tag: 1), PortConfiguration(name: sides.1, tag: 1),
                ])])
                engine = try Engine(configuration: config, options: options)
            }
            try engine.start()
        } catch {
            throw CommandFailure("\(peer): \(error)")
        }
        defer { engine.close() }
        let generator = TrafficGenerator(interface: "g0", namespace: generatorNamespace,
                                         destination: sinkMAC, source: generatorMAC)
        generator.cpu = generatorCPU
        do { try generator.start() } catch { throw CommandFailure("generator: \(error)") }
        defer { generator.stop() }

        try sleep(seconds: 1, interrupted: interrupted)        // warm-up
        let (s0, g0, e0, t0) = (sink.counts.packets, generator.sent, engine.statistics(), now())
        try sleep(seconds: Double(seconds), interrupted: interrupted)
        let (s1, g1, e1, t1) = (sink.counts.packets, generator.sent, engine.statistics(), now())
        if let error = generator.error { throw CommandFailure("generator: \(error)") }
        let elapsed = t1 - t0
        let delivered = Double(s1 &- s0)
        let drops = e1.interfaces.reduce(0) { $0 + $1.totalDrops } - e0.interfaces.reduce(0) { $0 + $1.totalDrops }
        var reasons: [String: UInt64] = [:]
        for i in e1.interfaces { for (k, v) in i.drops { reasons["\(i.name == sides.0 ? "a" : "b"):\(k)", default: 0] += v } }
        for i in e0.interfaces { for (k, v) in i.drops { reasons["\(i.name == sides.0 ? "a" : "b"):\(k)", default: 0] -= v } }
        if verbose {
            printLine("    \(e1.frames); iterations \(e1.iterations &- e0.iterations) sleeps \(e1.sleeps &- e0.sleeps) "
                + "fill-starved \(e1.interfaces.map(\.fillStarved)) kicks \(e1.interfaces.map(\.txKicks)) "
                + "tx-full-events \(e1.interfaces.map(\.txRingFullEvents)) kernel \(e1.interfaces.map(\.kernel))")
        }
        let dropReasons = reasons.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", ")
        return Sample(peer: peer, mpps: delivered / elapsed / 1e6, offered: Double(g1 &- g0) / elapsed / 1e6,
                      cpuPerMillion: delivered > 0 ? (e1.workerCPUSeconds - e0.workerCPUSeconds) / (delivered / 1e6) : 0,
                      framesPerKick: e1.framesPerKick, maxFramesPerKick: e1.maxFramesPerKick, drops: drops,
                      dropReasons: dropReasons)
    }

    private func sleep(seconds: Double, interrupted: InterruptFlag) throws {
        let end = now() + seconds
        while now() < end {
            if interrupted.raised.load(ordering: .relaxed) { throw CommandFailure("interrupted; topology removed") }
            usleep(100_000)
        }
    }

    private func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// SIGINT/SIGTERM during a bench set a flag (a thread waits for them) so the bench unwinds
/// through its `defer`s and removes its namespaces instead of dying with them in place.
final class InterruptFlag: Sendable {
    let raised = Atomic<Bool>(false)
}

enum BenchSignals {
    /// Blocks SIGINT and SIGTERM in this thread (and the threads it starts later) and
    /// starts a thread that turns them into the returned flag.
    static func install() -> InterruptFlag {
        let flag = InterruptFlag()
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
