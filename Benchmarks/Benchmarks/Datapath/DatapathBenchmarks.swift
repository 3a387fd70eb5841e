import Benchmark
import XDPDatapath
import XDPPacket
#if canImport(Glibc)
import Glibc
#endif

// Each benchmark iteration runs `batchesPerIteration` batches of 64 frames through one
// stage (64,000 packets, so the harness's own per-iteration cost — several µs — is
// noise). Before each batch the frames are rewritten from a template (what an RX copy
// does), so every stage sees fresh bytes; the frames the stage leaves on transmit
// queues are taken back as a port's transport would.
//
// Per packet = metric / 64,000: wall-clock ns per iteration / 64,000 = ns per packet,
// throughput (iterations/s) x 64,000 = packets per second on one core, mallocs per
// iteration / 64,000 = mallocs per packet (must be 0: every benchmark shows the same
// count as "Baseline: empty iteration", which is package-benchmark's own).

let batchSize = 64
let batchesPerIteration = 1000

/// A datapath with frames preloaded and the plumbing to run batches through it.
final class Rig {
    let pool = FramePool(frameCount: 4096)
    let datapath: Datapath
    let batch = PacketBatch()
    let input: Port
    var addresses: [UInt64] = []
    /// One template per batch slot (slot i gets templates[i % count]).
    var templates: [[UInt8]]

    convenience init(bridges: [BridgeConfiguration], input: String, template: [UInt8], learn: [(frame: [UInt8], port: String)]) {
        self.init(configuration: DatapathConfiguration(bridges: bridges), input: input, templates: [template], learn: learn)
    }

    init(configuration: DatapathConfiguration, input: String, templates: [[UInt8]], learn: [(frame: [UInt8], port: String)]) {
        datapath = try! Datapath(configuration: configuration, pool: pool)
        self.input = datapath.port(named: input)!
        self.templates = templates
        // The rig's frames first, from the fresh pool: the priming frames below then come
        // from elsewhere, whatever order they go back to the pool in.
        for _ in 0..<batchSize { addresses.append(pool.allocate()! + UInt64(pool.headroom)) }
        precondition(addresses.allSatisfy { $0 < UInt64(batchSize * pool.frameSize) }, "the rig owns the pool's first frames")
        for (frame, port) in learn { datapath.inject(frame, into: datapath.port(named: port)!, now: 1) }
        datapath.discardTransmitted()
    }

    /// Refill the batch from the template (an RX copy).
    @inline(__always)
    func refill() {
        for (i, address) in addresses.enumerated() {
            templates[i % templates.count].withUnsafeBytes { raw in
                memcpy(pool.pointer(address), raw.baseAddress!, raw.count)
                batch.append(address: address, length: UInt32(raw.count))
            }
        }
    }

    /// Take back what the stage queued (a transport's TX completion) and restore the
    /// original addresses (a pushed tag moved them 4 bytes).
    /// The rig's own frames are the pool's first `batchSize` (it hands out low
    /// addresses first); anything else on a queue is a flood copy and goes back.
    @inline(__always)
    func recycle() {
        let ownEnd = UInt64(batchSize * pool.frameSize)
        for port in datapath.ports where port.txQueue.count > 0 {
            let queue = port.txQueue
            for i in 0..<queue.count where queue.addresses[i] >= ownEnd { pool.free(queue.addresses[i]) }
            queue.removeAll()
        }
    }

    func runBatch(now: UInt64) {
        refill()
        datapath.process(batch, from: input.id, now: now)
        recycle()
        // A dropped frame would have gone back to the pool while the rig still uses it.
        precondition(pool.freeCount == pool.frameCount - batchSize, "the benchmark's frames were dropped: \(datapath.statsDescription())")
    }
}

let a = MACAddress("fa:16:3e:00:00:0a")!, b = MACAddress("fa:16:3e:00:00:0b")!
let ipA = IPv4Address(10, 1, 0, 10), ipB = IPv4Address(10, 1, 0, 11)

func udp64(from src: MACAddress, to dst: MACAddress, vlan: UInt16? = nil) -> [UInt8] {
    var builder = FrameBuilder().ethernet(source: src, destination: dst)
    if let vlan { builder = builder.vlan(vid: vlan) }
    let frame = builder.ipv4(source: ipA, destination: ipB).udp(sourcePort: 9, destinationPort: 9).build()
    return frame + Array(repeating: 0, count: max(0, (vlan == nil ? 60 : 64) - frame.count))
}

let accessBridge = [BridgeConfiguration(name: "br-int", ports: [
    PortConfiguration(name: "vm-a", tag: 1),
    PortConfiguration(name: "vm-b", tag: 1),
    PortConfiguration(name: "vm-c", tag: 2),
    PortConfiguration(name: "trunk", trunks: [1, 2]),
])]

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
    let parseRig = Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: b), learn: [])
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

    pipeline("L2 NORMAL access->access 64B x64000", output: "vm-b",
             Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: b),
                 learn: [(udp64(from: b, to: .broadcast), "vm-b")]))
    pipeline("VLAN push access->trunk 64B x64000", output: "trunk",
             Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: b),
                 learn: [(udp64(from: b, to: .broadcast, vlan: 1), "trunk")]))
    pipeline("VLAN pop trunk->access 64B x64000", output: "vm-a",
             Rig(bridges: accessBridge, input: "trunk", template: udp64(from: b, to: a, vlan: 1),
                 learn: [(udp64(from: a, to: .broadcast), "vm-a")]))
    pipeline("Flood broadcast to 2 ports 64B x64000", output: "trunk",
             Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: .broadcast), learn: []))

    // The seed's br-tun flows with a GRE port: VLAN 1 from br-int is tunnelled (flow,
    // NORMAL, GRE encapsulation onto the underlay), and GRE from the remote is
    // decapsulated, matched on tun_id and tagged toward br-int.
    pipeline("GRE encap: br-tun seed flows, VLAN 1 -> tunnel 64B x64000", output: "eth1",
             Rig(configuration: brTun, input: "int", templates: [udp64(from: a, to: .broadcast, vlan: 1)], learn: []))
    pipeline("GRE decap: tunnel 2 -> br-tun seed flows -> VLAN 1 64B x64000", output: "int",
             Rig(configuration: brTun, input: "eth1", templates: [greFrame(inner: udp64(from: b, to: .broadcast))], learn: []))

    // Classifier: N exact dl_dst flows + a catch-all; 64 different destinations per batch.
    for n in [1, 100, 10_000] {
        let rig = Rig(configuration: manyFlows(n), input: "p1",
                      templates: (0..<64).map { udp64(from: a, to: MACAddress(rawValue: 0x0200_0000_0000 + UInt64($0 * 7919 % n))) }, learn: [])
        pipeline("Flows: \(n) exact-match flows, 64 keys (cache hits) 64B x64000", output: "p2", rig)
        let table = FlowClassifier((0..<n).map { i in
            var m = FlowMatch()
            m.set(.ethDst, 0x0200_0000_0000 + UInt64(i))
            return .init(value: m.value, mask: m.mask, priority: 10, id: Int32(i))
        } + [.init(value: FlowKey(), mask: FlowKey(), priority: 0, id: Int32(n))])
        let keys: [FlowKey] = (0..<64).map { i in var k = FlowKey(); k.dlDst = 0x0200_0000_0000 + UInt64(i * 7919 % n); return k }
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

let brTun = DatapathConfiguration(bridges: [
    BridgeConfiguration(name: "br-tun", ports: [
        PortConfiguration(name: "int"),
        PortConfiguration(name: "gre-1", type: .gre(GREOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow))),
    ], flows: [
        "priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
        "priority=3,tun_id=0x2,dl_dst=fa:16:3e:dd:c1:62 actions=mod_vlan_vid:1,NORMAL",
        "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL",
        "priority=1 actions=drop",
    ]),
], underlay: UnderlayConfiguration(interface: "eth1", address: IPv4Address(172, 16, 0, 1), prefixLength: 24,
                                   mac: MACAddress("02:00:00:00:00:01")!, neighbours: [IPv4Address(172, 16, 0, 2): MACAddress("02:00:00:00:00:02")!]))

/// GRE (key 2) from 172.16.0.2 to us, carrying `inner`.
func greFrame(inner: [UInt8]) -> [UInt8] {
    FrameBuilder().ethernet(source: MACAddress("02:00:00:00:00:02")!, destination: MACAddress("02:00:00:00:00:01")!)
        .ipv4(source: IPv4Address(172, 16, 0, 2), destination: IPv4Address(172, 16, 0, 1), dontFragment: true)
        .gre(key: 2, protocolType: .transparentEthernetBridging).payload(inner).build()
}

func manyFlows(_ n: Int) -> DatapathConfiguration {
    DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
        flows: (0..<n).map { "priority=10,dl_dst=\(MACAddress(rawValue: 0x0200_0000_0000 + UInt64($0))) actions=output:2" }
            + ["priority=0 actions=drop"])])
}

/// A benchmark running `rig`'s batches through the datapath; `output` must have sent frames.
func pipeline(_ name: String, output: String, _ rig: Rig) {
    Benchmark(name) { benchmark in
        var now: UInt64 = 2
        for _ in benchmark.scaledIterations {
            for _ in 0..<batchesPerIteration {
                rig.runBatch(now: now)
                now &+= 1000
            }
        }
        precondition(rig.datapath.port(named: output)!.txQueue.capacity > 0 && rig.pool.freeCount == rig.pool.frameCount - batchSize)
    }
}
