import Testing
import XDPDatapath
import XDPPacket

/// Two datapaths built from the same configuration, one with the flow-segment cache and
/// one that walks the tables for every packet: every frame goes to both, and everything
/// observable must agree — the frames each port sends, the flows' counters, the ports'
/// counters and drop reasons.
final class SegmentCachePair {
    let cached: Harness, walked: Harness

    init(_ make: (Bool) throws -> Harness) rethrows {
        cached = try make(true)
        walked = try make(false)
    }

    convenience init(flows: [String]) throws {
        try self.init { cache in
            try Harness([BridgeConfiguration(name: "br", ports: [
                PortConfiguration(name: "p1", ofport: 1), PortConfiguration(name: "p2", ofport: 2),
                PortConfiguration(name: "p3", ofport: 3)], flows: flows)], flowSegmentCache: cache)
        }
    }

    /// Sends `frame` on `port` to both; returns what the cached one sent.
    @discardableResult
    func send(_ frame: [UInt8], on port: String, _ note: Comment? = nil,
              sourceLocation: SourceLocation = #_sourceLocation) -> [String: [[UInt8]]] {
        cached.send(frame, on: port)
        walked.send(frame, on: port)
        let a = cached.collect(), b = walked.collect()
        #expect(a == b, note, sourceLocation: sourceLocation)
        return a
    }

    /// The flows' counters and the ports' counters agree.
    func expectSameState(bridges: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for bridge in bridges {
            #expect(try cached.datapath.flowStatistics(bridge: bridge, now: DatapathInstant(nanoseconds: cached.now))
                == walked.datapath.flowStatistics(bridge: bridge, now: DatapathInstant(nanoseconds: walked.now)), sourceLocation: sourceLocation)
        }
        #expect(cached.datapath.portStatistics() == walked.datapath.portStatistics(), sourceLocation: sourceLocation)
        #expect(cached.accountingHolds && walked.accountingHolds, sourceLocation: sourceLocation)
    }

    func advance(_ ns: UInt64) {
        cached.now &+= ns
        walked.now &+= ns
    }

    var counters: (hits: UInt64, misses: UInt64, stored: UInt64, uncacheable: UInt64) {
        cached.datapath.flowSegmentCacheCounters(bridge: cached.datapath.bridges[0].name)!
    }
}

@Suite struct FlowSegmentCacheTests {
    static let macA = MACAddress("fa:16:3e:00:00:0a")!, macB = MACAddress("fa:16:3e:00:00:0b")!
    static let ipA = IPv4Address(10, 1, 0, 10), ipB = IPv4Address(10, 1, 0, 11)

    static func udp(_ dport: UInt16, sport: UInt16 = 1000, ttl: UInt8 = 64, reverse: Bool = false) -> [UInt8] {
        let (sm, dm, s, d) = reverse ? (macB, macA, ipB, ipA) : (macA, macB, ipA, ipB)
        let (sp, dp) = reverse ? (dport, sport) : (sport, dport)
        return FrameBuilder().ethernet(source: sm, destination: dm).ipv4(source: s, destination: d, ttl: ttl)
            .udp(sourcePort: sp, destinationPort: dp).payload(count: 12).build()
    }

    /// Flows that a replay must reproduce exactly, and flows whose walks must not be
    /// remembered (two outputs, actions after an output, learn, ct() without table=, a
    /// resubmit loop, dec_ttl at TTL 1): the same frames, three times each, agree.
    @Test func cachedAndWalkedPipelinesAgreeOnTrickyFlows() throws {
        let pair = try SegmentCachePair(flows: [
            // Two outputs: the second after a resubmit.
            "table=0,priority=10,in_port=1,udp,tp_dst=2000 actions=output:2,resubmit(,1)",
            "table=1,priority=1 actions=mod_vlan_vid:5,output:3",
            // An output in a resubmitted table, then another in the caller.
            "table=0,priority=10,in_port=1,udp,tp_dst=2001 actions=resubmit(,2),output:3",
            "table=2,priority=1 actions=output:2",
            // Header rewrites then one output: cacheable.
            "table=0,priority=10,in_port=1,udp,tp_dst=2002 actions=dec_ttl,mod_nw_dst:10.9.9.9,mod_tp_dst:99,mod_dl_src:02:00:00:00:00:99,output:2",
            // resubmit with another in_port, output to IN_PORT.
            "table=0,priority=10,in_port=1,udp,tp_dst=2003 actions=resubmit(3,4)",
            "table=4,priority=1,in_port=3 actions=mod_vlan_vid:9,IN_PORT",
            // ct() with recirculation, both directions.
            "table=0,priority=10,in_port=1,udp,tp_dst=2004 actions=ct(zone=5,table=6)",
            "table=0,priority=10,in_port=2,udp,tp_src=2004 actions=ct(zone=5,table=6)",
            "table=6,priority=10,ct_state=+trk+new,in_port=1 actions=ct(commit,zone=5),output:2",
            "table=6,priority=10,ct_state=+trk+est,in_port=1 actions=output:2",
            "table=6,priority=10,ct_state=+trk+est,in_port=2 actions=load:0x7->NXM_NX_REG3[],output:1",
            // ct() without table=: the list goes on.
            "table=0,priority=10,in_port=1,udp,tp_dst=2005 actions=ct(zone=5),output:2",
            // A resubmit loop: cut at the limit.
            "table=0,priority=10,in_port=1,udp,tp_dst=2006 actions=resubmit(,7)",
            "table=7,priority=1 actions=resubmit(,7)",
            // learn, then an output.
            "table=0,priority=10,in_port=1,udp,tp_dst=2007 actions=learn(table=8,priority=5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:2",
            // goto_table, FLOOD.
            "table=0,priority=10,in_port=1,udp,tp_dst=2008 actions=goto_table:9",
            "table=9,priority=1 actions=FLOOD",
            // Two plain outputs.
            "table=0,priority=10,in_port=1,udp,tp_dst=2009 actions=output:2,output:3",
            // A table with no match for the packet.
            "table=0,priority=10,in_port=1,udp,tp_dst=2010 actions=resubmit(,10)",
            "table=10,priority=1,tcp actions=output:2",
            "table=0,priority=1 actions=drop",
        ])
        for _ in 0..<3 {
            for port: UInt16 in 2000...2010 { pair.send(Self.udp(port), on: "p1", "udp to \(port)") }
            pair.send(Self.udp(2002, ttl: 1), on: "p1", "dec_ttl at TTL 1")
            pair.send(Self.udp(3000), on: "p1", "dropped by table 0")
            pair.send(Self.udp(2004, reverse: true), on: "p2", "ct reply")
            pair.advance(1_000_000)
        }
        try pair.expectSameState(bridges: ["br"])
        let c = pair.counters
        #expect(c.hits > 0, "the cacheable walks were replayed")
        #expect(c.uncacheable > 0, "the tricky walks were refused")
        // The ct() path really ran from the cache: the reply is established and rewritten.
        let out = pair.send(Self.udp(2004, reverse: true), on: "p2")
        #expect(out["p1"]?.count == 1)
    }

    /// A table change (a new version) invalidates every remembered segment at once.
    @Test func aTableChangeInvalidatesRememberedSegments() throws {
        let pair = try SegmentCachePair(flows: ["priority=10,udp actions=output:2", "priority=1 actions=drop"])
        for _ in 0..<3 { #expect(pair.send(Self.udp(53), on: "p1")["p2"]?.count == 1) }
        let before = pair.counters
        #expect(before.hits == 2 && before.stored == 1)
        var selector = FlowSelector()
        selector.priority = 10
        var replacement = FlowRule()
        replacement.actions = [.output(3)]
        selector.replacement = replacement
        for h in [pair.cached, pair.walked] {
            #expect(try h.datapath.modifyFlows(selector, strict: false, bridge: "br", now: DatapathInstant(nanoseconds: h.now)) == 1)
        }
        let out = pair.send(Self.udp(53), on: "p1")
        #expect(out["p3"]?.count == 1 && out["p2"] == nil)
        #expect(pair.counters.misses == before.misses + 1)
        try pair.expectSameState(bridges: ["br"])
    }

    /// Neutron's firewall (the compiled security groups): a TCP connection, UDP, ping,
    /// spoofed frames and ARP between two filtered VMs, a VM without port security and the
    /// trunk — and a rule change in the middle — agree frame by frame and counter by counter.
    @Test func securityGroupTrafficAgrees() throws {
        typealias B = SGBench
        let rules = SecurityGroupDatapathTests.egressAll + [
            SecurityGroupRule(direction: .ingress, ipProtocol: 6, portRangeMin: 22, portRangeMax: 22),
            SecurityGroupRule(direction: .ingress, ipProtocol: 17, portRangeMin: 53, portRangeMax: 53),
        ]
        let cached = try SGBench(rules: rules), walked = try SGBench(rules: rules, flowSegmentCache: false)
        let pair = SegmentCachePair { $0 ? cached.h : walked.h }
        func exchange(_ round: Int) {
            let seq = UInt32(1000 * round)
            pair.send(B.tcp(B.mac1, B.mac2, B.ip1, B.ip2, 40000, 22, seq: seq, flags: .syn), on: "vm1", "SYN")
            pair.send(B.tcp(B.mac2, B.mac1, B.ip2, B.ip1, 22, 40000, seq: 5000, ack: seq + 1, flags: [.syn, .ack]), on: "vm2", "SYN-ACK")
            for i in 0..<3 {
                pair.send(B.tcp(B.mac1, B.mac2, B.ip1, B.ip2, 40000, 22, seq: seq + 1 + UInt32(10 * i), ack: 5001,
                                flags: [.ack, .psh], payload: 10), on: "vm1", "data")
            }
            for port: UInt16 in [53, 54] {
                pair.send(B.udp(B.mac1, B.mac2, B.ip1, B.ip2, 3000, port), on: "vm1", "udp \(port)")
                pair.send(B.udp(B.mac2, B.mac1, B.ip2, B.ip1, port, 3000), on: "vm2", "udp reply \(port)")
            }
            pair.send(B.ping(B.mac1, B.mac2, B.ip1, B.ip2), on: "vm1", "ping")
            pair.send(B.ping(B.mac2, B.mac1, B.ip2, B.ip1, reply: true), on: "vm2", "pong")
            pair.send(B.udp(B.macRemote, B.mac2, B.ip1, B.ip2, 3000, 53), on: "vm1", "spoofed MAC")
            pair.send(B.udp(B.mac1, B.mac2, B.ipRemote, B.ip2, 3000, 53), on: "vm1", "spoofed IP")
            pair.send(B.udp(B.mac3, B.mac1, B.ip3, B.ip1, 3000, 53), on: "vm3", "no port security")
            pair.send(FrameBuilder().ethernet(source: B.macRemote, destination: B.mac1).vlan(vid: 1)
                .ipv4(source: B.ipRemote, destination: B.ip1).udp(sourcePort: 3000, destinationPort: 53).payload(count: 4).build(),
                      on: "tun", "from the trunk")
            pair.send(FrameBuilder.arpRequest(senderMAC: B.mac1, senderIP: B.ip1, targetIP: B.ip2), on: "vm1", "ARP")
            pair.advance(10_000_000)
        }
        for round in 1...3 { exchange(round) }
        // Port 53 closes: its connections are cut, the rest goes on.
        for bench in [cached, walked] { _ = try bench.setRules(Array(rules.dropLast())) }
        for round in 4...5 { exchange(round) }
        try pair.expectSameState(bridges: ["br-int"])
        #expect(pair.counters.hits > 20, "established traffic replayed remembered segments: \(pair.counters)")
    }
}
