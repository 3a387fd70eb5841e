import Testing
import XDPDatapath
import XDPPacket

/// The flow pipeline with rules built in code (the flow-text tests are in OpenFlow/ and
/// ReferenceFlowTests): commit of header changes, output copies, resubmit, learning, the
/// exact-match cache and timeouts.
@Suite struct FlowPipelineTests {
    static let vm = MACAddress("fa:16:3e:00:00:0a")!, peer = MACAddress("fa:16:3e:00:00:0b")!
    static let ipA = IPv4Address(10, 1, 0, 10), ipB = IPv4Address(10, 1, 0, 11)

    func rule(table: UInt8 = 0, priority: UInt16, _ actions: [FlowAction]) -> FlowRule {
        rule(table: table, priority: priority, { _ in }, actions)
    }

    func rule(table: UInt8 = 0, priority: UInt16, _ match: (inout FlowMatch) -> Void, _ actions: [FlowAction]) -> FlowRule {
        var r = FlowRule(table: table, priority: priority)
        match(&r.match)
        r.actions = actions
        return r
    }

    /// A bridge with three plain ports (ofports 1, 2, 3) and the given flows.
    func harness(_ rules: [FlowRule]) throws -> Harness {
        let h = try Harness([BridgeConfiguration(name: "br", ports: [
            PortConfiguration(name: "p1"), PortConfiguration(name: "p2"), PortConfiguration(name: "p3")])])
        try h.datapath.deleteFlows(FlowSelector(), strict: false, bridge: "br")
        for r in rules { try h.datapath.addFlow(r, bridge: "br", now: DatapathInstant(nanoseconds: h.now)) }
        return h
    }

    static func udp(tagged vlan: UInt16? = nil) -> [UInt8] {
        var b = FrameBuilder().ethernet(source: vm, destination: peer)
        if let vlan { b = b.vlan(vid: vlan) }
        return b.ipv4(source: ipA, destination: ipB).udp(sourcePort: 1000, destinationPort: 2000).payload(count: 12).build()
    }

    /// Parses `frame` and checks every checksum by recomputing it.
    func checksumsValid(_ frame: [UInt8]) -> Bool {
        var bytes = frame
        return bytes.withUnsafeMutableBytes { raw -> Bool in
            let p = raw.baseAddress!
            var meta = PacketMetadata()
            guard PacketParser.parse(p, length: raw.count, into: &meta), meta.flags.contains(.ipv4) else { return false }
            let ip = IPv4Header(p + Int(meta.l3Offset))
            guard ip.isChecksumValid else { return false }
            let segment = p + Int(meta.l4Offset)
            let length = Int(ip.totalLength) - ip.headerLength
            let pseudo = Checksum.pseudoHeaderSum(source: ip.source, destination: ip.destination, protocol: ip.protocolNumber,
                                                  length: length)
            return Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: segment, length: length)
        }
    }

    @Test func modVLANVIDPushesOnUntaggedAndRewritesOnTagged() throws {
        let h = try harness([rule(priority: 1, { $0.set(.inPort, 1) }, [.setVLANVID(7), .output(2)]),
                             rule(priority: 1, { $0.set(.inPort, 3) }, [.setVLANVID(9), .output(2)])])
        h.send(Self.udp(), on: "p1")
        let pushed = try #require(h.collect()["p2"]?.first)
        #expect(TestFrame.vlan(of: pushed) == 7)
        #expect(TestFrame.untag(pushed) == Self.udp())
        h.send(Self.udp(tagged: 5), on: "p3")
        let rewritten = try #require(h.collect()["p2"]?.first)
        #expect(TestFrame.vlan(of: rewritten) == 9 && rewritten.count == Self.udp(tagged: 5).count)
    }

    @Test func stripVLANAndLoadIntoVLANTCIBothPop() throws {
        let h = try harness([rule(priority: 1, { $0.set(.inPort, 1) }, [.stripVLAN, .output(2)]),
                             rule(priority: 1, { $0.set(.inPort, 3) }, [.load(FlowSubfield(.vlanTCI), 0), .output(2)])])
        h.send(Self.udp(tagged: 5), on: "p1")
        h.send(Self.udp(tagged: 6), on: "p3")
        #expect(h.collect()["p2"] == [Self.udp(), Self.udp()])
    }

    @Test func addressAndPortRewritesKeepChecksumsRight() throws {
        let h = try harness([rule(priority: 1, { $0.set(.inPort, 1) },
                                  [.setIPv4Src(IPv4Address(192, 0, 2, 1).rawValue), .setIPv4Dst(IPv4Address(198, 51, 100, 7).rawValue),
                                   .setTransportSrc(4444), .setTransportDst(53), .setEthDst(0x0200_0000_0099), .decTTL, .output(2)])])
        h.send(Self.udp(), on: "p1")
        let out = try #require(h.collect()["p2"]?.first)
        #expect(checksumsValid(out))
        #expect(Array(out[26..<34]) == [192, 0, 2, 1, 198, 51, 100, 7])
        #expect(Array(out[34..<38]) == [0x11, 0x5c, 0x00, 0x35])
        #expect(out[22] == 63, "TTL decremented")
        #expect(Array(out[0..<6]) == [2, 0, 0, 0, 0, 0x99])
        // The same through a TCP frame.
        let tcp = FrameBuilder().ethernet(source: Self.vm, destination: Self.peer).ipv4(source: Self.ipA, destination: Self.ipB)
            .tcp(sourcePort: 5555, destinationPort: 80).payload(count: 20).build()
        h.send(tcp, on: "p1")
        let tcpOut = try #require(h.collect()["p2"]?.first)
        #expect(checksumsValid(tcpOut))
    }

    @Test func decTTLDropsExpiredPackets() throws {
        let h = try harness([rule(priority: 1, [.decTTL, .output(2)])])
        let frame = FrameBuilder().ethernet(source: Self.vm, destination: Self.peer).ipv4(source: Self.ipA, destination: Self.ipB, ttl: 1)
            .udp(sourcePort: 1, destinationPort: 2).build()
        h.send(frame, on: "p1")
        #expect(h.collect().isEmpty)
        #expect(h.port("p1").stats.drops[.ttlExceeded] == 1)
    }

    @Test func eachOutputSeesTheHeadersAsTheyWereThen() throws {
        // output:2 gets the original, output:3 the tagged copy: one copy, no leak.
        let h = try harness([rule(priority: 1, [.output(2), .setVLANVID(3), .output(3)])])
        h.send(Self.udp(), on: "p1")
        let out = h.collect()
        #expect(out["p2"] == [Self.udp()])
        #expect(out["p3"].map { $0.map(TestFrame.vlan) } == [3])
        #expect(h.pool.freeCount == h.pool.frameCount)
    }

    @Test func floodAllAndInPort() throws {
        let h = try harness([rule(priority: 2, { $0.set(.inPort, 1) }, [.flood]),
                             rule(priority: 2, { $0.set(.inPort, 2) }, [.inPort]),
                             rule(priority: 2, { $0.set(.inPort, 3) }, [.output(3)])])
        h.send(Self.udp(), on: "p1")
        #expect(Set(h.collect().keys) == ["p2", "p3"])
        h.send(Self.udp(), on: "p2")
        #expect(Set(h.collect().keys) == ["p2"], "IN_PORT sends back")
        h.send(Self.udp(), on: "p3")
        #expect(h.collect().isEmpty, "output to the input port needs IN_PORT")
        #expect(h.accountingHolds)
    }

    @Test func resubmitAndGotoTableRunLaterTables() throws {
        let h = try harness([
            rule(table: 0, priority: 1, [.setTunnel(0x2, wide: false), .resubmit(port: OpenFlowPort.inPort, table: 5)]),
            rule(table: 5, priority: 1, { $0.set(.tunID, 2) }, [.gotoTable(10)]),
            rule(table: 10, priority: 1, { $0.set(.tunID, 2); $0.set(.inPort, 1) }, [.output(3)]),
        ])
        h.send(Self.udp(), on: "p1")
        #expect(Set(h.collect().keys) == ["p3"])
        let dump = h.datapath.flows(bridge: "br").map { ($0.rule.table, $0.counters.packets) }.sorted { $0.0 < $1.0 }
        #expect(dump.map(\.1) == [1, 1, 1])
    }

    @Test func resubmitLoopIsCutAndCounted() throws {
        let h = try harness([rule(priority: 1, [.resubmit(port: OpenFlowPort.inPort, table: 0)])])
        h.send(Self.udp(), on: "p1")
        #expect(h.collect().isEmpty)
        #expect(h.port("p1").stats.drops[.resubmitLimit] == 1)
        #expect(h.port("p1").stats.drops[.flowDrop] == 1)
        #expect(h.accountingHolds)
    }

    @Test func tableMissAndEmptyActionsDrop() throws {
        let h = try harness([rule(priority: 5, { $0.set(.inPort, 2) }, [])])
        h.send(Self.udp(), on: "p1")  // miss
        h.send(Self.udp(), on: "p2")  // actions=drop
        #expect(h.collect().isEmpty)
        #expect(h.port("p1").stats.drops[.flowDrop] == 1 && h.port("p2").stats.drops[.flowDrop] == 1)
    }

    @Test func learnInstallsAFlowAtTheEndOfTheBatchAndRefreshesIt() throws {
        // Neutron's br-tun learn: table 20 learns (vlan, dl_dst=dl_src) → load tun_id, output:in_port.
        var learn = LearnAction()
        learn.table = 20
        learn.priority = 1
        learn.hardTimeout = 300
        learn.specs = [
            .matchField(destination: FlowSubfield(.vlanTCI, offset: 0, bits: 12), source: FlowSubfield(.vlanTCI, offset: 0, bits: 12)),
            .matchField(destination: FlowSubfield(.ethDst), source: FlowSubfield(.ethSrc)),
            .loadImmediate(destination: FlowSubfield(.vlanTCI), value: 0),
            .loadField(destination: FlowSubfield(.tunID), source: FlowSubfield(.tunID)),
            .output(source: FlowSubfield(.inPort)),
        ]
        var learner = rule(priority: 1, { $0.set(.inPort, 1) }, [.learn(0), .output(2)])
        learner.learns = [learn]
        let h = try harness([learner, rule(priority: 1, { $0.set(.inPort, 2) }, [.resubmit(port: OpenFlowPort.inPort, table: 20)])])
        h.send(Self.udp(tagged: 1), on: "p1")  // learns fa:16:3e:00:00:0a in VLAN 1 behind port 1
        _ = h.collect()
        let learned = h.datapath.flows(bridge: "br").filter { $0.rule.table == 20 }
        #expect(learned.count == 1)
        #expect(learned.first?.rule.match.value(of: .ethDst) == Self.vm.rawValue)
        #expect(learned.first?.rule.hardTimeout == 300)
        // A reply to the learned MAC in VLAN 1 from port 2: table 20 sends it to port 1, untagged.
        let reply = FrameBuilder().ethernet(source: Self.peer, destination: Self.vm).vlan(vid: 1)
            .ipv4(source: Self.ipB, destination: Self.ipA).udp(sourcePort: 2000, destinationPort: 1000).build()
        h.send(reply, on: "p2")
        #expect(h.collect()["p1"] == [TestFrame.untag(reply)])
        // Learning the same thing again adds nothing.
        h.send(Self.udp(tagged: 1), on: "p1")
        _ = h.collect()
        #expect(h.datapath.flows(bridge: "br").filter { $0.rule.table == 20 }.count == 1)
        // The hard timeout removes it.
        h.now += 301_000_000_000
        h.send(Self.udp(tagged: 2), on: "p1")
        _ = h.collect()
        #expect(h.datapath.flows(bridge: "br").filter { $0.rule.table == 20 }.map { $0.rule.match.value(of: .vlanTCI) & 0xFFF } == [2])
    }

    @Test func changingTablesInvalidatesTheExactMatchCache() throws {
        let h = try harness([rule(priority: 1, [.output(2)])])
        h.send(Self.udp(), on: "p1")
        h.send(Self.udp(), on: "p1")
        #expect(h.collect()["p2"]?.count == 2)
        try h.datapath.addFlow(rule(priority: 2, [.output(3)]), bridge: "br", now: DatapathInstant(nanoseconds: h.now))
        h.send(Self.udp(), on: "p1")
        #expect(Set(h.collect().keys) == ["p3"], "the cached decision is not reused after add-flow")
        var selector = FlowSelector()
        selector.priority = 2
        #expect(try h.datapath.deleteFlows(selector, strict: true, bridge: "br") == 1)
        h.send(Self.udp(), on: "p1")
        #expect(Set(h.collect().keys) == ["p2"])
    }

    @Test func modFlowsKeepsCountersAndIdleTimeoutExpires() throws {
        var idle = rule(priority: 1, [.output(2)])
        idle.idleTimeout = 10
        let h = try harness([idle])
        h.send(Self.udp(), on: "p1")
        _ = h.collect()
        var selector = FlowSelector()
        var replacement = FlowRule()
        replacement.actions = [.output(3)]
        selector.replacement = replacement
        #expect(try h.datapath.modifyFlows(selector, strict: false, bridge: "br", now: DatapathInstant(nanoseconds: h.now)) == 1)
        h.send(Self.udp(), on: "p1")
        #expect(Set(h.collect().keys) == ["p3"])
        #expect(h.datapath.flows(bridge: "br").first?.counters.packets == 2)
        h.now += 9_000_000_000
        h.datapath.tick(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.datapath.flows(bridge: "br").count == 1, "9 s idle: still there")
        h.send(Self.udp(), on: "p1")  // used again: the idle timer restarts
        _ = h.collect()
        h.now += 9_000_000_000
        h.datapath.tick(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.datapath.flows(bridge: "br").count == 1)
        h.now += 2_000_000_000
        h.datapath.tick(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.datapath.flows(bridge: "br").isEmpty, "11 s idle: expired without any traffic")
    }

    @Test func unknownBridgesAndPortsAreRefused() throws {
        let h = try harness([])
        #expect(throws: Datapath.FlowModificationError.self) { try h.datapath.addFlow(rule(priority: 1, [.output(2)]), bridge: "nope", now: DatapathInstant(nanoseconds: 0)) }
        #expect(throws: Datapath.FlowModificationError.self) { try h.datapath.addFlow(rule(priority: 1, [.output(9)]), bridge: "br", now: DatapathInstant(nanoseconds: 0)) }
    }
}
