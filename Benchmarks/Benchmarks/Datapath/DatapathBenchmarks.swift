import Benchmark
import XDPDatapath
import XDPPacket
#if canImport(Glibc)
import Glibc
#endif

// Each benchmark iteration is one batch of 64 frames through one stage. Before each
// batch the frames are rewritten from a template (what an RX copy does), so every
// stage sees fresh bytes; the frames the stage leaves on transmit queues are taken back
// as a port's transport would. "per packet" figures = metric / (iterations × 64).
//
// Metrics: throughput (batches/s; x64 = packets/s), CPU time, instructions, mallocs and
// retains (must be 0 per batch in the steady state).

let batchSize = 64

/// A datapath with frames preloaded and the plumbing to run batches through it.
final class Rig {
    let pool = FramePool(frameCount: 4096)
    let datapath: Datapath
    let batch = PacketBatch()
    let input: Port
    var addresses: [UInt64] = []
    var template: [UInt8]
    var templateLength: UInt32

    init(bridges: [BridgeConfiguration], input: String, template: [UInt8], learn: [(frame: [UInt8], port: String)]) {
        datapath = try! Datapath(configuration: DatapathConfiguration(bridges: bridges), pool: pool)
        self.input = datapath.port(named: input)!
        self.template = template
        templateLength = UInt32(template.count)
        for (frame, port) in learn { datapath.inject(frame, into: datapath.port(named: port)!, now: 1) }
        datapath.discardTransmitted()
        for _ in 0..<batchSize { addresses.append(pool.allocate()! + UInt64(pool.headroom)) }
        precondition(addresses.last! < UInt64(batchSize * pool.frameSize), "the rig owns the pool's first frames")
    }

    /// Refill the batch from the template (an RX copy).
    @inline(__always)
    func refill() {
        template.withUnsafeBytes { raw in
            for address in addresses {
                memcpy(pool.pointer(address), raw.baseAddress!, raw.count)
                batch.append(address: address, length: templateLength)
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
        warmupIterations: 1000,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    Benchmark("Parse 64B UDP x64") { benchmark in
        let rig = Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: b), learn: [])
        var meta = PacketMetadata()
        rig.refill()
        for _ in benchmark.scaledIterations {
            for i in 0..<rig.batch.count {
                PacketParser.parse(rig.pool.pointer(rig.batch.addresses[i]), length: Int(rig.batch.lengths[i]), into: &meta)
            }
            blackHole(meta)
        }
        rig.batch.removeAll()
    }

    Benchmark("L2 NORMAL access->access 64B x64") { benchmark in
        let rig = Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: b),
                      learn: [(udp64(from: b, to: .broadcast), "vm-b")])
        var now: UInt64 = 2
        for _ in benchmark.scaledIterations { rig.runBatch(now: now); now &+= 1000 }
        precondition(rig.datapath.port(named: "vm-b")!.stats.txPackets > 0)
    }

    Benchmark("VLAN push access->trunk 64B x64") { benchmark in
        let rig = Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: b),
                      learn: [(udp64(from: b, to: .broadcast, vlan: 1), "trunk")])
        var now: UInt64 = 2
        for _ in benchmark.scaledIterations { rig.runBatch(now: now); now &+= 1000 }
        precondition(rig.datapath.port(named: "trunk")!.stats.txPackets > 0)
    }

    Benchmark("VLAN pop trunk->access 64B x64") { benchmark in
        let rig = Rig(bridges: accessBridge, input: "trunk", template: udp64(from: b, to: a, vlan: 1),
                      learn: [(udp64(from: a, to: .broadcast), "vm-a")])
        var now: UInt64 = 2
        for _ in benchmark.scaledIterations { rig.runBatch(now: now); now &+= 1000 }
        precondition(rig.datapath.port(named: "vm-a")!.stats.txPackets > 0)
    }

    Benchmark("Flood broadcast to 2 ports 64B x64") { benchmark in
        let rig = Rig(bridges: accessBridge, input: "vm-a", template: udp64(from: a, to: .broadcast), learn: [])
        var now: UInt64 = 2
        for _ in benchmark.scaledIterations { rig.runBatch(now: now); now &+= 1000 }
        precondition(rig.datapath.port(named: "trunk")!.stats.txPackets > 0)
    }
}
