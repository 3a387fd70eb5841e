#if canImport(Glibc)
import Glibc
#endif
@testable import AFXDP
import Testing
@testable import XDPDatapath
import XDPLab
import XDPPacket
import XDPScenarios

/// The fast path through a router (the `snat` and `fip` bench scenarios: br-int, the
/// router's `qr-`/`qg-` ports, br-ex): the decision is worked out from the key alone —
/// the NORMAL walks on both sides, the route, the next hop's MAC, the translation — and
/// flattened into a rewrite; it holds while all of them do.
@Suite("Fast path: routers, SNAT and floating IPs")
struct FastPathRouteTests {
    /// A datapath of the scenario (`snat`, `fip`, `compute`), seeded, recording, primed as
    /// the bench primes it (the generator's ARP for its gateway, the sink's ARP, one datagram
    /// that commits the translation), and the scenario's datagram. `mtu`: the router
    /// interfaces'; `flows`: the first bridge's (nil: the scenario's own).
    static func primed(_ name: String, mtu: Int? = nil, flows: [String]? = []) throws
        -> (datapath: Datapath, frame: [UInt8], now: DatapathInstant) {
        let pipeline = try #require(try PipelineScenario.named(name))
        var configuration = pipeline.configuration
        configuration.randomSeed = 7
        if let mtu { for i in configuration.routers[0].interfaces.indices { configuration.routers[0].interfaces[i].mtu = mtu } }
        if let flows { configuration.bridges[0].flows = flows }
        let now = DatapathInstant.now()
        let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 512), now: now)
        datapath.fastPathRecording = true
        for (frame, port) in pipeline.prime {
            datapath.inject(frame, into: datapath.port(named: port)!, now: now)
            _ = FastPathConnectionTests.drain(datapath)
            _ = datapath.takeFastPathDecisions()
        }
        return (datapath, pipeline.templates[0], now)
    }

    /// A stateful firewall for br-int's tables before NORMAL takes the frame to the router
    /// (Neutron's security groups are such tables): table 0 sends IPv4 to
    /// `ct(table=2,zone=1)`, table 2 commits new connections and lets established ones on
    /// to NORMAL. (With table 1 the two segments of this stream's one key share a slot of
    /// the flow-segment cache, which leaves it uncached: a known limit, FlowSegmentCache.swift.)
    static let firewall = [
        "table=0,priority=10,ip,actions=ct(table=2,zone=1)", "table=0,priority=0,actions=NORMAL",
        "table=2,priority=10,ct_state=+trk+new,ip,actions=ct(commit,zone=1),NORMAL",
        "table=2,priority=10,ct_state=+trk+est,ip,actions=NORMAL", "table=2,priority=0,actions=drop",
    ]

    /// Sends `frame` by `a` and answers what left and the decisions taken.
    static func send(_ frame: [UInt8], _ datapath: Datapath, now: DatapathInstant, port: String = "a")
        -> (left: [(String, [UInt8])], decisions: [FastPathDecision]) {
        datapath.inject(frame, into: datapath.port(named: port)!, now: now)
        return (FastPathConnectionTests.drain(datapath), datapath.takeFastPathDecisions())
    }

    static func ip(_ bytes: [UInt8]) -> IPv4Address { IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]) }

    @Test func aSourceNATedDatagramIsDecidedWithItsRewriteAndHoldsWhileTheTranslationDoes() throws {
        let (datapath, frame, now) = try Self.primed("snat")
        let (left, decisions) = Self.send(frame, datapath, now: now)
        #expect(left.map(\.0) == ["b"])
        let decision = try #require(decisions.first)
        #expect(decisions.count == 1)
        let rewrite = try #require(decision.rewrite), route = try #require(decision.route)
        let connection = try #require(decision.key.connection)
        #expect(rewrite.source == Self.ip(BenchScenario.externalRouterIP), "leaves from the gateway address")
        #expect(rewrite.destination == Self.ip(BenchScenario.externalHostIP))
        #expect(rewrite.ttl == connection.ttl - 1)
        #expect(rewrite.dst == MACAddress(BenchScenario.colon(BenchScenario.sinkMAC))!.rawValue, "to the next hop's MAC")
        #expect(rewrite.src == MACAddress(BenchScenario.colon(BenchScenario.bMAC))!.rawValue, "from the gateway interface's MAC")
        #expect(route.translation != nil)
        #expect(route.stepsBefore == 1 && decision.steps.count == 2, "br-int to qr-, then qg- to b on br-ex")
        #expect(decision.outPort == datapath.port(named: "b")!.id && decision.tagOperation == .keep)
        // The same frame leaves exactly as the kernel program would send it.
        #expect(decision.applied(to: frame) == left[0].1)
        // Worked out again from the key alone: the same decision.
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision)
        #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
        #expect(decision.actionsText { datapath.ports[$0.index].name }
            == "set(eth(src=\(FastPathKey.macText(rewrite.src)),dst=\(FastPathKey.macText(rewrite.dst)))),"
            + "set(ipv4(src=10.78.0.1,dst=10.78.0.2,ttl=\(rewrite.ttl))),set(udp(src=\(rewrite.sourcePort),dst=9)),b")
    }

    @Test func whatTheKernelCarriedCountsInTheRouterAndRefreshesTheTranslation() throws {
        let (datapath, frame, now) = try Self.primed("snat")
        let decision = try #require(Self.send(frame, datapath, now: now).decisions.first)
        let router = try #require(datapath.router(named: "bench"))
        let before = router.stats
        let (aBefore, bBefore) = (datapath.port(named: "a")!.stats, datapath.port(named: "b")!.stats)
        let expiry = try #require(datapath.fastPathExpiry(of: decision, now: now))
        let later = DatapathInstant(nanoseconds: now.nanoseconds + 20_000_000_000)
        datapath.creditFastPath(decision, packets: 5, bytes: 300, lastUsed: later)
        let after = router.stats
        #expect(after.forwarded == before.forwarded + 5)
        #expect(after.natTranslated == before.natTranslated + 5)
        #expect(after.interfaces[0].rxPackets == before.interfaces[0].rxPackets + 5, "entered by qr-")
        #expect(after.interfaces[0].rxBytes == before.interfaces[0].rxBytes + 300)
        #expect(after.interfaces[1].txPackets == before.interfaces[1].txPackets + 5, "left by qg-")
        #expect(datapath.port(named: "a")!.stats.rxPackets == aBefore.rxPackets + 5)
        #expect(datapath.port(named: "b")!.stats.txPackets == bBefore.txPackets + 5)
        #expect(datapath.port(named: "b")!.stats.txBytes == bBefore.txBytes + 300)
        // The translation's timer runs from the last carried packet.
        let refreshed = try #require(datapath.fastPathExpiry(of: decision, now: later))
        #expect(refreshed > expiry)
    }

    @Test func aFloatingIPRemovedARouteChangedOrANeighbourMovedUndoesTheDecision() throws {
        // The floating IP goes: its connections are flushed, the decision with them.
        do {
            let (datapath, frame, now) = try Self.primed("fip")
            let decision = try #require(Self.send(frame, datapath, now: now).decisions.first)
            #expect(decision.rewrite?.destination == Self.ip(BenchScenario.fixedIP))
            #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
            _ = try datapath.router(named: "bench")!.updateFloatingIPs([])
            #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        }
        // A host route through another next hop (not resolved yet).
        do {
            let (datapath, frame, now) = try Self.primed("snat")
            let decision = try #require(Self.send(frame, datapath, now: now).decisions.first)
            try datapath.router(named: "bench")!.updateRoutes(
                [.init(prefix: IPv4Prefix(Self.ip(BenchScenario.externalHostIP), length: 32)!, nextHop: IPv4Address(10, 78, 0, 3))],
                defaultGateway: nil)
            #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        }
        // The sink answers from another MAC: the neighbour entry changes, and says so.
        do {
            let (datapath, frame, now) = try Self.primed("snat")
            let decision = try #require(Self.send(frame, datapath, now: now).decisions.first)
            let changes = datapath.neighbourChanges
            let moved = ScenarioFrames.arpRequest(senderMAC: [0x02, 0, 0, 0, 0, 0x44], sender: BenchScenario.externalHostIP,
                                                  target: BenchScenario.externalRouterIP)
            _ = Self.send(moved, datapath, now: now, port: "b")
            #expect(datapath.neighbourChanges == changes + 1)
            #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
            // And the next datagram is decided with the new MAC.
            let again = try #require(Self.send(frame, datapath, now: now).decisions.first)
            #expect(again.rewrite?.dst == 0x02_00_00_00_00_44)
        }
    }

    @Test func aConnectionThroughAFirewallInTablesAndThenTheRouterIsDecidedWithBoth() throws {
        let (datapath, frame, now) = try Self.primed("snat", flows: Self.firewall)
        // Not yet: the firewall's connection has seen no reply.
        let first = Self.send(frame, datapath, now: now)
        #expect(first.left.map(\.0) == ["b"] && first.decisions.isEmpty)
        // The external host answers the translated address and port.
        let out = PacketParser.parse(first.left[0].1)
        let reply = FrameBuilder().ethernet(source: MACAddress(rawValue: out.dlDst), destination: MACAddress(rawValue: out.dlSrc))
            .ipv4(source: IPv4Address(rawValue: out.nwDst), destination: IPv4Address(rawValue: out.nwSrc))
            .udp(sourcePort: out.tpDst, destinationPort: out.tpSrc, checksum: false).payload([UInt8](repeating: 0, count: 18)).build()
        #expect(Self.send(reply, datapath, now: now, port: "b").left.map(\.0) == ["a"])
        let (left, decisions) = Self.send(frame, datapath, now: now)
        let decision = try #require(decisions.first { $0.key.inPort == datapath.port(named: "a")!.id })
        #expect(decision.route?.translation != nil && decision.rewrite?.source == Self.ip(BenchScenario.externalRouterIP))
        #expect(decision.dependencies.connections.count == 1 && decision.dependencies.flows.count >= 2,
                "the firewall's connection and flows: \(decision.dependencies)")
        #expect(decision.applied(to: frame) == left[0].1)
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision)
        // What the kernel carried counts in the firewall's flows and the router.
        let forwarded = datapath.router(named: "bench")!.stats.forwarded
        let flowPackets = try datapath.flowStatistics(bridge: "br-int", now: now).map(\.packets).reduce(0, +)
        datapath.creditFastPath(decision, packets: 3, bytes: 180, lastUsed: now)
        #expect(datapath.router(named: "bench")!.stats.forwarded == forwarded + 3)
        #expect(try datapath.flowStatistics(bridge: "br-int", now: now).map(\.packets).reduce(0, +)
                == flowPackets + 3 * UInt64(decision.dependencies.flows.count))
        // A flow change undoes it.
        #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
        var selector = FlowSelector()
        selector.table = 2
        #expect(try datapath.deleteFlows(selector, strict: false, bridge: "br-int") > 0)
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
    }

    @Test func whatTheRouterDoesNotSimplyForwardIsNeverDecided() throws {
        let (datapath, frame, now) = try Self.primed("snat")
        let meta = PacketParser.parse(frame)
        let ip = Int(meta.l3Offset)
        func variant(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var f = frame
            change(&f)
            return f
        }
        // TTL 1: time exceeded. A bad header checksum: dropped. To the router itself: local.
        var ttl1 = variant { $0[ip + 8] = 1 }
        TestChecksums.fix(&ttl1, l3: ip)
        #expect(Self.send(ttl1, datapath, now: now).decisions.isEmpty)
        #expect(Self.send(variant { $0[ip + 10] ^= 0xFF }, datapath, now: now).decisions.isEmpty)
        var local = variant { for i in 0..<4 { $0[ip + 16 + i] = BenchScenario.internalRouterIP[i] } }
        TestChecksums.fix(&local, l3: ip)
        #expect(Self.send(local, datapath, now: now).decisions.isEmpty)
        // A destination whose next hop is not resolved: the frame waits for ARP.
        var unresolved = variant { $0[ip + 19] = 77 }
        TestChecksums.fix(&unresolved, l3: ip)
        #expect(Self.send(unresolved, datapath, now: now).decisions.isEmpty)
        // The untouched datagram still is.
        #expect(Self.send(frame, datapath, now: now).decisions.count == 1)
    }

    @Test func aTranslatedTCPConnectionIsCachedOnlyOnceEstablishedAndAFINFromEitherSideConcernsIt() throws {
        let (datapath, _, now) = try Self.primed("snat")
        let gen = MACAddress(BenchScenario.colon(BenchScenario.generatorMAC))!, sink = MACAddress(BenchScenario.colon(BenchScenario.sinkMAC))!
        let qr = MACAddress(BenchScenario.colon(BenchScenario.aMAC))!, qg = MACAddress(BenchScenario.colon(BenchScenario.bMAC))!
        let vm = Self.ip(BenchScenario.vmIP), host = Self.ip(BenchScenario.externalHostIP), gateway = Self.ip(BenchScenario.externalRouterIP)
        func out(_ flags: TCPFlags, seq: UInt32, ack: UInt32) -> [UInt8] {
            FrameBuilder().ethernet(source: gen, destination: qr).ipv4(source: vm, destination: host)
                .tcp(sourcePort: 40000, destinationPort: 80, sequence: seq, acknowledgment: ack, flags: flags).build()
        }
        let syn = Self.send(out(.syn, seq: 100, ack: 0), datapath, now: now)
        #expect(syn.decisions.isEmpty, "a handshake is never cached")
        let translated = PacketParser.parse(try #require(syn.left.first?.1))
        #expect(translated.nwSrc == gateway.rawValue)
        let synAck = FrameBuilder().ethernet(source: sink, destination: qg).ipv4(source: host, destination: gateway)
            .tcp(sourcePort: 80, destinationPort: translated.tpSrc, sequence: 500, acknowledgment: 101, flags: [.syn, .ack]).build()
        #expect(Self.send(synAck, datapath, now: now, port: "b").left.map(\.0) == ["a"])
        // The ACK completing the handshake, then another: one of them is decided.
        let handshake = Self.send(out(.ack, seq: 101, ack: 501), datapath, now: now)
        let ack = Self.send(out(.ack, seq: 101, ack: 501), datapath, now: now)
        #expect(handshake.left.map(\.0) == ["b"] && ack.left.map(\.0) == ["b"])
        let decision = try #require((handshake.decisions + ack.decisions).first, "an established connection's ACK is cached")
        #expect(decision.applied(to: out(.ack, seq: 101, ack: 501)) == ack.left[0].1, "the TCP checksum moved by the delta")
        // A FIN from the far side names the translated tuple: it concerns the VM's entry.
        let fin = FastPathConnection(source: host, destination: gateway, proto: 6, tos: 0, ttl: 0, tcpFlags: 0,
                                     sourcePort: 80, destinationPort: translated.tpSrc)
        #expect(decision.concerns(fin))
        let finFrame = FrameBuilder().ethernet(source: sink, destination: qg).ipv4(source: host, destination: gateway)
            .tcp(sourcePort: 80, destinationPort: translated.tpSrc, sequence: 501, acknowledgment: 101, flags: [.fin, .ack]).build()
        _ = Self.send(finFrame, datapath, now: now, port: "b")
        let closing = try #require(datapath.takeFastPathClosingConnections())
        #expect(closing.contains { decision.concerns($0) })
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil, "a closing connection is not carried")
    }
}

/// Sets an IPv4 header checksum right (test frames changed by hand).
enum TestChecksums {
    static func fix(_ frame: inout [UInt8], l3: Int) {
        frame[l3 + 10] = 0
        frame[l3 + 11] = 0
        let checksum = frame.withUnsafeBytes { Checksum.ipv4Header($0.baseAddress! + l3, headerLength: 20) }
        frame[l3 + 10] = UInt8(checksum >> 8)
        frame[l3 + 11] = UInt8(checksum & 0xFF)
    }
}

extension AFXDPIntegrationTests {
    /// The program against the pipeline through the router (BPF_PROG_TEST_RUN): the
    /// translated datagram — with its UDP checksum, without, with trailing bytes — is carried
    /// with the pipeline's bytes; a bad IPv4 checksum, another TTL, a frame longer than the
    /// output interface's MTU allows go to the slow path; the relieved datapath's router and
    /// ports count what the reference's do.
    @Suite("Fast path: XDP program vs Swift pipeline through a router")
    struct FastPathRouteDifferentialTests {
        @Test(arguments: ["snat", "fip"])
        func theProgramRepeatsTheRouterFrameByFrame(_ name: String) throws {
            let lab = LabNetwork(tag: "fpr")
            defer { lab.tearDown() }
            let namespace = try lab.addNamespace("dp")
            for wire in ["a", "b"] {
                try Shell.check(["ip", "-n", namespace, "link", "add", "name", wire, "type", "veth", "peer", "name", "fpr" + wire])
                try Shell.check(["ip", "-n", namespace, "link", "set", "dev", wire, "up"])
            }
            let failures = try LabNetwork.inNamespace(namespace) { () throws -> [String] in try Self.compare(name) }
            #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
        }

        static func compare(_ name: String) throws -> [String] {
            var failures: [String] = []
            // An MTU of 200 on the router's interfaces: the long variant does not fit.
            let (reference, frame, now) = try FastPathRouteTests.primed(name, mtu: 200)
            let (cached, _, _) = try FastPathRouteTests.primed(name, mtu: 200)
            reference.fastPathRecording = false
            let program = try SteeringProgram()
            var ifindex: [String: Int32] = [:]
            for (slot, wire) in ["a", "b"].enumerated() {
                ifindex[wire] = Int32(bitPattern: if_nametoindex(wire))
                try program.setPort(ifindex: ifindex[wire]!, portID: slot, slotBase: UInt32(slot), queues: 1, interface: wire)
            }
            try program.fastPath.setEnabled(true)
            // A datagram with a UDP checksum (the scenario's has none): its own connection.
            let meta = PacketParser.parse(frame)
            let withChecksum = FrameBuilder().ethernet(source: MACAddress(rawValue: meta.dlSrc), destination: MACAddress(rawValue: meta.dlDst))
                .ipv4(source: IPv4Address(rawValue: meta.nwSrc), destination: IPv4Address(rawValue: meta.nwDst))
                .udp(sourcePort: 5000, destinationPort: 53).payload([1, 2, 3, 4, 5, 6, 7, 8]).build()
            let ip = Int(meta.l3Offset)
            func variant(_ base: [UInt8], _ change: (inout [UInt8]) -> Void) -> [UInt8] { var f = base; change(&f); return f }
            var ttl = variant(frame) { $0[ip + 8] -= 1 }
            TestChecksums.fix(&ttl, l3: ip)
            // The scenario's datagram made 240 bytes long: beyond the MTU.
            var long = variant(frame) { $0[ip + 2] = 0; $0[ip + 3] = 226; $0[ip + 24] = 0; $0[ip + 25] = 206 }
            long += [UInt8](repeating: 0, count: 240 - long.count)
            TestChecksums.fix(&long, l3: ip)
            for f in [frame, withChecksum] {
                for datapath in [reference, cached] { _ = FastPathRouteTests.send(f, datapath, now: now) }
            }
            // A TCP connection through the router, opened both ways, then a segment with data.
            let (client, server) = (IPv4Address(rawValue: meta.nwSrc), IPv4Address(rawValue: meta.nwDst))
            func segment(_ flags: TCPFlags, seq: UInt32, ack: UInt32, data: Int = 0) -> [UInt8] {
                FrameBuilder().ethernet(source: MACAddress(rawValue: meta.dlSrc), destination: MACAddress(rawValue: meta.dlDst))
                    .ipv4(source: client, destination: server).tcp(sourcePort: 41000, destinationPort: 443, sequence: seq, acknowledgment: ack, flags: flags)
                    .payload([UInt8](repeating: 0x5A, count: data)).build()
            }
            for datapath in [reference, cached] {
                let syn = FastPathRouteTests.send(segment(.syn, seq: 1000, ack: 0), datapath, now: now)
                guard let out = syn.left.first?.1 else { failures.append("the SYN did not leave"); continue }
                let m = PacketParser.parse(out)
                let answer = FrameBuilder().ethernet(source: MACAddress(rawValue: m.dlDst), destination: MACAddress(rawValue: m.dlSrc))
                    .ipv4(source: IPv4Address(rawValue: m.nwDst), destination: IPv4Address(rawValue: m.nwSrc))
                    .tcp(sourcePort: m.tpDst, destinationPort: m.tpSrc, sequence: 7000, acknowledgment: 1001, flags: [.syn, .ack]).build()
                _ = FastPathRouteTests.send(answer, datapath, now: now, port: "b")
                _ = FastPathRouteTests.send(segment(.ack, seq: 1001, ack: 7001), datapath, now: now)
            }
            let data = segment([.psh, .ack], seq: 1001, ack: 7001, data: 100)
            // Record once more; install what was decided.
            var installed: [[UInt8]: FastPathDecision] = [:]
            for f in [frame, withChecksum, data] {
                _ = FastPathRouteTests.send(f, reference, now: now)
                for decision in FastPathRouteTests.send(f, cached, now: now).decisions {
                    guard let expiry = cached.fastPathExpiry(of: decision, now: now) else { failures.append("\(decision.key): does not hold"); continue }
                    let key = FastPathMaps.keyBytes(ifindex: ifindex["a"]!, key: decision.key)
                    try program.fastPath.addDevice(ifindex["b"]!)
                    try program.fastPath.install(key: key, action: FastPathMaps.actionBytes(
                        of: decision, egress: ifindex["b"]!, expires: expiry.nanoseconds, maximumLength: 1792), fresh: true)
                    installed[key] = decision
                }
            }
            if installed.count != 3 { failures.append("\(installed.count) entries installed, 3 expected") }
            let corpus: [(String, [UInt8], Bool)] = [
                ("datagram", frame, true), ("udp-checksum", withChecksum, true), ("tcp-data", data, true),
                ("trailing-bytes", frame + [UInt8](repeating: 0xAB, count: 10), true),
                ("bad-ip-checksum", variant(frame) { $0[ip + 10] ^= 0x55 }, false),
                ("ttl", ttl, false), ("longer-than-the-mtu", long, false),
            ]
            var carried = 0
            for (what, f, cacheable) in corpus {
                if try FastPathDifferentialTests.compareFrame(what, f, cacheable: cacheable, program: program, ifindex: ifindex["a"]!,
                                                              port: "a", egress: "b", reference: reference, cached: cached, now: now,
                                                              failures: &failures) {
                    carried += 1
                }
            }
            if carried != 4 { failures.append("carried \(carried), 4 expected") }
            for (key, decision) in installed {
                let counters = program.fastPath.counters(key: key)
                cached.creditFastPath(decision, packets: counters.packets, bytes: counters.bytes,
                                      lastUsed: DatapathInstant(nanoseconds: max(counters.lastUsed, now.nanoseconds)))
            }
            let (x, y) = (reference.router(named: "bench")!.stats, cached.router(named: "bench")!.stats)
            if x != y { failures.append("router: reference \(x), with the fast path \(y)") }
            for wire in ["a", "b"] {
                let p = reference.port(named: wire)!.stats, q = cached.port(named: wire)!.stats
                if (p.rxPackets, p.rxBytes, p.txPackets, p.txBytes) != (q.rxPackets, q.rxBytes, q.txPackets, q.txBytes) {
                    failures.append("\(wire): reference \(p), with the fast path \(q)")
                }
            }
            return failures
        }
    }
}
