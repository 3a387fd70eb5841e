import Benchmark
import XDPDatapath
import XDPPacket
import XDPScenarios

// Connection tracking, alone and in the flow pipeline.
//
// - "Conntrack lookup: established UDP, N connections": the tracker with N committed
//   connections (both directions seen); each packet of the iteration is the next of
//   them in a scattered order (source address and port rewritten in one frame, as a
//   new packet would arrive), so with 1M connections the lookups miss the caches as
//   real traffic would.
// - "Conntrack setup: new UDP connections committed": every packet opens a connection
//   with `commit`; between iterations (not measured) the table is flushed.
// - "Flow pipeline: ct() stateful firewall, established": Neutron-style flows (zone from
//   reg6, ct(table=1), +est allowed, commit of +new) on the datapath, replies of
//   established connections.
//
// Per packet = metric / 64,000, as in DatapathBenchmarks.swift.

let a = MACAddress("fa:16:3e:00:00:0a")!, b = MACAddress("fa:16:3e:00:00:0b")!
let ipA = IPv4Address(10, 1, 0, 10), ipB = IPv4Address(10, 1, 0, 11)
let batchSize = ScenarioRig.batchSize

/// A UDP frame and its parse, rewritten per packet with another source address/port.
struct ConntrackProbe {
    var frame: [UInt8]
    var meta = PacketMetadata()

    init(source: IPv4Address, destination: IPv4Address) {
        frame = FrameBuilder().ethernet(source: a, destination: b).ipv4(source: source, destination: destination)
            .udp(sourcePort: 1, destinationPort: 53).payload(count: 18).build()
        frame.withUnsafeMutableBytes { _ = PacketParser.parse($0.baseAddress!, length: $0.count, into: &meta) }
    }
}

/// Connection `i` of a set: source 10.x.y.z with x.y.z from i >> 12, source port from i.
@inline(__always)
func connectionTuple(_ i: Int) -> (address: UInt32, port: UInt16) {
    (0x0A00_0000 | UInt32(truncatingIfNeeded: i >> 12), UInt16(truncatingIfNeeded: 1024 + (i & 0xFFF)))
}

/// Tracks `frame` (in `probe`) as connection `i`, original direction (`reply` false) or reply.
@inline(__always)
func track(_ tracker: ConnectionTracker, _ probe: inout ConntrackProbe, _ i: Int, reply: Bool, commit: Bool, now: DatapathInstant) -> TrackResult {
    let (address, port) = connectionTuple(i)
    let server = ipB.rawValue
    let l4 = Int(probe.meta.l4Offset)
    if reply {
        probe.meta.nwSrc = server; probe.meta.nwDst = address
    } else {
        probe.meta.nwSrc = address; probe.meta.nwDst = server
    }
    let meta = probe.meta
    return probe.frame.withUnsafeMutableBytes { raw -> TrackResult in
        let p = raw.baseAddress!
        p.storeBytes(of: (reply ? 53 : port).bigEndian, toByteOffset: l4, as: UInt16.self)
        p.storeBytes(of: (reply ? port : 53).bigEndian, toByteOffset: l4 + 2, as: UInt16.self)
        return tracker.track(frame: p, length: raw.count, meta: meta, zone: 1, commit: commit, now: now)
    }
}

func conntrackBenchmarks() {
    for n in [1, 10_000, 1_000_000] {
        var config = ConntrackConfiguration()
        config.capacity = max(1024, n)
        let tracker = ConnectionTracker(configuration: config)
        var probe = ConntrackProbe(source: ipA, destination: ipB)
        for i in 0..<n {
            let r = track(tracker, &probe, i, reply: false, commit: true, now: DatapathInstant(nanoseconds: 1))
            precondition(r.disposition == .forward && r.state.contains(.new))
            _ = track(tracker, &probe, i, reply: true, commit: false, now: DatapathInstant(nanoseconds: 1))
        }
        precondition(tracker.connectionCount == n)
        // A scattered walk over every connection (odd stride, coprime with n's factors).
        let stride = n == 1 ? 0 : 7_919
        Benchmark("Conntrack lookup: established UDP, \(n) connections x64000") { benchmark in
            var i = 0, established = 0
            for _ in benchmark.scaledIterations {
                for _ in 0..<(batchSize * batchesPerIteration) {
                    let r = track(tracker, &probe, i, reply: false, commit: false, now: DatapathInstant(nanoseconds: 2))
                    established &+= r.state.contains(.established) ? 1 : 0
                    i = (i &+ stride) % n
                }
            }
            precondition(established > 0)
            blackHole(established)
        }
    }

    var setupConfig = ConntrackConfiguration()
    setupConfig.capacity = 1 << 17
    let setupTracker = ConnectionTracker(configuration: setupConfig)
    var setupProbe = ConntrackProbe(source: ipA, destination: ipB)
    Benchmark("Conntrack setup: new UDP connections committed x64000") { benchmark in
        for _ in benchmark.scaledIterations {
            benchmark.startMeasurement()
            var created = 0
            for i in 0..<(batchSize * batchesPerIteration) {
                let r = track(setupTracker, &setupProbe, i, reply: false, commit: true, now: DatapathInstant(nanoseconds: 2))
                created &+= r.disposition == .forward ? 1 : 0
            }
            benchmark.stopMeasurement()
            precondition(created == batchSize * batchesPerIteration, "refused commits: \(setupTracker.nonZeroCounters)")
            setupTracker.flush()
        }
    }

    // Replies of 64 established connections through the stateful flows.
    let firewall = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: [
        PortConfiguration(name: "p1"), PortConfiguration(name: "p2")], flows: [
        "table=0,priority=100,ip actions=load:5->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
        "table=1,priority=100,ct_state=+trk+new,ip,in_port=1 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:2",
        "table=1,priority=100,ct_state=+trk+est-rel-inv,in_port=2 actions=output:1",
        "table=1,priority=100,ct_state=+trk+est-rel-inv,in_port=1 actions=output:2",
        "table=1,priority=90,ct_state=+trk+inv actions=drop",
        "table=1,priority=0 actions=drop",
    ])])
    func flowUDP(_ i: Int, reply: Bool) -> [UInt8] {
        let sport = UInt16(1000 + i)
        let frame = FrameBuilder().ethernet(source: reply ? b : a, destination: reply ? a : b)
            .ipv4(source: reply ? ipB : ipA, destination: reply ? ipA : ipB)
            .udp(sourcePort: reply ? 53 : sport, destinationPort: reply ? sport : 53).build()
        return frame + Array(repeating: 0, count: max(0, 60 - frame.count))
    }
    let rig = try! ScenarioRig(PipelineScenario(name: "ct-firewall", configuration: firewall, input: "p2", output: "p1",
                                                templates: (0..<64).map { flowUDP($0, reply: true) },
                                                prime: (0..<64).map { (flowUDP($0, reply: false), "p1") }))
    precondition(rig.datapath.conntrack?.connectionCount == 64)
    pipeline("Flow pipeline: ct() stateful firewall, established replies 64B x64000", rig)
}
