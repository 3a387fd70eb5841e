#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import XDPSwitch

/// `xdpswitch bench-micro STAGE --batches N` (hidden): runs N batches of 64 frames through
/// one pipeline stage in memory, for counting instructions per packet under
/// `valgrind --tool=callgrind --toggle-collect='xdpswitch_micro_*'`
/// (scripts/bench-instructions.sh; perf counters are not available in this machine's VM).
///
/// Only the stage itself runs inside the functions named `xdpswitch_micro_*`: refilling
/// the batch from the template (an RX copy) and taking the transmitted frames back (a TX
/// completion) happen outside them, so callgrind's total is the stage's own instructions.
/// Every stage is set up as `Benchmarks/` sets it up (same configurations and frames),
/// so the instruction counts sit beside the package-benchmark figures in BENCHMARKS.md.
/// A few batches run before the measured ones (MAC learning, caches, conntrack entries).
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
            for s in MicroStage.names { printLine(s) }
            return
        }
        guard batches > 0 else { throw CommandFailure("--batches must be positive") }
        guard MicroStage.names.contains(stage) else {
            throw CommandFailure("unknown stage \(stage) (\(MicroStage.names.joined(separator: ", ")))")
        }
        guard let rig = MicroStage.make(stage) else { throw CommandFailure("stage \(stage): set-up failed (above)") }
        let packets = rig.run(batches: batches)
        printLine("stage \(stage): \(packets) packets in \(batches) batches")
    }
}

/// One stage's rig: a datapath with its frames, or the parser / classifier alone.
final class MicroStage {
    enum Kind { case pipeline, parse, classifier(FlowClassifier, [FlowKey]) }

    static let batchSize = 64
    static let names = ["parse", "l2", "vlan-push", "vlan-pop", "flood", "gre-encap", "gre-decap",
                        "flows-1", "flows-100", "flows-10000", "classifier-1", "classifier-100", "classifier-10000",
                        "sg-10", "sg-100", "snat", "fip", "compute"]

    let kind: Kind
    let pool = FramePool(frameCount: 4096)
    let datapath: Datapath
    let batch = PacketBatch()
    let input: Int
    let templates: [[UInt8]]
    var addresses: [UInt64] = []
    var now: UInt64 = 2

    init(kind: Kind = .pipeline, configuration: DatapathConfiguration, input: String, templates: [[UInt8]],
         prime: [(frame: [UInt8], port: String)] = []) throws {
        self.kind = kind
        datapath = try Datapath(configuration: configuration, pool: pool)
        guard let port = datapath.port(named: input) else { throw CommandFailure("no port \(input)") }
        self.input = port.id
        self.templates = templates
        for (frame, name) in prime {
            guard let p = datapath.port(named: name) else { throw CommandFailure("no port \(name)") }
            datapath.inject(frame, into: p, now: 1)
        }
        datapath.discardTransmitted()
        for _ in 0..<Self.batchSize {
            guard let frame = pool.allocate() else { throw CommandFailure("pool empty") }
            addresses.append(frame + UInt64(pool.headroom))
        }
    }

    /// Warm-up batches, then `batches` measured ones; returns the packets measured.
    func run(batches: Int) -> Int {
        var sink: Int32 = 0
        for _ in 0..<8 { batchOnce(measured: false, sink: &sink) }
        for _ in 0..<batches { batchOnce(measured: true, sink: &sink) }
        if sink == Int32.min { printLine("") }     // keep the lookups' results alive
        return batches * Self.batchSize
    }

    private func batchOnce(measured: Bool, sink: inout Int32) {
        switch kind {
        case .classifier(let table, let keys):
            sink &+= measured ? xdpswitchMicroClassify(table, keys) : xdpswitchMicroClassifyWarm(table, keys)
            return
        case .parse, .pipeline:
            break
        }
        batch.removeAll()
        for (i, address) in addresses.enumerated() {
            let template = templates[i % templates.count]
            template.withUnsafeBytes { raw in
                memcpy(pool.pointer(address), raw.baseAddress!, raw.count)
                batch.append(address: address, length: UInt32(raw.count))
            }
        }
        if case .parse = kind {
            sink &+= measured ? xdpswitchMicroParse(self) : xdpswitchMicroParseWarm(self)
            return
        }
        if measured { xdpswitchMicroProcess(self) } else { datapath.process(batch, from: input, now: now) }
        now &+= 1000
        // Take back what the stage queued: the rig's own frames are the pool's first 64
        // (it allocated them first); anything else is a copy (flood) and goes back.
        let ownEnd = UInt64(Self.batchSize * pool.frameSize)
        var queued = 0
        for port in datapath.ports where port.txQueue.count > 0 {
            let queue = port.txQueue
            for i in 0..<queue.count where queue.addresses[i] >= ownEnd { pool.free(queue.addresses[i]) }
            queued += queue.count
            queue.removeAll()
        }
        // A dropped frame would have gone back to the pool while the rig still uses it.
        precondition(queued >= Self.batchSize && pool.freeCount == pool.frameCount - Self.batchSize,
                     "the stage dropped frames: \(datapath.statsDescription())")
    }

    static func make(_ name: String) -> MicroStage? {
        let a = MACAddress("fa:16:3e:00:00:0a")!, b = MACAddress("fa:16:3e:00:00:0b")!
        let ipA = IPv4Address(10, 1, 0, 10), ipB = IPv4Address(10, 1, 0, 11)
        func udp64(from src: MACAddress, to dst: MACAddress, vlan: UInt16? = nil) -> [UInt8] {
            var builder = FrameBuilder().ethernet(source: src, destination: dst)
            if let vlan { builder = builder.vlan(vid: vlan) }
            let frame = builder.ipv4(source: ipA, destination: ipB).udp(sourcePort: 9, destinationPort: 9).build()
            return frame + Array(repeating: 0, count: max(0, (vlan == nil ? 60 : 64) - frame.count))
        }
        let access = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "vm-a", tag: 1), PortConfiguration(name: "vm-b", tag: 1),
            PortConfiguration(name: "vm-c", tag: 2), PortConfiguration(name: "trunk", trunks: [1, 2]),
        ])])
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
                                           mac: MACAddress("02:00:00:00:00:01")!,
                                           neighbours: [IPv4Address(172, 16, 0, 2): MACAddress("02:00:00:00:00:02")!]))
        func manyFlows(_ n: Int) -> DatapathConfiguration {
            DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
                flows: (0..<n).map { "priority=10,dl_dst=\(MACAddress(rawValue: 0x0200_0000_0000 + UInt64($0))) actions=output:2" }
                    + ["priority=0 actions=drop"])])
        }
        do {
            switch name {
            case "parse":
                return try MicroStage(kind: .parse, configuration: access, input: "vm-a", templates: [udp64(from: a, to: b)])
            case "l2":
                return try MicroStage(configuration: access, input: "vm-a", templates: [udp64(from: a, to: b)],
                                      prime: [(udp64(from: b, to: .broadcast), "vm-b")])
            case "vlan-push":
                return try MicroStage(configuration: access, input: "vm-a", templates: [udp64(from: a, to: b)],
                                      prime: [(udp64(from: b, to: .broadcast, vlan: 1), "trunk")])
            case "vlan-pop":
                return try MicroStage(configuration: access, input: "trunk", templates: [udp64(from: b, to: a, vlan: 1)],
                                      prime: [(udp64(from: a, to: .broadcast), "vm-a")])
            case "flood":
                return try MicroStage(configuration: access, input: "vm-a", templates: [udp64(from: a, to: .broadcast)])
            case "gre-encap":
                return try MicroStage(configuration: brTun, input: "int", templates: [udp64(from: a, to: .broadcast, vlan: 1)])
            case "gre-decap":
                let gre = FrameBuilder().ethernet(source: MACAddress("02:00:00:00:00:02")!, destination: MACAddress("02:00:00:00:00:01")!)
                    .ipv4(source: IPv4Address(172, 16, 0, 2), destination: IPv4Address(172, 16, 0, 1), dontFragment: true)
                    .gre(key: 2, protocolType: .transparentEthernetBridging).payload(udp64(from: b, to: .broadcast)).build()
                return try MicroStage(configuration: brTun, input: "eth1", templates: [gre])
            case "sg-10", "sg-100":
                // The bench's `sg` flows (the security-group compiler's); one connection, committed and answered before measuring.
                let rules = name == "sg-10" ? 10 : 100
                let config = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: [
                    PortConfiguration(name: "a", ofport: 1, tag: BenchScenario.vlan),
                    PortConfiguration(name: "b", ofport: 2, tag: BenchScenario.vlan),
                ], flows: try BenchScenario.securityGroupFlows(rules: rules))])
                let forward = TrafficGenerator.udpFrame(destination: BenchLab.sinkMAC, source: BenchLab.generatorMAC, size: 60)
                let reply = BenchScenario.securityGroup(rules: rules).replyFrame(size: 60).frame
                return try MicroStage(configuration: config, input: "a", templates: [forward],
                                      prime: [(forward, "a"), (reply, "b")])
            case "compute":
                // The bench's compute node (br-int with the SG flows, patch, br-tun, GRE out of the
                // underlay `b`), checked frame by frame first (ComputePathCheck: the VM's frame leaves
                // GRE-encapsulated with key 1001, the reply reaches the VM, the stream is then +est).
                let config = try BenchScenario.computeScenario.computeDatapathConfiguration(a: "a", b: "b")
                let check = ComputePathCheck(datapath: try Datapath(configuration: config, pool: FramePool(frameCount: 256)),
                                             a: "a", b: "b")
                guard check.problems.isEmpty else {
                    throw CommandFailure("compute path check failed:\n  " + check.problems.joined(separator: "\n  "))
                }
                let scenario = BenchScenario.computeScenario
                let forward = scenario.generatorFrame(size: 60).frame
                return try MicroStage(configuration: config, input: "a", templates: [forward],
                                      prime: [(forward, "a"), (scenario.computeReplyFrame(size: 60).frame, "b")])
            case "snat", "fip":
                // The bench's router (seed bridges, qr-/qg- router ports, NAT); the sink's MAC
                // learned from its ARP request first, one connection translated before measuring.
                let scenario = BenchScenario.nat(name == "snat" ? .snat : .fip)
                let side = scenario.natSinkSide
                let (from, to) = scenario.natAddresses
                let frame = BenchScenario.routedFrame(from: from, to: to, size: 60)
                return try MicroStage(configuration: scenario.natDatapathConfiguration(a: "a", b: "b"), input: "a", templates: [frame],
                                      prime: [(BenchScenario.arpRequest(sender: side.sink, target: side.router), "b"), (frame, "a")])
            default:
                for n in [1, 100, 10_000] {
                    if name == "flows-\(n)" {
                        return try MicroStage(configuration: manyFlows(n), input: "p1", templates: (0..<64).map {
                            udp64(from: a, to: MACAddress(rawValue: 0x0200_0000_0000 + UInt64($0 * 7919 % n)))
                        })
                    }
                    if name == "classifier-\(n)" {
                        let table = FlowClassifier((0..<n).map { i in
                            var m = FlowMatch()
                            m.set(.ethDst, 0x0200_0000_0000 + UInt64(i))
                            return .init(value: m.value, mask: m.mask, priority: 10, id: Int32(i))
                        } + [.init(value: FlowKey(), mask: FlowKey(), priority: 0, id: Int32(n))])
                        let keys: [FlowKey] = (0..<64).map { i in
                            var k = FlowKey()
                            k.dlDst = 0x0200_0000_0000 + UInt64(i * 7919 % n)
                            return k
                        }
                        return try MicroStage(kind: .classifier(table, keys), configuration: manyFlows(1), input: "p1", templates: [])
                    }
                }
                return nil
            }
        } catch {
            printLine("bench-micro: \(error)")
            return nil
        }
    }
}

// The measured functions: callgrind counts instructions inside `xdpswitch_micro_*` only.
// The warm-up twins do the same work under other names.

@inline(never) @_silgen_name("xdpswitch_micro_process")
func xdpswitchMicroProcess(_ rig: MicroStage) {
    rig.datapath.process(rig.batch, from: rig.input, now: rig.now)
}

@inline(never) @_silgen_name("xdpswitch_micro_parse")
func xdpswitchMicroParse(_ rig: MicroStage) -> Int32 { parseBatch(rig) }

@inline(never)
func xdpswitchMicroParseWarm(_ rig: MicroStage) -> Int32 { parseBatch(rig) }

@inline(__always)
func parseBatch(_ rig: MicroStage) -> Int32 {
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
