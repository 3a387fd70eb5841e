#if canImport(Glibc)
import Glibc
#endif
@testable import AFXDP
import Testing
@testable import XDPDatapath
import XDPLab
import XDPPacket
import XDPScenarios

/// The fast path through OpenFlow tables: established connections through Neutron's
/// security-group firewall (the `sg-10` bench scenario's flows: a VM port behind tables 0 →
/// 60 → 81 → ct(zone) → 82 → output). The decision is worked out from the key alone, holds
/// while the tables, the connection and the MAC entries do, and the program repeats it.
@Suite("Fast path: established connections through tables")
struct FastPathConnectionTests {
    static let scenario = BenchScenario.securityGroup(rules: 10)

    /// A datapath with the scenario's flows, recording, the connection established (the
    /// generator's datagram a → b, then the sink's reply b → a).
    static func established() throws -> (datapath: Datapath, forward: [UInt8], reply: [UInt8], now: DatapathInstant) {
        let pipeline = try PipelineScenario.securityGroup(rules: 10)
        let now = DatapathInstant.now()
        let datapath = try Datapath(configuration: pipeline.configuration, pool: FramePool(frameCount: 512), now: now)
        datapath.fastPathRecording = true
        for (frame, port) in pipeline.prime {
            datapath.inject(frame, into: datapath.port(named: port)!, now: now)
            _ = drain(datapath)
            _ = datapath.takeFastPathDecisions()   // as the engine does after each batch
        }
        return (datapath, pipeline.prime[0].frame, pipeline.prime[1].frame, now)
    }

    static func drain(_ datapath: Datapath) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for port in datapath.ports { for bytes in datapath.drainTransmitted(port) { out.append((port.name, bytes)) } }
        return out
    }

    /// Sends `frame` into each datapath by `port` and empties their transmit queues.
    static func send(_ frame: [UInt8], from port: String, to datapaths: [Datapath], now: DatapathInstant) {
        for datapath in datapaths {
            datapath.inject(frame, into: datapath.port(named: port)!, now: now)
            _ = drain(datapath)
        }
    }

    static func tableCount(_ datapath: Datapath, table: Int, now: DatapathInstant) throws -> UInt64 {
        try datapath.flowStatistics(bridge: "br", now: now).filter { Int($0.rule.table) == table }.map(\.packets).reduce(0, +)
    }

    @Test func anEstablishedDatagramIsDecidedFromItsKeyAndHoldsWhileItsStateDoes() throws {
        var (datapath, forward, reply, now) = try Self.established()
        datapath.inject(forward, into: datapath.port(named: "a")!, now: now)
        #expect(Self.drain(datapath).map(\.0) == ["b"])
        datapath.inject(reply, into: datapath.port(named: "b")!, now: now)
        #expect(Self.drain(datapath).map(\.0) == ["a"])
        let decisions = datapath.takeFastPathDecisions()
        // The reply is flooded, its destination never learned (the firewall sends the VM's
        // frames out with `output:N`, not NORMAL), to `a` alone: decided as a flood.
        #expect(decisions.count == 2, "\(decisions.map(\.key))")
        let flood = try #require(decisions.first(where: { $0.key.inPort == datapath.port(named: "b")!.id }))
        #expect(flood.steps.map(\.flooded) == [true] && flood.outPort == datapath.port(named: "a")!.id)
        guard let decision = decisions.first(where: { $0.key.inPort == datapath.port(named: "a")!.id }) else { return }
        #expect(decision.key.connection?.proto == 17)
        #expect(decision.outPort == datapath.port(named: "b")!.id)
        #expect(decision.dependencies.connections.count == 1 && decision.dependencies.connections[0].reply == false)
        #expect(!decision.dependencies.flows.isEmpty)
        // As dump-fastpath prints it: the Ethernet key, then the connection's fields.
        let line = FastPathEntry(decision: decision, inPort: "a", outPort: "b", packets: 3, bytes: 180,
                                 sinceLastUse: .milliseconds(250)).description
        let meta = PacketParser.parse(forward)
        #expect(line == "in_port(a),eth(src=\(MACAddress(rawValue: meta.dlSrc)),dst=\(MACAddress(rawValue: meta.dlDst))),"
                + "ipv4(src=\(IPv4Address(rawValue: meta.nwSrc)),dst=\(IPv4Address(rawValue: meta.nwDst)),proto=17,tos=\(meta.nwTOS),"
                + "ttl=\(meta.nwTTL)),udp(src=\(meta.tpSrc),dst=\(meta.tpDst)), packets:3, bytes:180, used:0.250s, actions:b")
        // Worked out again from the key alone (what a restarted engine adopts by).
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision)
        let expiry = try #require(datapath.fastPathExpiry(of: decision, now: now))
        let connection = try #require(datapath.conntrackConnections().first)
        #expect(expiry <= connection.expiration)

        // What the kernel carried counts in the flows and refreshes the connection.
        let before = try Self.tableCount(datapath, table: 82, now: now)
        let later = now + .seconds(30)
        datapath.creditFastPath(decision, packets: 5, bytes: 5 * UInt64(forward.count), lastUsed: later)
        #expect(try Self.tableCount(datapath, table: 82, now: now) == before + 5)
        #expect(try #require(datapath.conntrackConnections().first).expiration > connection.expiration)
        #expect(datapath.port(named: "a")!.stats.rxPackets == 2 + 5)   // the two datagrams it sent, and the five carried

        // Other connections' segments evicting this one's from the cache (4,000 new source
        // ports through the same tables, 1,024 slots) do not undo it: the tables are the
        // version it was made under, so only its connection and MACs are looked at again.
        let sourcePort = 14 + 20   // untagged frame: the UDP source port's offset
        for i in 0..<4000 {
            var other = forward
            other[sourcePort] = UInt8(truncatingIfNeeded: (20000 + i) >> 8)
            other[sourcePort + 1] = UInt8(truncatingIfNeeded: 20000 + i)
            datapath.inject(other, into: datapath.port(named: "a")!, now: now)
            _ = Self.drain(datapath)
        }
        _ = datapath.takeFastPathDecisions()
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == nil, "its segments were evicted")
        #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)

        // A frame differing in a keyed field (the TTL) has no decision of its own yet.
        var other = decision.key
        other.connection?.ttl &-= 1
        #expect(datapath.fastPathDecision(for: other, now: now) == nil)

        // The connection flushed: the decision no longer holds.
        _ = datapath.flushConntrack()
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        (datapath, forward, reply, now) = try Self.established()
        datapath.inject(forward, into: datapath.port(named: "a")!, now: now)
        _ = Self.drain(datapath)
        let again = try #require(datapath.takeFastPathDecisions().last)
        #expect(datapath.fastPathExpiry(of: again, now: now) != nil)
        // The tables changed (a flow deleted from table 82): no longer holds.
        var selector = FlowSelector()
        selector.table = 82
        #expect(try datapath.deleteFlows(selector, strict: false, bridge: "br") > 0)
        #expect(datapath.fastPathExpiry(of: again, now: now) == nil)
    }

    @Test func tcpIsCachedOnlyOnceEstablishedAndThenTrackedLiberally() throws {
        let pipeline = try PipelineScenario.securityGroup(rules: 10)
        let now = DatapathInstant.now()
        let datapath = try Datapath(configuration: pipeline.configuration, pool: FramePool(frameCount: 512), now: now)
        datapath.fastPathRecording = true
        // The group's rules are UDP: a TCP service on the VM's port 8080 is let in as a rule
        // would let it (new connections committed in the VM's zone, then out).
        try datapath.addFlow(FlowParser.parse("table=82,priority=70,ct_state=+new-est,tcp,reg5=0x2,tp_dst=8080 "
                                              + "actions=ct(commit,zone=NXM_NX_REG5[0..15]),output:2"), bridge: "br", now: now)
        let meta = PacketParser.parse(pipeline.prime[0].frame)
        let (macA, macB) = (MACAddress(rawValue: meta.dlSrc), MACAddress(rawValue: meta.dlDst))
        let (ipA, ipB) = (IPv4Address(rawValue: meta.nwSrc), IPv4Address(rawValue: meta.nwDst))
        func segment(fromA: Bool, flags: TCPFlags, seq: UInt32, ack: UInt32) -> [UInt8] {
            FrameBuilder().ethernet(source: fromA ? macA : macB, destination: fromA ? macB : macA)
                .ipv4(source: fromA ? ipA : ipB, destination: fromA ? ipB : ipA)
                .tcp(sourcePort: fromA ? 40000 : 8080, destinationPort: fromA ? 8080 : 40000, sequence: seq,
                     acknowledgment: ack, flags: flags).build()
        }
        func send(_ frame: [UInt8], fromA: Bool) -> [String] {
            datapath.inject(frame, into: datapath.port(named: fromA ? "a" : "b")!, now: now)
            return Self.drain(datapath).map(\.0)
        }
        #expect(send(segment(fromA: true, flags: .syn, seq: 100, ack: 0), fromA: true) == ["b"],
                "\(datapath.port(named: "a")!.stats) \((try? datapath.flowStatistics(bridge: "br", now: now).filter { $0.packets > 0 }.map { "\($0.rule) \($0.packets)" }) ?? [])")
        #expect(send(segment(fromA: false, flags: [.syn, .ack], seq: 500, ack: 101), fromA: false) == ["a"])
        #expect(datapath.takeFastPathDecisions().isEmpty, "a handshake is never cached")
        #expect(send(segment(fromA: true, flags: .ack, seq: 101, ack: 501), fromA: true) == ["b"],
                "\(datapath.port(named: "a")!.stats) \(datapath.conntrackConnections())")
        let decisions = datapath.takeFastPathDecisions()
        #expect(decisions.count == 1 && decisions.first?.key.connection?.proto == 6, "\(decisions.map(\.key))")
        // Cached: a segment far beyond the window the tracker last saw still passes (the
        // kernel carried the ones between).
        #expect(send(segment(fromA: true, flags: .ack, seq: 101 &+ 50_000_000, ack: 501), fromA: true) == ["b"])
        // FIN goes the slow path and asks for a re-check of that connection's entries.
        #expect(datapath.takeFastPathClosingConnections()?.isEmpty == true)
        #expect(send(segment(fromA: true, flags: [.fin, .ack], seq: 101 &+ 50_000_000, ack: 501), fromA: true) == ["b"])
        let closing = datapath.takeFastPathClosingConnections() ?? []
        #expect(closing.count == 1)
        if let decision = decisions.first, let connection = decision.key.connection {
            #expect(closing.first?.sameTuple(connection) == true)
            #expect(datapath.fastPathExpiry(of: decision, now: now) == nil, "a closing connection is not carried")
        }
        // More closing connections in one batch than are listed: re-check everything.
        for port in 0..<UInt16(33) {
            let fin = FrameBuilder().ethernet(source: macA, destination: macB).ipv4(source: ipA, destination: ipB)
                .tcp(sourcePort: 41000 + port, destinationPort: 8080, flags: [.rst]).build()
            _ = send(fin, fromA: true)
        }
        #expect(datapath.takeFastPathClosingConnections() == nil)
        #expect(datapath.takeFastPathClosingConnections()?.isEmpty == true)
    }
}

extension AFXDPIntegrationTests {
    /// The program against the pipeline for the security-group scenario, frame by frame
    /// (BPF_PROG_TEST_RUN, veths in a namespace of the test's own that no frame crosses):
    /// established datagrams both ways are carried with the pipeline's bytes and egress,
    /// and variants that must go the slow path (another TTL, TOS or port, TCP SYN/FIN/RST,
    /// fragments, options) are not; the flows credited with what the program carried count
    /// what the reference's flows counted.
    @Suite("Fast path: XDP program vs Swift pipeline through tables")
    struct FastPathConnectionDifferentialTests {
        @Test func theProgramRepeatsTheFirewallFrameByFrame() throws {
            let lab = LabNetwork(tag: "fpc")
            defer { lab.tearDown() }
            let namespace = try lab.addNamespace("dp")
            // (An interface named `a` would read as `ip link add address`: the veths are
            // `fpa`/`fpb`, standing for the datapath's ports `a`/`b`.)
            for name in ["a", "b"] {
                try Shell.check(["ip", "-n", namespace, "link", "add", "fp" + name, "type", "veth", "peer", "name", "fp" + name + "x"])
                try Shell.check(["ip", "-n", namespace, "link", "set", "fp" + name, "up"])
            }
            let failures = try LabNetwork.inNamespace(namespace) { () throws -> [String] in try Self.compare() }
            #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
        }

        static func compare() throws -> [String] {
            var failures: [String] = []
            let pipeline = try PipelineScenario.securityGroup(rules: 10)
            let now = DatapathInstant.now()
            let reference = try Datapath(configuration: pipeline.configuration, pool: FramePool(frameCount: 512), now: now)
            let cached = try Datapath(configuration: pipeline.configuration, pool: FramePool(frameCount: 512), now: now)
            cached.fastPathRecording = true
            let program = try SteeringProgram()
            var ifindex: [String: Int32] = [:]
            for (slot, name) in ["a", "b"].enumerated() {
                ifindex[name] = Int32(bitPattern: if_nametoindex("fp" + name))
                try program.setPort(ifindex: ifindex[name]!, portID: slot, slotBase: UInt32(slot), queues: 1, interface: "fp" + name)
            }
            try program.fastPath.setEnabled(true)
            func both(_ frame: [UInt8], _ port: String) { FastPathConnectionTests.send(frame, from: port, to: [reference, cached], now: now) }
            let (forward, reply) = (pipeline.prime[0].frame, pipeline.prime[1].frame)
            both(forward, "a")
            both(reply, "b")
            _ = cached.takeFastPathDecisions()
            both(forward, "a")
            both(reply, "b")
            var installed: [[UInt8]: FastPathDecision] = [:]
            for decision in cached.takeFastPathDecisions() {
                guard let expiry = cached.fastPathExpiry(of: decision, now: now) else { failures.append("\(decision.key): does not hold"); continue }
                let inName = cached.ports[decision.key.inPort.index].name, outName = cached.ports[decision.egressPort.index].name
                let key = FastPathMaps.keyBytes(ifindex: ifindex[inName]!, key: decision.key)
                try program.fastPath.addDevice(ifindex[outName]!)
                try program.fastPath.install(key: key, action: FastPathMaps.actionBytes(of: decision, egress: ifindex[outName]!, expires: expiry.nanoseconds, maximumLength: 1792), fresh: true)
                installed[key] = decision
                // The key read back from the map's bytes is the decision's (adoption reads it so).
                var readBack = FastPathMaps.key(of: key).key
                readBack.inPort = decision.key.inPort
                if readBack != decision.key { failures.append("key bytes read back as \(readBack), not \(decision.key)") }
            }
            // The reply too: NORMAL floods it (the firewall sends the VM's frames out with
            // `output:N`, so its MAC is never learned), and `a` is the one port to flood to.
            if installed.count != 2 { failures.append("\(installed.count) entries installed, 2 expected (the forward and the flooded reply)") }
            if installed.values.filter({ $0.steps.contains(where: \.flooded) }).count != 1 { failures.append("the reply's decision is not a flood") }

            // The corpus: the established datagrams, and variants that must take the slow path.
            func variant(_ frame: [UInt8], _ change: (inout [UInt8]) -> Void) -> [UInt8] { var f = frame; change(&f); return f }
            let meta = PacketParser.parse(forward)
            let ip = Int(meta.l3Offset), l4 = Int(meta.l4Offset)
            var corpus: [(String, [UInt8], String, Bool)] = [
                ("forward", forward, "a", true), ("reply-flooded", reply, "b", true),
                ("trailing-bytes", forward + [UInt8](repeating: 0xAB, count: 10), "a", true),
                ("ttl", variant(forward) { $0[ip + 8] &-= 1 }, "a", false),
                ("tos", variant(forward) { $0[ip + 1] = 0x10 }, "a", false),
                ("source-port", variant(forward) { $0[l4 + 1] &+= 1 }, "a", false),
                ("fragment", variant(forward) { $0[ip + 6] = 0x20 }, "a", false),
            ]
            let tcp = FrameBuilder().ethernet(source: MACAddress(rawValue: meta.dlSrc), destination: MACAddress(rawValue: meta.dlDst))
                .ipv4(source: IPv4Address(rawValue: meta.nwSrc), destination: IPv4Address(rawValue: meta.nwDst))
            for (name, flags) in [("tcp-syn", TCPFlags.syn), ("tcp-fin", [TCPFlags.fin, .ack]), ("tcp-rst", TCPFlags.rst)] {
                corpus.append((name, tcp.tcp(sourcePort: meta.tpSrc, destinationPort: meta.tpDst, flags: flags).build(), "a", false))
            }
            var carried = 0
            for (name, frame, port, cacheable) in corpus {
                if try FastPathDifferentialTests.compareFrame(name, frame, cacheable: cacheable, program: program, ifindex: ifindex[port]!,
                                                              port: port, egress: port == "a" ? "b" : "a", reference: reference,
                                                              cached: cached, now: now, failures: &failures) {
                    carried += 1
                }
            }
            for (key, decision) in installed {
                let counters = program.fastPath.counters(key: key)
                cached.creditFastPath(decision, packets: counters.packets, bytes: counters.bytes,
                                      lastUsed: DatapathInstant(nanoseconds: max(counters.lastUsed, now.nanoseconds)))
            }
            if carried != 3 { failures.append("carried \(carried), 3 expected") }
            // The flows and ports of the relieved datapath count what the reference's did.
            let a = try reference.flowStatistics(bridge: "br", now: now).map(\.packets)
            let b = try cached.flowStatistics(bridge: "br", now: now).map(\.packets)
            if a != b { failures.append("flow packets: reference \(a), with the fast path \(b)") }
            for name in ["a", "b"] {
                let x = reference.port(named: name)!.stats, y = cached.port(named: name)!.stats
                if (x.rxPackets, x.txPackets, x.floodedPackets) != (y.rxPackets, y.txPackets, y.floodedPackets) {
                    failures.append("\(name): reference \(x), fast path \(y)")
                }
            }
            return failures
        }
    }
}

extension AFXDPIntegrationTests {
    /// Every in-memory bench stage (`PipelineScenario.names`: the bench's scenarios, the
    /// flow-table ones, the firewall, NAT, GRE and VXLAN, the compute node) through the
    /// pipeline and, after a cached datapath recorded its decisions, through the program
    /// (BPF_PROG_TEST_RUN): a frame the program carries leaves with the pipeline's bytes by the
    /// pipeline's port, one it does not carry reaches the socket untouched, the relieved
    /// datapath's ports and flows count what the reference's do, and which stages the fast
    /// path carries is exactly the set below (so a stage that stops being cached, or one
    /// cached that should not be, fails here).
    @Suite("Fast path: every bench stage, program vs pipeline")
    struct FastPathScenarioDifferentialTests {
        /// The stages whose frames the fast path carries once recorded.
        static let carried: Set<String> = ["l2", "vlan-push", "vlan-pop", "flows-1", "flows-100", "flows-10000", "sg-10", "sg-100",
                                           "snat", "fip", "compute"]

        @Test func everyStageIsCarriedExactlyWhenItShouldBeAndWithThePipelinesBytes() throws {
            var failures: [String] = []
            var carriedStages: Set<String> = []
            for name in PipelineScenario.names where !name.hasPrefix("classifier-") {
                guard let scenario = try PipelineScenario.named(name) else { failures.append("\(name): unknown"); continue }
                let lab = LabNetwork(tag: "fps")
                defer { lab.tearDown() }
                let namespace = try lab.addNamespace("dp")
                let reference = try Datapath(configuration: scenario.configuration, pool: FramePool(frameCount: 512), now: .now())
                // A veth for every port that sends or receives frames itself (no patch or service port).
                let wires = reference.ports.filter { port in
                    switch port.type {
                    case .system, .internal: port.serviceKind == .none
                    default: false
                    }
                }.map(\.name)
                for (i, wire) in wires.enumerated() {
                    try Shell.check(["ip", "-n", namespace, "link", "add", "name", wire, "type", "veth", "peer", "name", "fpw\(i)"])
                    try Shell.check(["ip", "-n", namespace, "link", "set", "dev", wire, "up"])
                }
                let (carried, problems) = try LabNetwork.inNamespace(namespace) { () throws -> (Bool, [String]) in
                    try Self.compare(scenario, wires: wires)
                }
                failures += problems.map { "\(name): \($0)" }
                if carried { carriedStages.insert(name) }
            }
            #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
            #expect(carriedStages == Self.carried, "carried: \(carriedStages.sorted())")
        }

        /// One stage inside its namespace: whether the program carried its frames, and the differences.
        static func compare(_ scenario: PipelineScenario, wires: [String]) throws -> (Bool, [String]) {
            var failures: [String] = []
            let now = DatapathInstant.now()
            // One seed for both: the trackers pick the same SNAT ports.
            var configuration = scenario.configuration
            configuration.randomSeed = 7
            let reference = try Datapath(configuration: configuration, pool: FramePool(frameCount: 512), now: now)
            let cached = try Datapath(configuration: configuration, pool: FramePool(frameCount: 512), now: now)
            let program = try SteeringProgram()
            var ifindex: [String: Int32] = [:]
            for (slot, wire) in wires.enumerated() {
                ifindex[wire] = Int32(bitPattern: if_nametoindex(wire))
                try program.setPort(ifindex: ifindex[wire]!, portID: slot, slotBase: UInt32(slot), queues: 1, interface: wire)
            }
            try program.fastPath.setEnabled(true)
            func both(_ frame: [UInt8], _ port: String) { FastPathConnectionTests.send(frame, from: port, to: [reference, cached], now: now) }
            for (frame, port) in scenario.prime { both(frame, port) }
            // The templates once to set state up (a first datagram is new), once recording.
            for frame in scenario.templates { both(frame, scenario.input) }
            cached.fastPathRecording = true
            for frame in scenario.templates { both(frame, scenario.input) }
            var installed: [[UInt8]: FastPathDecision] = [:]
            for decision in cached.takeFastPathDecisions() {
                let inName = cached.ports[decision.key.inPort.index].name, outName = cached.ports[decision.egressPort.index].name
                guard let expiry = cached.fastPathExpiry(of: decision, now: now), let inIndex = ifindex[inName],
                      let outIndex = ifindex[outName] else { failures.append("\(decision.key): does not hold or no wire"); continue }
                let key = FastPathMaps.keyBytes(ifindex: inIndex, key: decision.key)
                try program.fastPath.addDevice(outIndex)
                try program.fastPath.install(key: key, action: FastPathMaps.actionBytes(of: decision, egress: outIndex, expires: expiry.nanoseconds, maximumLength: 1792), fresh: true)
                installed[key] = decision
            }
            var carried = 0, counted: [[UInt8]: UInt64] = [:]
            for (i, frame) in scenario.templates.enumerated() {
                let run = try program.testRun(frame: frame, ifindex: ifindex[scenario.input]!)
                reference.inject(frame, into: reference.port(named: scenario.input)!, now: now)
                let outputs = FastPathConnectionTests.drain(reference)
                guard run.verdict == FastPathDifferentialTests.redirect else {
                    if run.verdict != FastPathDifferentialTests.drop || run.output != frame {
                        failures.append("template \(i): verdict \(run.verdict), frame changed: \(run.output != frame)")
                    }
                    cached.inject(frame, into: cached.port(named: scenario.input)!, now: now)
                    _ = FastPathConnectionTests.drain(cached)
                    continue
                }
                carried += 1
                var hit: [UInt8]?
                for key in installed.keys {
                    let packets = program.fastPath.counters(key: key).packets
                    if packets != counted[key, default: 0] { hit = key; counted[key] = packets }
                }
                guard let hit, let decision = installed[hit] else { failures.append("template \(i): redirected by no entry"); continue }
                let egress = cached.ports[decision.egressPort.index].name
                if outputs.count != 1 || outputs[0].0 != egress || outputs[0].1 != run.output {
                    let differ = outputs.first.flatMap { out in zip(out.1, run.output).enumerated().first { $0.element.0 != $0.element.1 } }
                    failures.append("template \(i): program → \(egress) \(run.output.count) bytes, pipeline → \(outputs.map { "\($0.0) \($0.1.count) bytes" })"
                                    + (differ.map { ", first difference at byte \($0.offset): pipeline \($0.element.0), program \($0.element.1)" } ?? ""))
                }
                cached.creditFastPath(decision, packets: 1, bytes: UInt64(frame.count), lastUsed: now)
            }
            if carried != 0 && carried != scenario.templates.count {
                failures.append("carried \(carried) of \(scenario.templates.count) templates")
            }
            for port in reference.ports {
                let x = port.stats, y = cached.port(named: port.name)!.stats
                if (x.rxPackets, x.rxBytes, x.txPackets, x.txBytes, x.floodedPackets) != (y.rxPackets, y.rxBytes, y.txPackets, y.txBytes, y.floodedPackets) {
                    failures.append("\(port.name): reference \(x), with the fast path \(y)")
                }
            }
            for bridge in reference.topology().bridges.map(\.name) {
                let a = (try? reference.flowStatistics(bridge: bridge, now: now).map { [$0.packets, $0.bytes] }) ?? []
                let b = (try? cached.flowStatistics(bridge: bridge, now: now).map { [$0.packets, $0.bytes] }) ?? []
                if a != b { failures.append("\(bridge) flow packets and bytes: reference \(a), with the fast path \(b)") }
            }
            // Routers count the carried frames as forwarded (and translated) by them.
            for (x, y) in zip(reference.routers, cached.routers) where x.stats != y.stats {
                failures.append("router \(x.name): reference \(x.stats), with the fast path \(y.stats)")
            }
            return (carried > 0, failures)
        }
    }
}
