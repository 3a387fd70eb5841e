import Testing
import XDPDatapath
import XDPPacket

/// `conjunction(ID,K/N)` and `conj_id=ID` in the flow interpreter, with frames sent through a
/// bridge of three ports. Every case's expected port is what Open vSwitch's
/// `ofproto/trace` gives for the same flows and packet.
@Suite struct ConjunctionTests {
    static let macA = MACAddress("fa:16:3e:00:00:0a")!, macB = MACAddress("fa:16:3e:00:00:0b")!

    /// A bridge with ports p1, p2, p3 (ofports 1, 2, 3) running `flows`.
    func harness(_ flows: [String]) throws -> Harness {
        let h = try Harness([BridgeConfiguration(name: "br", ports: [
            PortConfiguration(name: "p1"), PortConfiguration(name: "p2"), PortConfiguration(name: "p3")])])
        try h.datapath.deleteFlows(FlowSelector(), strict: false, bridge: "br")
        for f in flows { try h.datapath.addFlow(try FlowParser.parse(f), bridge: "br", now: DatapathInstant(nanoseconds: h.now)) }
        return h
    }

    /// UDP from 10.0.0.`source` to port `port`, sent on p1: the ports it left by, and the
    /// VLAN it carried there.
    func send(_ h: Harness, source: UInt8, port: UInt16) -> [String: UInt16?] {
        let frame = FrameBuilder().ethernet(source: Self.macA, destination: Self.macB)
            .ipv4(source: IPv4Address(10, 0, 0, source), destination: IPv4Address(10, 0, 0, 9))
            .udp(sourcePort: 1000, destinationPort: port).payload(count: 12).build()
        h.send(frame, on: "p1")
        return h.collect().mapValues { TestFrame.vlan(of: $0[0]) }
    }

    static let twoDimensions = [
        "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
        "priority=100,ip,nw_src=10.0.0.2 actions=conjunction(1,1/2),conjunction(3,1/2)",
        "priority=100,udp,tp_dst=53 actions=conjunction(1,2/2)",
        "priority=100,udp,tp_dst=123 actions=conjunction(1,2/2)",
        "priority=100,conj_id=1,ip actions=output:2",
        "priority=10,ip actions=output:3",
    ]

    @Test func aPacketMatchingEveryDimensionRunsTheConjIDFlow() throws {
        let h = try harness(Self.twoDimensions)
        #expect(send(h, source: 1, port: 53) == ["p2": nil])
        #expect(send(h, source: 2, port: 123) == ["p2": nil], "any flow of a dimension satisfies it")
        #expect(send(h, source: 3, port: 53) == ["p3": nil], "source in no flow of dimension 1")
        #expect(send(h, source: 1, port: 80) == ["p3": nil], "port in no flow of dimension 2")
        let flows = h.datapath.flows(bridge: "br")
        let conj = try #require(flows.first { $0.rule.match.conjunctionID == 1 })
        #expect(conj.counters.packets == 2)
        #expect(flows.filter { $0.rule.actions.contains(where: \.isConjunction) }.allSatisfy { $0.counters.packets == 0 },
                "conjunction flows never count: they are never the flow run")
    }

    @Test func theConjIDFlowCompetesWithTheOrdinaryMatchByPriority() throws {
        let h = try harness([
            "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
            "priority=100,udp,tp_dst=53 actions=conjunction(1,2/2)",
            "priority=5,conj_id=1 actions=output:2",
            "priority=10,ip actions=output:3",
            "priority=100,ip,nw_src=10.0.0.2 actions=conjunction(3,1/2)",
            "priority=100,udp,tp_dst=54 actions=conjunction(3,2/2)",
        ])
        #expect(send(h, source: 1, port: 53) == ["p3": nil], "the conj_id flow (5) is below the ordinary match (10)")
        #expect(send(h, source: 2, port: 54) == ["p3": nil], "conjunction 3 has no conj_id flow: the ordinary match")
    }

    @Test func dimensionsCombineOnlyAtOnePriorityAndLowerConjunctionsAreTried() throws {
        let h = try harness([
            "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
            "priority=90,udp,tp_dst=53 actions=conjunction(1,2/2)",
            "priority=100,conj_id=1 actions=output:2",
            "priority=100,ip,nw_src=10.0.0.2 actions=conjunction(4,1/2)",
            "priority=50,ip,nw_src=10.0.0.2 actions=conjunction(5,1/2)",
            "priority=50,udp,tp_dst=54 actions=conjunction(5,2/2)",
            "priority=50,conj_id=5 actions=mod_vlan_vid:5,output:3",
            "priority=10,ip actions=output:3",
        ])
        #expect(send(h, source: 1, port: 53) == ["p3": nil], "clauses at 100 and 90 make no conjunction")
        #expect(send(h, source: 2, port: 54) == ["p3": 5], "conjunction 4 (100) is incomplete; 5 (50) is complete")
    }

    @Test func aCompleteConjunctionWithoutFlowsIsAMiss() throws {
        let h = try harness([
            "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2)",
            "priority=100,udp,tp_dst=53 actions=conjunction(7,2/2)",
        ])
        #expect(send(h, source: 1, port: 53).isEmpty)
    }

    @Test func aHigherOrdinaryFlowWinsAndChangesApplyToTheNextPacket() throws {
        let h = try harness(Self.twoDimensions)
        #expect(send(h, source: 2, port: 123) == ["p2": nil])
        try h.datapath.addFlow(try FlowParser.parse("priority=200,udp,nw_src=10.0.0.2 actions=mod_vlan_vid:9,output:3"),
                               bridge: "br", now: DatapathInstant(nanoseconds: h.now))
        #expect(send(h, source: 2, port: 123) == ["p3": 9])
        // A member address added to dimension 1: the same conj_id flow now admits it.
        try h.datapath.addFlow(try FlowParser.parse("priority=100,ip,nw_src=10.0.0.4 actions=conjunction(1,1/2)"),
                               bridge: "br", now: DatapathInstant(nanoseconds: h.now))
        #expect(send(h, source: 4, port: 53) == ["p2": nil])
        let removed = try h.datapath.deleteFlows(try FlowParser.parseSelector("conj_id=1"), strict: false, bridge: "br")
        #expect(removed == 1)
        #expect(send(h, source: 4, port: 53) == ["p3": nil])
    }

    @Test func conjunctionTextRoundTripsAndBadOnesAreRefused() throws {
        for text in ["priority=100,conj_id=1,ip actions=output:2",
                     "priority=100,ip,nw_src=10.0.0.2 actions=conjunction(1,1/2),conjunction(3,2/3)"] {
            let rule = try FlowParser.parse(text)
            #expect(rule.description == text)
            #expect(try FlowParser.parse(rule.description) == rule)
        }
        for bad in ["ip actions=conjunction(1,3/2)", "ip actions=conjunction(1,1/1)", "ip actions=conjunction(1,1/65)",
                    "ip actions=conjunction(1,1/2),output:1", "ip actions=conjunction(1)", "conj_id=0 actions=output:1",
                    "conj_id=2 actions=conjunction(1,1/2)", "conj_id=x actions=output:1"] {
            #expect(throws: FlowSyntaxError.self, "\(bad)") { try FlowParser.parse(bad) }
        }
    }
}
