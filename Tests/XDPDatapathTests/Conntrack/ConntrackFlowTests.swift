import Testing
import XDPDatapath
import XDPPacket

/// The `ct()` action in the flow pipeline: zones from registers, commit with a mark,
/// recirculation with ct_state/ct_mark visible, limits, held fragments, flush.
@Suite struct ConntrackFlowTests {
    static let macA = MACAddress("fa:16:3e:00:00:0a")!, macB = MACAddress("fa:16:3e:00:00:0b")!
    static let ipA = IPv4Address(10, 1, 0, 10), ipB = IPv4Address(10, 1, 0, 11)

    /// A stateful pair of ports: p1 may open connections to p2; p2 may only answer.
    /// Zone 5 comes from reg6; committed connections get ct_mark 7, and replies must
    /// carry it.
    static let statefulFlows = [
        "table=0,priority=100,ip,in_port=1 actions=load:5->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
        "table=0,priority=100,ip,in_port=2 actions=load:5->NXM_NX_REG6[0..15],ct(table=1,zone=NXM_NX_REG6[0..15])",
        "table=0,priority=10,arp actions=ct(table=1,zone=5)",
        "table=1,priority=100,ct_state=+trk+new,ip,in_port=1 actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x7->ct_mark)),output:2",
        "table=1,priority=100,ct_state=+trk+est-rel-inv,ct_mark=0x7,in_port=2 actions=output:1",
        "table=1,priority=100,ct_state=+trk+est-rel-inv,in_port=1 actions=output:2",
        "table=1,priority=90,ct_state=+trk+inv actions=drop",
        "table=1,priority=0 actions=drop",
    ]

    func harness(flows: [String] = statefulFlows, conntrack: ConntrackConfiguration = ConntrackConfiguration()) throws -> Harness {
        var config = ConntrackConfiguration()
        config = conntrack
        let bridges = [BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
                                           flows: flows)]
        let h = try Harness(bridges, frames: 1024, conntrack: config)
        return h
    }

    static func udp(from a: IPv4Address, to b: IPv4Address, sport: UInt16, dport: UInt16, reverse: Bool = false) -> [UInt8] {
        FrameBuilder().ethernet(source: reverse ? macB : macA, destination: reverse ? macA : macB)
            .ipv4(source: a, destination: b).udp(sourcePort: sport, destinationPort: dport).payload(count: 16).build()
    }

    func drops(_ h: Harness, _ port: String) -> [DropReason: UInt64] { h.port(port).stats.drops }

    @Test func newFromInsideCommitsAndRepliesComeBackWithTheMark() throws {
        let h = try harness()
        let out = Self.udp(from: Self.ipA, to: Self.ipB, sport: 1000, dport: 2000)
        h.send(out, on: "p1")
        #expect(h.collect()["p2"] == [out])
        let reply = Self.udp(from: Self.ipB, to: Self.ipA, sport: 2000, dport: 1000, reverse: true)
        h.send(reply, on: "p2")
        #expect(h.collect()["p1"] == [reply])
        // A connection p2 opens itself is +new from p2: dropped by the table's last flow.
        h.send(Self.udp(from: Self.ipB, to: Self.ipA, sport: 3000, dport: 1000, reverse: true), on: "p2")
        #expect(h.collect().isEmpty)
        #expect(drops(h, "p2")[.flowDrop] == 1)
        let dump = h.datapath.conntrackConnections(zone: 5).map(\.description)
        #expect(dump == ["udp,orig=(src=10.1.0.10,dst=10.1.0.11,sport=1000,dport=2000),reply=(src=10.1.0.11,dst=10.1.0.10,sport=2000,dport=1000),zone=5,mark=7"])
        #expect(h.datapath.conntrackConnections(zone: 6).isEmpty)
        #expect(h.accountingHolds)
    }

    @Test func uncommittedTrafficLeavesNothingAndNonIPIsInvalid() throws {
        let h = try harness()
        // Reply-looking traffic from p2 before any commit: +new, dropped, nothing tracked.
        h.send(Self.udp(from: Self.ipB, to: Self.ipA, sport: 2000, dport: 1000, reverse: true), on: "p2")
        #expect(h.collect().isEmpty)
        #expect(h.datapath.conntrack?.connectionCount == 0)
        let arp = FrameBuilder().ethernet(source: Self.macA, destination: MACAddress.broadcast)
            .arp(operation: .request, senderMAC: Self.macA, senderIP: Self.ipA, targetMAC: MACAddress.zero, targetIP: Self.ipB).build()
        h.send(arp, on: "p1")
        #expect(h.collect().isEmpty)
        #expect(h.datapath.conntrack?.count(.notIP) == 1)
        #expect(h.accountingHolds)
    }

    @Test func atTheLimitNewConnectionsDropButEstablishedOnesFlow() throws {
        var ct = ConntrackConfiguration()
        ct.capacity = 16
        let h = try harness(conntrack: ct)
        for i in 0..<20 { h.send(Self.udp(from: Self.ipA, to: Self.ipB, sport: UInt16(1000 + i), dport: 53), on: "p1") }
        #expect(h.collect()["p2"]?.count == 16)
        #expect(drops(h, "p1")[.conntrackLimit] == 4)
        let reply = Self.udp(from: Self.ipB, to: Self.ipA, sport: 53, dport: 1000, reverse: true)
        h.send(reply, on: "p2")
        #expect(h.collect()["p1"] == [reply])
        #expect(h.accountingHolds)
    }

    @Test func fragmentsAreHeldUntilTheDatagramCompletesThenForwardedInArrivalOrder() throws {
        let h = try harness()
        let whole = Self.udp(from: Self.ipA, to: Self.ipB, sport: 1000, dport: 2000)
        // The IP payload (UDP header + 16 bytes = 24) in two fragments of 16 and 8 bytes.
        let ipPayload = Array(whole[34..<58])
        func fragment(_ bytes: ArraySlice<UInt8>, offset: UInt16, more: Bool) -> [UInt8] {
            FrameBuilder().ethernet(source: Self.macA, destination: Self.macB)
                .ipv4(source: Self.ipA, destination: Self.ipB, identification: 77, moreFragments: more, fragmentOffset: offset,
                      protocolNumber: .udp)
                .payload(Array(bytes)).build()
        }
        let first = fragment(ipPayload[0..<16], offset: 0, more: true)
        let second = fragment(ipPayload[16..<24], offset: 2, more: false)
        h.send(second, on: "p1")
        #expect(h.collect().isEmpty)
        #expect(h.datapath.heldFrameCount == 1)
        #expect(h.accountingHolds)
        h.send(first, on: "p1")
        #expect(h.collect()["p2"] == [second, first])
        #expect(h.datapath.heldFrameCount == 0)
        #expect(h.datapath.conntrackConnections(zone: 5).count == 1)
        #expect(h.accountingHolds)
    }

    @Test func heldFragmentsTimeOut() throws {
        var ct = ConntrackConfiguration()
        ct.fragmentTimeout = .seconds(2)
        let h = try harness(conntrack: ct)
        let lone = FrameBuilder().ethernet(source: Self.macA, destination: Self.macB)
            .ipv4(source: Self.ipA, destination: Self.ipB, identification: 9, moreFragments: false, fragmentOffset: 4,
                  protocolNumber: .udp)
            .payload(count: 8).build()
        h.send(lone, on: "p1")
        #expect(h.datapath.heldFrameCount == 1)
        h.datapath.tick(now: DatapathInstant(nanoseconds: h.now + 3_000_000_000))
        #expect(h.datapath.heldFrameCount == 0)
        #expect(drops(h, "p1")[.fragmentTimeout] == 1)
        #expect(h.accountingHolds)
    }

    @Test func flushByTupleCutsTheConnection() throws {
        let h = try harness()
        h.send(Self.udp(from: Self.ipA, to: Self.ipB, sport: 1000, dport: 2000), on: "p1")
        h.send(Self.udp(from: Self.ipA, to: Self.ipB, sport: 1001, dport: 2000), on: "p1")
        _ = h.collect()
        let filter = try ConntrackTupleFilter(parsing: "ct_nw_src=10.1.0.10,ct_nw_proto=17,ct_tp_src=1000")
        #expect(h.datapath.flushConntrack(zone: 5, tuple: filter) == 1)
        #expect(h.datapath.flushConntrack(zone: 6) == 0)
        h.send(Self.udp(from: Self.ipB, to: Self.ipA, sport: 2000, dport: 1000, reverse: true), on: "p2")
        h.send(Self.udp(from: Self.ipB, to: Self.ipA, sport: 2000, dport: 1001, reverse: true), on: "p2")
        #expect(h.collect()["p1"]?.count == 1)
        #expect(throws: ConntrackTupleFilterError.self) { try ConntrackTupleFilter(parsing: "ct_nw_src=bogus") }
        #expect(throws: ConntrackTupleFilterError.self) { try ConntrackTupleFilter(parsing: "nw_src=10.0.0.1") }
    }

    @Test func ctWithoutTableCommitsAndContinuesWithoutChangingCtState() throws {
        let h = try harness(flows: [
            "table=0,priority=100,ip,in_port=1 actions=ct(commit,zone=9),resubmit(,1)",
            // Without recirculation the packet is still -trk here.
            "table=1,priority=100,ct_state=-trk actions=output:2",
            "table=1,priority=0 actions=drop",
        ])
        h.send(Self.udp(from: Self.ipA, to: Self.ipB, sport: 1, dport: 2), on: "p1")
        #expect(h.collect()["p2"]?.count == 1)
        #expect(h.datapath.conntrackConnections(zone: 9).count == 1)
    }

    @Test func flowsWithCtStartTheTrackerOnlyWhenNeeded() throws {
        let plain = try Harness([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1")])])
        #expect(plain.datapath.conntrack == nil)
        try plain.datapath.addFlow(try FlowParser.parse("ip actions=ct(table=1)"), bridge: "br", now: DatapathInstant(nanoseconds: plain.now))
        #expect(plain.datapath.conntrack != nil)
    }
}

/// `ct(nat)` in flows: SNAT on commit, replies translated back, exhaustion counted.
@Suite struct ConntrackFlowNATTests {
    static let flows = [
        "table=0,priority=100,ip,in_port=1 actions=ct(commit,zone=3,nat(src=192.0.2.1:5000-5001)),output:2",
        "table=0,priority=100,ip,in_port=2 actions=ct(zone=3,nat,table=1)",
        "table=1,priority=100,ct_state=+trk+est,ip,nw_dst=10.1.0.10 actions=output:1",
        "table=1,priority=0 actions=drop",
    ]

    func fields(_ frame: [UInt8]) -> (src: UInt32, dst: UInt32, sport: UInt16, dport: UInt16, valid: Bool) {
        var bytes = frame
        return bytes.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            var meta = PacketMetadata()
            _ = PacketParser.parse(p, length: raw.count, into: &meta)
            let ip = IPv4Header(p + Int(meta.l3Offset))
            let length = Int(ip.totalLength) - ip.headerLength
            let pseudo = Checksum.pseudoHeaderSum(source: ip.source, destination: ip.destination, protocol: ip.protocolNumber,
                                                  length: length)
            let valid = ip.isChecksumValid
                && Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: p + Int(meta.l4Offset), length: length)
            return (meta.nwSrc, meta.nwDst, meta.tpSrc, meta.tpDst, valid)
        }
    }

    /// A reply in two fragments, the last first: held until the datagram completes, then
    /// both are translated (the held one when it is released) and leave in arrival order,
    /// their IPv4 checksums right and the reassembled UDP checksum right for the new
    /// addresses and port.
    @Test func heldReplyFragmentsAreTranslatedWhenReleased() throws {
        let h = try Harness([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
                                                 flows: Self.flows)])
        let ipA = ConntrackFlowTests.ipA, ipB = ConntrackFlowTests.ipB, outside = IPv4Address(192, 0, 2, 1)
        h.send(ConntrackFlowTests.udp(from: ipA, to: ipB, sport: 1000, dport: 53), on: "p1")
        let sport = fields(try #require(h.collect()["p2"]?.first)).sport
        // The reply's IP payload (UDP header + 16 bytes) in fragments of 16 and 8 bytes.
        let whole = ConntrackFlowTests.udp(from: ipB, to: outside, sport: 53, dport: sport, reverse: true)
        let ipPayload = Array(whole[34..<58])
        func fragment(_ bytes: ArraySlice<UInt8>, offset: UInt16, more: Bool) -> [UInt8] {
            FrameBuilder().ethernet(source: ConntrackFlowTests.macB, destination: ConntrackFlowTests.macA)
                .ipv4(source: ipB, destination: outside, identification: 41, moreFragments: more, fragmentOffset: offset,
                      protocolNumber: .udp)
                .payload(Array(bytes)).build()
        }
        h.send(fragment(ipPayload[16..<24], offset: 2, more: false), on: "p2")
        #expect(h.collect().isEmpty)
        #expect(h.datapath.heldFrameCount == 1)
        h.send(fragment(ipPayload[0..<16], offset: 0, more: true), on: "p2")
        let out = try #require(h.collect()["p1"])
        try #require(out.count == 2)
        let (last, first) = (out[0], out[1])
        #expect(last[20] & 0x1F == 0 && last[21] == 2, "the held (last) fragment leaves first")
        for f in out {
            var bytes = f
            let ok = bytes.withUnsafeMutableBytes { raw -> Bool in
                let ip = IPv4Header(raw.baseAddress! + 14)
                return ip.isChecksumValid && ip.source == ipB && ip.destination == ipA
            }
            #expect(ok, "both fragments addressed to the inside host with a valid IPv4 checksum")
        }
        var udp = Array(first[34...]) + Array(last[34...])
        #expect(UInt16(udp[2]) << 8 | UInt16(udp[3]) == 1000, "destination port translated back")
        let valid = udp.withUnsafeMutableBytes { raw in
            Checksum.verifyTransport(pseudoHeaderSum: Checksum.pseudoHeaderSum(source: ipB, destination: ipA, protocol: .udp, length: 24),
                                     segment: raw.baseAddress!, length: 24)
        }
        #expect(valid, "the reassembled UDP checksum covers the translated addresses and port")
        #expect(h.datapath.heldFrameCount == 0 && h.accountingHolds)
    }

    @Test func snatInFlowsTranslatesBothWaysAndCountsExhaustion() throws {
        let h = try Harness([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
                                                 flows: Self.flows)])
        let ipA = ConntrackFlowTests.ipA, ipB = ConntrackFlowTests.ipB
        h.send(ConntrackFlowTests.udp(from: ipA, to: ipB, sport: 1000, dport: 53), on: "p1")
        let out = try #require(h.collect()["p2"]?.first)
        let o = fields(out)
        #expect(o.src == IPv4Address(192, 0, 2, 1).rawValue && o.dst == ipB.rawValue && (5000...5001).contains(o.sport) && o.valid)
        // The reply to the translated address comes back to the original one.
        h.send(ConntrackFlowTests.udp(from: ipB, to: IPv4Address(192, 0, 2, 1), sport: 53, dport: o.sport, reverse: true), on: "p2")
        let back = try #require(h.collect()["p1"]?.first)
        let r = fields(back)
        #expect(r.src == ipB.rawValue && r.dst == ipA.rawValue && r.sport == 53 && r.dport == 1000 && r.valid)
        let dump = h.datapath.conntrackConnections(zone: 3).map(\.description)
        #expect(dump.count == 1 && dump[0].contains("reply=(src=10.1.0.11,dst=192.0.2.1,sport=53,dport=\(o.sport))"))
        // Two ports in the range: a third connection finds none free.
        h.send(ConntrackFlowTests.udp(from: ipA, to: ipB, sport: 1001, dport: 53), on: "p1")
        h.send(ConntrackFlowTests.udp(from: ipA, to: ipB, sport: 1002, dport: 53), on: "p1")
        #expect(h.collect()["p2"]?.count == 1)
        #expect(h.port("p1").stats.drops[.natExhausted] == 1)
        #expect(h.accountingHolds)
    }
}
