#if canImport(Glibc)
import Glibc
#endif
import XDPDatapath
import XDPPacket
import XDPScenarios

/// `xdpswitch bench-micro STAGE --batches N` (hidden): runs N batches of 64 frames through
/// one pipeline stage in memory, for counting instructions per packet under
/// `valgrind --tool=callgrind --toggle-collect='xdpswitch_micro_*'`
/// (scripts/bench-instructions.sh; perf counters are not available in this machine's VM).
///
/// Only the stage itself runs inside the functions named `xdpswitch_micro_*`: refilling
/// the batch from the template (an RX copy) and taking the transmitted frames back (a TX
/// completion) happen outside them, so callgrind's total is the stage's own instructions.
/// Every stage is a `PipelineScenario` (XDPScenarios), the very set-up the package
/// benchmarks in `Benchmarks/` run, so the instruction counts sit beside their figures in
/// BENCHMARKS.md.
/// A few batches run before the measured ones (MAC learning, caches, conntrack entries).
public enum MicroBench {
    /// The stages, in `bench-micro list` order: every `PipelineScenario`, then the first
    /// packets of connections (`snat-new`: each frame opens a translated connection of its
    /// own; `snat-new-recorded`: the same with the in-kernel fast path's recorder on, each
    /// batch's decisions taken as the engine takes them — the slow path's share of a first
    /// packet's cost with the fast path on).
    public static var stages: [String] { PipelineScenario.names + ["snat-new", "snat-new-recorded"] }

    /// Runs `batches` measured batches of `stage` (after a few warm-up ones) and returns
    /// the packets measured. Throws `ScenarioError` for an unknown stage or a set-up that failed.
    public static func run(stage: String, batches: Int) throws -> Int {
        guard batches > 0 else { throw ScenarioError("--batches must be positive") }
        guard stages.contains(stage) else {
            throw ScenarioError("unknown stage \(stage) (\(stages.joined(separator: ", ")))")
        }
        return try MicroStage(stage).run(batches: batches)
    }
}

/// One stage's rig: a scenario's datapath with its frames, or the parser / classifier alone.
final class MicroStage {
    enum Kind { case pipeline, parse, classifier(ClassifierScenario), newConnections(recorded: Bool) }

    let kind: Kind
    let rig: ScenarioRig
    // The rig's datapath, batch and input port held here as well: the measured function
    // reads them from this module's class, without retaining what another module's holds.
    let datapath: Datapath
    let batch: PacketBatch
    let input: PortID
    var now: UInt64 = 2
    /// `snat-new*`: the next UDP source port written into the frames.
    var nextPort: UInt16 = 1

    init(_ name: String) throws {
        if name.hasPrefix("snat-new") {
            // Room for every connection the warm-up and measured batches open.
            let snat = try PipelineScenario.named("snat")!
            var configuration = snat.configuration
            configuration.routers[0].natConnections = 1 << 17
            // The trackers' hash seeds and the SNAT ports fixed: the same probes every run.
            configuration.randomSeed = 1
            let recorded = name == "snat-new-recorded"
            kind = .newConnections(recorded: recorded)
            rig = try ScenarioRig(PipelineScenario(name: name, configuration: configuration, input: snat.input, output: snat.output,
                                                   templates: snat.templates, prime: snat.prime))
            (datapath, batch, input) = (rig.datapath, rig.batch, rig.input)
            datapath.fastPathRecording = recorded
            return
        }
        if name.hasPrefix("classifier-"), let n = Int(name.dropFirst("classifier-".count)) {
            kind = .classifier(ClassifierScenario(flows: n))
            rig = try ScenarioRig(PipelineScenario.named("flows-1")!)
            (datapath, batch, input) = (rig.datapath, rig.batch, rig.input)
            return
        }
        guard let scenario = try PipelineScenario.named(name) else { throw ScenarioError("unknown stage \(name)") }
        if name == "compute" {
            // The bench's compute node, checked frame by frame first (the VM's frame leaves GRE-
            // encapsulated with key 1001, the reply reaches the VM, the stream is then +est).
            let start = DatapathInstant(nanoseconds: 1_000_000_000)
            let check = ComputePathCheck(datapath: try Datapath(configuration: scenario.configuration,
                                                                pool: FramePool(frameCount: 256), now: start),
                                         a: "a", b: "b", now: start)
            guard check.problems.isEmpty else {
                throw ScenarioError("compute path check failed:\n  " + check.problems.joined(separator: "\n  "))
            }
        }
        kind = name == "parse" ? .parse : .pipeline
        rig = try ScenarioRig(scenario)
        (datapath, batch, input) = (rig.datapath, rig.batch, rig.input)
    }

    /// Warm-up batches, then `batches` measured ones; returns the packets measured.
    func run(batches: Int) -> Int {
        var sink: Int32 = 0
        for _ in 0..<8 { batchOnce(measured: false, sink: &sink) }
        for _ in 0..<batches { batchOnce(measured: true, sink: &sink) }
        if sink == Int32.min { print("") }     // keep the lookups' results alive
        return batches * ScenarioRig.batchSize
    }

    private func batchOnce(measured: Bool, sink: inout Int32) {
        switch kind {
        case .classifier(let c):
            sink &+= measured ? xdpswitchMicroClassify(c.table, c.keys) : xdpswitchMicroClassifyWarm(c.table, c.keys)
            return
        case .parse:
            rig.refill()
            sink &+= measured ? xdpswitchMicroParse(rig) : xdpswitchMicroParseWarm(rig)
            return
        case .newConnections(let recorded):
            rig.refill()
            // A source port of its own per frame (UDP without a checksum: nothing else changes).
            let storage = batch.storage
            for i in 0..<storage.countPointer.pointee {
                rig.pool.pointer(storage.addresses[i]).storeBytes(of: nextPort.bigEndian, toByteOffset: 34, as: UInt16.self)
                nextPort = nextPort == .max ? 1 : nextPort &+ 1
            }
            if measured {
                xdpswitchMicroProcessNew(self, recorded: recorded)
            } else {
                datapath.process(batch, from: input, now: DatapathInstant(nanoseconds: now))
                if recorded { _ = datapath.takeFastPathDecisions() }
            }
            now &+= 1000
            rig.checkRecycled(rig.recycle())
        case .pipeline:
            rig.refill()
            if measured { xdpswitchMicroProcess(self) } else { datapath.process(batch, from: input, now: DatapathInstant(nanoseconds: now)) }
            now &+= 1000
            rig.checkRecycled(rig.recycle())
        }
    }
}

// The measured functions: callgrind counts instructions inside `xdpswitch_micro_*` only.
// The warm-up twins do the same work under other names.

@inline(never) @_silgen_name("xdpswitch_micro_process")
func xdpswitchMicroProcess(_ stage: MicroStage) {
    stage.datapath.process(stage.batch, from: stage.input, now: DatapathInstant(nanoseconds: stage.now))
}

/// A batch of first packets, and with the recorder on the decisions taken after it.
@inline(never) @_silgen_name("xdpswitch_micro_process_new")
func xdpswitchMicroProcessNew(_ stage: MicroStage, recorded: Bool) {
    stage.datapath.process(stage.batch, from: stage.input, now: DatapathInstant(nanoseconds: stage.now))
    if recorded { _ = stage.datapath.takeFastPathDecisions() }
}

@inline(never) @_silgen_name("xdpswitch_micro_parse")
func xdpswitchMicroParse(_ rig: ScenarioRig) -> Int32 { parseBatch(rig) }

@inline(never)
func xdpswitchMicroParseWarm(_ rig: ScenarioRig) -> Int32 { parseBatch(rig) }

@inline(__always)
func parseBatch(_ rig: ScenarioRig) -> Int32 {
    var meta = PacketMetadata()
    var sum: Int32 = 0
    let base = rig.pool.base, addresses = rig.batch.addresses, lengths = rig.batch.lengths
    for i in 0..<rig.batch.count {
        PacketParser.parse(base + Int(addresses[i]), length: Int(lengths[i]), into: &meta)
        sum &+= Int32(truncatingIfNeeded: meta.tpDst)
    }
    return sum
}

@inline(never) @_silgen_name("xdpswitch_micro_classify")
func xdpswitchMicroClassify(_ table: FlowClassifier, _ keys: [FlowKey]) -> Int32 { classifyBatch(table, keys) }

@inline(never)
func xdpswitchMicroClassifyWarm(_ table: FlowClassifier, _ keys: [FlowKey]) -> Int32 { classifyBatch(table, keys) }

@inline(__always)
func classifyBatch(_ table: FlowClassifier, _ keys: [FlowKey]) -> Int32 {
    var found: Int32 = 0
    for key in keys { found &+= table.lookup(key) }
    return found
}
