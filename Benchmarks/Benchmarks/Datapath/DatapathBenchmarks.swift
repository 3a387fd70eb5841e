import Benchmark
import XDPDatapath
import XDPPacket
import XDPScenarios

// Each benchmark iteration runs `batchesPerIteration` batches of 64 frames through one
// stage (64,000 packets, so the harness's own per-iteration cost — several µs — is
// noise). The stages are XDPScenarios' `PipelineScenario`s, the very set-ups
// `xdpswitch bench-micro` counts instructions of; `ScenarioRig` rewrites the frames from
// the templates before each batch (what an RX copy does), so every stage sees fresh
// bytes, and takes back what the stage leaves on transmit queues as a port's transport
// would.
//
// Per packet = metric / 64,000: wall-clock ns per iteration / 64,000 = ns per packet,
// throughput (iterations/s) x 64,000 = packets per second on one core, mallocs per
// iteration / 64,000 = mallocs per packet (must be 0: every benchmark shows the same
// count as "Baseline: empty iteration", which is package-benchmark's own).

let batchesPerIteration = 1000

/// The rig of the shared stage `name` (a set-up failure stops the run).
func rig(_ name: String) -> ScenarioRig {
    try! ScenarioRig(PipelineScenario.named(name)!)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .cpuTotal, .mallocCountTotal],
        warmupIterations: 3,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 1000
    )

    // The harness's own allocations per iteration: subtract from the others' counts.
    Benchmark("Baseline: empty iteration") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(0) }
    }

    // Rigs are built here, once: building one (an 8 MB pool) inside a measured closure
    // would cost more than the work measured.
    let parseRig = rig("parse")
    Benchmark("Parse 64B UDP x64000") { benchmark in
        let rig = parseRig
        var meta = PacketMetadata()
        rig.refill()
        let base = rig.pool.base, addresses = rig.batch.addresses, lengths = rig.batch.lengths, count = rig.batch.count
        var sum: UInt64 = 0
        for _ in benchmark.scaledIterations {
            for _ in 0..<batchesPerIteration {
                for i in 0..<count {
                    PacketParser.parse(base + Int(addresses[i]), length: Int(lengths[i]), into: &meta)
                    sum &+= UInt64(meta.tpDst)
                }
            }
        }
        blackHole(sum)
        rig.batch.removeAll()
    }

    pipeline("L2 NORMAL access->access 64B x64000", rig("l2"))
    pipeline("VLAN push access->trunk 64B x64000", rig("vlan-push"))
    pipeline("VLAN pop trunk->access 64B x64000", rig("vlan-pop"))
    pipeline("Flood broadcast to 2 ports 64B x64000", rig("flood"))

    // Neutron's br-tun flows with a GRE port: VLAN 1 from br-int is tunnelled (flow,
    // NORMAL, GRE encapsulation onto the underlay), and GRE from the remote is
    // decapsulated, matched on tun_id and tagged toward br-int.
    pipeline("GRE encap: br-tun seed flows, VLAN 1 -> tunnel 64B x64000", rig("gre-encap"))
    pipeline("GRE decap: tunnel 2 -> br-tun seed flows -> VLAN 1 64B x64000", rig("gre-decap"))
    pipeline("VXLAN encap: br-tun seed flows, VLAN 1 -> VNI 2 64B x64000", rig("vxlan-encap"))
    pipeline("VXLAN decap: VNI 2 -> br-tun seed flows -> VLAN 1 64B x64000", rig("vxlan-decap"))

    // Classifier: N exact dl_dst flows + a catch-all; 64 different destinations per batch.
    for n in [1, 100, 10_000] {
        pipeline("Flows: \(n) exact-match flows, 64 keys (cache hits) 64B x64000", rig("flows-\(n)"))
        let classifier = ClassifierScenario(flows: n)
        let (table, keys) = (classifier.table, classifier.keys)
        Benchmark("Classifier lookup (no cache): \(n) flows x64000") { benchmark in
            var found: Int32 = 0
            for _ in benchmark.scaledIterations {
                for _ in 0..<batchesPerIteration { for key in keys { found &+= table.lookup(key) } }
            }
            blackHole(found)
        }
    }

    conntrackBenchmarks()
    routerBenchmarks()
    natBenchmarks()
    securityGroupBenchmarks()
    computeBenchmarks()
}

/// A benchmark running `rig`'s batches through the datapath; its output port must have
/// sent frames and every frame must be back.
func pipeline(_ name: String, _ rig: ScenarioRig) {
    Benchmark(name) { benchmark in
        var now: UInt64 = 2
        for _ in benchmark.scaledIterations {
            for _ in 0..<batchesPerIteration {
                rig.runBatch(now: DatapathInstant(nanoseconds: now))
                now &+= 1000
            }
        }
        precondition(rig.datapath.port(named: rig.scenario.output)!.txQueue.capacity > 0
                     && rig.pool.freeCount == rig.pool.frameCount - ScenarioRig.batchSize)
    }
}
