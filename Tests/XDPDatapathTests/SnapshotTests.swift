import Testing
import XDPDatapath
import XDPPacket

/// What the datapath returns about itself, as values, after real frames went through it:
/// the topology `show` renders, the counters of `stats`, the learned addresses of
/// `fdb/show` and the flows of `dump-flows`.
@Suite struct SnapshotTests {
    @Test func topologyListsBridgesAndPortsAsConfigured() throws {
        let h = try Harness(accessTrunkBridge())
        let topology = h.datapath.topology()
        #expect(topology.bridges.map(\.name) == ["br-int"])
        let ports = topology.bridges[0].ports
        #expect(ports.map(\.name) == ["qvo-a", "qvo-b", "qvo-c", "trunk", "trunk-all"])
        #expect(ports.map(\.tag) == [1, 1, 2, 0, 0])
        #expect(ports.map(\.ofport) == ports.map { h.port($0.name).ofport })
        #expect(ports[3].trunks == VLANSet([1, 2]) && ports[4].trunks.isAll)
        #expect(ports.allSatisfy { $0.type == .system && $0.router == nil && $0.dhcpNetwork == nil && $0.linkDown == nil })
        #expect(topology.routers.isEmpty)
    }

    @Test func fdbAndPortStatisticsAfterTraffic() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")
        h.now += 3_000_000_000
        h.send(TestFrame.tagged(dst: A, src: C, vlan: 1), on: "trunk")
        _ = h.collect()
        let fdb = try #require(h.datapath.fdb(bridge: "br-int", now: DatapathInstant(nanoseconds: h.now)))
        #expect(fdb == [
            FDBEntry(port: "qvo-a", ofport: h.port("qvo-a").ofport, vlan: 1, mac: TestFrame.mac(A), age: .seconds(3)),
            FDBEntry(port: "trunk", ofport: h.port("trunk").ofport, vlan: 1, mac: TestFrame.mac(C), age: .zero),
        ])
        #expect(fdb[1].description == "fa:16:3e:00:00:0c vlan 1 on trunk (ofport \(h.port("trunk").ofport)), age 0s")
        #expect(h.datapath.fdb(bridge: "br-nope", now: DatapathInstant(nanoseconds: h.now)) == nil)

        let stats = h.datapath.portStatistics()
        #expect(stats.map(\.name) == h.datapath.ports.map(\.name))
        let byName = Dictionary(uniqueKeysWithValues: stats.map { ($0.name, $0) })
        #expect(byName["qvo-a"]?.stats.rxPackets == 1 && byName["qvo-a"]?.stats.txPackets == 1, "the broadcast in, the unicast out")
        #expect(byName["trunk"]?.stats.rxPackets == 1 && byName["trunk"]?.stats.txPackets == 1)
        #expect(byName["qvo-c"]?.stats.txPackets == 0, "VLAN 2 saw nothing")
        #expect(byName["qvo-a"]?.stats == h.port("qvo-a").stats)
        #expect(byName["qvo-a"]?.description == "qvo-a: rx 1/60 tx 1/60 drops 0")
    }

    @Test func flowStatisticsCountThePacketsOfEachFlow() throws {
        let h = try Harness([BridgeConfiguration(name: "br-tun", ports: [
            PortConfiguration(name: "p1"), PortConfiguration(name: "p2"),
        ], flows: ["table=0,priority=5,in_port=1 actions=output:2", "table=0,priority=1 actions=drop"])])
        h.send(TestFrame.ethernet(dst: B, src: A), on: "p1")
        h.send(TestFrame.ethernet(dst: B, src: A), on: "p1")
        h.send(TestFrame.ethernet(dst: A, src: B), on: "p2")
        h.now += 1_500_000_000
        _ = h.collect()
        let flows = try h.datapath.flowStatistics(bridge: "br-tun", now: DatapathInstant(nanoseconds: h.now))
        #expect(flows.map(\.rule.priority) == [5, 1], "by descending priority")
        #expect(flows.map(\.packets) == [2, 1] && flows.map(\.bytes) == [120, 60])
        // The configured flows count from the datapath's construction (time 0); the packets came at 1 s.
        #expect(flows.map(\.duration) == [.milliseconds(2500), .milliseconds(2500)])
        // The last packets came 1.5 s before `now`: the value is exact, the text prints whole seconds.
        #expect(flows.map(\.idleAge) == [.milliseconds(1500), .milliseconds(1500)])
        #expect(flows[0].description == " cookie=0x0, duration=2.500s, table=0, n_packets=2, n_bytes=120, idle_age=1, priority=5,in_port=1 actions=output:2")
        #expect(throws: Datapath.FlowModificationError.self) { try h.datapath.flowStatistics(bridge: "br-nope", now: DatapathInstant(nanoseconds: h.now)) }
    }

    @Test func conntrackConnectionsAndStatisticsAfterTraffic() throws {
        let h = try ConntrackFlowTests().harness()
        #expect(h.datapath.conntrackStatistics() != nil, "ct() flows start the tracker")
        h.send(ConntrackFlowTests.udp(from: ConntrackFlowTests.ipA, to: ConntrackFlowTests.ipB, sport: 1000, dport: 2000), on: "p1")
        h.send(ConntrackFlowTests.udp(from: ConntrackFlowTests.ipA, to: ConntrackFlowTests.ipB, sport: 1001, dport: 2000), on: "p1")
        _ = h.collect()
        let connections = h.datapath.conntrackConnections()
        #expect(connections.map(\.original.sourcePort) == [1000, 1001], "sorted as dump-conntrack prints them")
        #expect(connections.allSatisfy { $0.original.zone == 5 && $0.mark == 7 && $0.original.proto == 17 && !$0.seenReply })
        #expect(connections == h.datapath.conntrackConnections(zone: 5) && h.datapath.conntrackConnections(zone: 4).isEmpty)
        let statistics = try #require(h.datapath.conntrackStatistics())
        #expect(statistics.connections == 2 && statistics.zones == [5: 2] && statistics.heldFragments == 0)
        #expect(statistics.capacity == ConntrackConfiguration().capacity)
        #expect(statistics.description == "connections: 2 (limit \(statistics.capacity)), 1 zones, 0 held fragments")
    }
}
