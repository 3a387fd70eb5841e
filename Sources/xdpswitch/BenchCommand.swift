import ArgumentParser
import XDPBench
import XDPSwitch

/// `xdpswitch bench SCENARIO`: forwarding throughput on veth pairs, ours beside the peers.
/// The options only; the lab, the peers and the report are XDPBench's (`BenchRun`), the
/// scenarios XDPScenarios' (`BenchScenario`). Docs in BENCHMARKS.md.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure forwarding throughput on veth pairs beside raw AF_XDP, Open vSwitch and Linux.",
        discussion: "Scenarios: all, l2, vlan (= vlan-push, vlan-pop), gre-encap, gre-decap, vxlan-encap, vxlan-decap, sg (= sg-10, sg-100), snat, fip, compute. "
            + "Scenarios whose datapath feature has not landed are reported as pending.")

    @Argument(help: "Scenario: all, l2, vlan, vlan-push, vlan-pop, gre-encap, gre-decap, vxlan-encap, vxlan-decap, sg, sg-10, sg-100, snat, fip, compute.")
    var scenario: String = "l2"

    @Option(name: .long, help: "Seconds measured per run (after one second of warm-up).")
    var seconds: Int = 5

    @Option(name: .customLong("repeat"), help: "Runs per peer; the report gives the median.")
    var repeats: Int = 3

    @Option(name: .long, help: "Frame size in bytes as RFC 2544 counts it (with the 4-byte FCS veth does not carry): 64-1518.")
    var size: Int = 64

    @Option(name: .long, help: "Flows: distinct UDP source ports, cycled frame by frame (1-60000).")
    var flows: Int = 1

    @Option(name: .long, help: ArgumentHelp("Peers measured beside xdpswitch, comma-separated: ovs, kernel, raw, fastpath (xdpswitch with --fast-path on), "
        + "direct (no forwarder: a veth pair from the generator straight to the sink)."))
    var compare: String = ""

    @Flag(name: .long, help: "Same as --compare raw (kept from the first bench).")
    var raw = false

    @Option(name: .long, help: "Write every run and the medians as JSON to this file.")
    var json: String?

    @Option(name: .long, help: "Exit 1 when the median xdpswitch/raw ratio on l2 is below this (bench-check).")
    var minRawRatio: Double?

    @Option(name: .long, help: "Exit 1 when the median xdpswitch-fp/direct ratio on l2 is below this, or the kernel carried less than 99% of xdpswitch-fp's frames (bench-check; needs --compare fastpath,direct).")
    var minFastPathRatio: Double?

    @Option(name: .long, help: "Idle mode of our forwarder: poll or busy-poll.")
    var idle: String = "poll"

    @Option(name: .long, help: "Frames per RX batch (1-64).")
    var batch: Int = 64

    @Option(name: .long, help: "Entries of every AF_XDP ring of our forwarder (a power of two, 64-16384; default 4096).")
    var ringSize: Int?

    @Option(name: .long, help: "Most TX kicks after one batch.")
    var kicksPerBatch: Int = 4

    @Flag(name: .long, help: "Print per-run detail (frames per kick, drops by reason).")
    var verbose = false

    @Option(name: .long, help: ArgumentHelp("Pin our forwarder's worker (and Open vSwitch's pmd thread) to this CPU. Default: the last CPU, where Open vSwitch puts its pmd thread itself; any: not pinned.", valueName: "cpu|any"))
    var cpu: CPUChoice?

    @Option(name: .long, help: ArgumentHelp("Pin the generator thread to this CPU. Default: CPU 0; any: not pinned.", valueName: "cpu|any"))
    var generatorCPU: CPUChoice?

    /// Where the forwarder and the generator run: apart, and never migrating. Unpinned,
    /// our worker and the generator swapped CPUs several times a second (their caches
    /// went cold each time) while OVS's pmd thread stays on its CPU. Defaults: the last
    /// and the first CPU the process may run on; any other CPU is refused.
    func placement() throws -> (forwarder: Int?, generator: Int?) {
        let cpus = EngineConfiguration.allowedCPUs
        let forwarder = cpu ?? CPUChoice(cpu: cpus.count > 1 ? cpus.last : nil)
        let generator = generatorCPU ?? CPUChoice(cpu: cpus.count > 1 ? cpus.first : nil)
        return (try cpuOption(forwarder, flag: "--cpu"), try cpuOption(generator, flag: "--generator-cpu"))
    }

    func run() throws {
        var bench = BenchRun()
        bench.scenario = scenario
        bench.seconds = seconds
        bench.repeats = repeats
        bench.size = size
        bench.flows = flows
        bench.compared = compare.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty }
        if raw && !bench.compared.contains("raw") { bench.compared.append("raw") }
        bench.json = json
        bench.minRawRatio = minRawRatio
        bench.minFastPathRatio = minFastPathRatio
        bench.verbose = verbose
        bench.arguments = Array(CommandLine.arguments.dropFirst())
        guard let idleMode = EngineConfiguration.IdleMode(rawValue: idle) else {
            throw CommandFailure("--idle \(idle): expected poll or busy-poll")
        }
        bench.options.idle = idleMode
        bench.options.batchSize = batch
        bench.options.kicksPerBatch = kicksPerBatch
        do { try bench.validate() } catch { throw CommandFailure("\(error)") }
        let placement = try placement()
        bench.options.cpu = placement.forwarder
        bench.generatorCPU = placement.generator
        if let ringSize { bench.options.ringSize = try ringSizeOption(ringSize) }
        do {
            try bench.run(output: BenchOutput(line: { printLine($0) },
                                              isClosed: { standardOutputClosed.load(ordering: .relaxed) }))
        } catch is BenchCheckFailure {
            throw ExitCode(1)
        } catch let failure as BenchFailure {
            throw CommandFailure(failure.description)
        }
    }
}

/// `xdpswitch bench-micro STAGE --batches N` (hidden): N batches of 64 frames through one
/// pipeline stage in memory, for `make bench-instructions` (XDPBench's `MicroBench`).
struct BenchMicroCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-micro",
        abstract: "Run N batches of 64 frames through one pipeline stage (for instruction counting).",
        shouldDisplay: false)

    @Argument(help: "Stage, or `list`.")
    var stage: String

    @Option(name: .long, help: "Measured batches of 64 frames.")
    var batches: Int = 200

    func run() throws {
        if stage == "list" {
            for s in MicroBench.stages { printLine(s) }
            return
        }
        do {
            let packets = try MicroBench.run(stage: stage, batches: batches)
            printLine("stage \(stage): \(packets) packets in \(batches) batches")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
