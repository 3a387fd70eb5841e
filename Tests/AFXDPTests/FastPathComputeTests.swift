@testable import AFXDP
import Testing
@testable import XDPDatapath
import XDPPacket
import XDPScenarios

/// The reference design's compute node in the fast path (Datapath+FastPathConnections.swift):
/// a VM's established stream through br-int's firewall tables, NORMAL, the patch ports and
/// br-tun's tables (`strip_vlan,set_tunnel:…,output:gre`) is one decision — the tables of
/// both bridges, the connection, a flood to the one port left and the tunnel's outer
/// headers with the key the tables set. And NORMAL floods to a single port in general:
/// decided while the MAC table has no entry for the destination.
@Suite("Fast path: through two bridges' tables into a tunnel, and floods to one port")
struct FastPathComputeTests {
    /// The bench's `compute` datapath after its prime (the VM's first datagram, the
    /// sink's GRE reply: the stream is established), recording.
    static func primedCompute() throws -> (datapath: Datapath, frame: [UInt8], now: DatapathInstant) {
        try FastPathRouteTests.primed("compute", flows: nil)
    }

    @Test func theVMsStreamIsDecidedThroughBothBridgesTablesAndTheTunnel() throws {
        let (datapath, frame, now) = try Self.primedCompute()
        let (left, decisions) = FastPathRouteTests.send(frame, datapath, now: now)
        #expect(left.map(\.0) == ["b"])
        let decision = try #require(decisions.first, "the VM's stream was not decided")
        #expect(decisions.count == 1)
        let ids = (a: datapath.port(named: "a")!.id, patchTun: datapath.port(named: "patch-tun")!.id,
                   patchInt: datapath.port(named: "patch-int")!.id, gre: datapath.port(named: "gre-bench")!.id,
                   b: datapath.port(named: "b")!.id)
        // br-int: NORMAL floods VLAN 100 to patch-tun, the one port left (the sink's MAC is
        // never learned: the firewall outputs ingress frames with `output:N`), the tag pushed;
        // br-tun: its tables pop the tag, set tun_id 1001 and output to the gre port.
        #expect(decision.steps.map(\.inPort) == [ids.a, ids.patchInt] && decision.steps.map(\.outPort) == [ids.patchTun, ids.gre])
        #expect(decision.steps.map(\.flooded) == [true, false] && decision.steps.map(\.learnsSource) == [true, false])
        #expect(decision.steps.map(\.outLengthDelta) == [4, 0])
        #expect(decision.tagOperation == .keep && decision.outPort == ids.gre && decision.egressPort == ids.b)
        let encapsulation = try #require(decision.encapsulation)
        #expect(encapsulation.tunnelID == UInt64(BenchScenario.computeTunnelID))
        #expect(Array(encapsulation.header[38..<42]) == [0, 0, 0x03, 0xE9], "the key the tables set, 1001")
        #expect(decision.applied(to: frame) == left[0].1, "the kernel's bytes are the tunnel's")
        // It depends on both bridges' tables, br-tun's flows counted with the tag's 4 bytes.
        let bridges = decision.dependencies.tables.map { datapath.topology().bridges[$0.bridge.index].name }
        #expect(bridges == ["br-int", "br-tun"])
        #expect(Set(decision.dependencies.flows.map(\.lengthDelta)) == [0, 4])
        #expect(decision.dependencies.connections.count == 1)
        #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision, "worked out again from the key alone")

        // Credited: br-tun's flows count the tagged length, the underlay the encapsulated one.
        let tunBefore = try datapath.flowStatistics(bridge: "br-tun", now: now).map(\.bytes).reduce(0, +)
        let underlayBefore = datapath.port(named: "b")!.stats
        let floodedBefore = datapath.port(named: "a")!.stats.floodedPackets
        datapath.creditFastPath(decision, packets: 3, bytes: 3 * UInt64(frame.count), lastUsed: now)
        let tunAfter = try datapath.flowStatistics(bridge: "br-tun", now: now).map(\.bytes).reduce(0, +)
        let hitsInTun = decision.dependencies.flows.filter { $0.lengthDelta == 4 }.count
        #expect(tunAfter - tunBefore == UInt64(hitsInTun) * 3 * UInt64(frame.count + 4))
        let underlayAfter = datapath.port(named: "b")!.stats
        #expect(underlayAfter.txPackets - underlayBefore.txPackets == 3)
        #expect(underlayAfter.txBytes - underlayBefore.txBytes == 3 * UInt64(left[0].1.count))
        #expect(datapath.port(named: "a")!.stats.floodedPackets == floodedBefore + 3, "br-int's flood, counted as NORMAL counts it")

        // A change of br-tun's tables (l2population's entry for the sink replaced) undoes it.
        let rule = try FlowParser.parse("table=20,priority=2,dl_vlan=\(BenchScenario.vlan),dl_dst=\(BenchScenario.colon(BenchScenario.sinkMAC)),"
                                        + "actions=strip_vlan,set_tunnel:2002,output:2")
        try datapath.addFlow(rule, bridge: "br-tun", now: now)
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        let again = FastPathRouteTests.send(frame, datapath, now: now)
        let redecided = try #require(again.decisions.first)
        #expect(redecided.encapsulation?.tunnelID == 2002 && redecided.applied(to: frame) == again.left[0].1)
    }

    /// The sink's MAC learned in br-int (by NORMAL, on patch-tun): the flood became a
    /// unicast, so the flooded decision no longer holds, and the next frame is decided as
    /// the unicast, the rest of the path the same.
    @Test func theComputeDecisionIsRemadeWhenBrIntLearnsTheDestination() throws {
        let (datapath, frame, now) = try Self.primedCompute()
        let decision = try #require(FastPathRouteTests.send(frame, datapath, now: now).decisions.first)
        let sink = try #require(MACAddress(BenchScenario.colon(BenchScenario.sinkMAC)))
        let brInt = try #require(datapath.topology().bridges.firstIndex { $0.name == "br-int" })
        let previous = datapath.l2.macTables[brInt].learn(sink.rawValue, vlan: BenchScenario.vlan,
                                                          port: datapath.port(named: "patch-tun")!.id.index, now: now.nanoseconds)
        #expect(previous == MACTableStorage.newEntry)
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        let again = try #require(FastPathRouteTests.send(frame, datapath, now: now).decisions.first)
        #expect(again.steps.map(\.flooded) == [false, false])
        #expect(again.steps.map(\.outPort) == decision.steps.map(\.outPort) && again.encapsulation == decision.encapsulation)
    }

    /// A NORMAL-only bridge of two ports: a frame to an unknown destination is flooded to
    /// the other port, and decided so; once the destination is learned the transport is
    /// told to re-check, the flood no longer holds, and the next frame is decided as the
    /// unicast it now is; once that entry aged, the flood is not decided. With a third port
    /// the flood is two outputs: not decided.
    @Test func aFloodToTheOnePortLeftIsDecidedUntilTheDestinationIsLearned() throws {
        let now = DatapathInstant.now()
        func datapath(ports: [String]) throws -> Datapath {
            let configuration = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: ports.map { PortConfiguration(name: $0) })])
            let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 256), now: now)
            datapath.fastPathRecording = true
            return datapath
        }
        let (a, x) = (MACAddress(rawValue: 0x0200_0000_0001), MACAddress(rawValue: 0x0200_0000_0099))
        func datagram(from: MACAddress, to: MACAddress) -> [UInt8] {
            FrameBuilder().ethernet(source: from, destination: to).ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
                .udp(sourcePort: 1, destinationPort: 2).build()
        }
        let two = try datapath(ports: ["a", "b"])
        let frame = datagram(from: a, to: x)
        let (left, decisions) = FastPathRouteTests.send(frame, two, now: now)
        #expect(left.map(\.0) == ["b"])
        let flood = try #require(decisions.first, "the flood to b was not decided")
        #expect(flood.steps.map(\.flooded) == [true] && flood.outPort == two.port(named: "b")!.id)
        #expect(flood.applied(to: frame) == left[0].1)
        #expect(two.fastPathExpiry(of: flood, now: now) != nil)
        _ = two.takeFastPathMACChanged()
        // What the kernel carried counts as flooded on the input port, as NORMAL counts it.
        let floodedBefore = two.port(named: "a")!.stats.floodedPackets
        two.creditFastPath(flood, packets: 4, bytes: 4 * UInt64(frame.count), lastUsed: now)
        #expect(two.port(named: "a")!.stats.floodedPackets == floodedBefore + 4)

        // x speaks from b: learned, so NORMAL's answer changed.
        _ = FastPathRouteTests.send(datagram(from: x, to: a), two, now: now, port: "b")
        #expect(two.takeFastPathMACChanged(), "a newly learned MAC makes the transport re-check")
        #expect(two.fastPathExpiry(of: flood, now: now) == nil)
        let unicast = try #require(FastPathRouteTests.send(frame, two, now: now).decisions.first)
        #expect(unicast.steps.map(\.flooded) == [false] && unicast.outPort == two.port(named: "b")!.id)
        // Seen again where it was: no re-check.
        _ = FastPathRouteTests.send(datagram(from: x, to: a), two, now: now, port: "b")
        #expect(!two.takeFastPathMACChanged())

        // x's entry aged out: NORMAL floods again, but seeing x again where it was would not
        // tell the transport (`learn` tells only of MACs without an entry): not decided.
        let later = now + .seconds(400)
        let aged = FastPathRouteTests.send(frame, two, now: later)
        #expect(aged.left.map(\.0) == ["b"] && two.port(named: "a")!.stats.floodedPackets > floodedBefore + 4)
        #expect(aged.decisions.isEmpty, "a flood to a MAC with an aged entry is not repeated")

        let three = try datapath(ports: ["a", "b", "c"])
        let sent = FastPathRouteTests.send(frame, three, now: now)
        #expect(Set(sent.left.map(\.0)) == ["b", "c"])
        #expect(sent.decisions.isEmpty, "a flood to two ports is not repeated")
    }

    /// Two bridges with tables joined by a patch pair: br-x's flow outputs `a`'s frames to
    /// the patch port, br-y's pushes VLAN 5 and outputs to `b`. One decision through both
    /// bridges' tables, with the tag br-y's flow pushed; credited to both flows; and undone
    /// by a change of the second bridge's tables, after which the frame is dropped as the
    /// new flow says and nothing is decided.
    @Test func anOutputToAPatchPortGoesOnThroughThePeerBridgesTables() throws {
        let now = DatapathInstant.now()
        let configuration = DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-x", ports: [PortConfiguration(name: "a", ofport: 1),
                                                      PortConfiguration(name: "px", type: .patch(peer: "py"), ofport: 2)],
                                flows: ["table=0,priority=1,in_port=1,actions=output:2", "table=0,priority=0,actions=drop"]),
            BridgeConfiguration(name: "br-y", ports: [PortConfiguration(name: "py", type: .patch(peer: "px"), ofport: 1),
                                                      PortConfiguration(name: "b", ofport: 2)],
                                flows: ["table=0,priority=1,in_port=1,actions=mod_vlan_vid:5,output:2", "table=0,priority=0,actions=drop"]),
        ])
        let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 256), now: now)
        datapath.fastPathRecording = true
        let frame = FrameBuilder().ethernet(source: MACAddress(rawValue: 0x0200_0000_0001), destination: MACAddress(rawValue: 0x0200_0000_0002))
            .ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2)).udp(sourcePort: 5000, destinationPort: 53)
            .payload(count: 40).build()
        let (left, decisions) = FastPathRouteTests.send(frame, datapath, now: now)
        #expect(left.map(\.0) == ["b"])
        let decision = try #require(decisions.first, "the path through both bridges' tables was not decided")
        let id = { (name: String) in datapath.port(named: name)!.id }
        #expect(decision.steps.map(\.inPort) == [id("a"), id("py")] && decision.steps.map(\.outPort) == [id("px"), id("b")])
        #expect(decision.steps.map(\.flooded) == [false, false] && decision.steps.map(\.outLengthDelta) == [0, 4])
        #expect(decision.tagOperation == .push && decision.outTCI & 0x0FFF == 5 && decision.outPort == id("b"))
        #expect(decision.encapsulation == nil)
        #expect(decision.applied(to: frame) == left[0].1, "the kernel's bytes are the second bridge's")
        let bridges = decision.dependencies.tables.map { datapath.topology().bridges[$0.bridge.index].name }
        #expect(bridges == ["br-x", "br-y"] && decision.dependencies.flows.count == 2)
        #expect(decision.dependencies.connections.isEmpty)
        #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision, "worked out again from the key alone")

        // Credited: each bridge's forwarding flow counts the frames the kernel carried, with
        // the length they had there (untagged in both: the tag is pushed at br-y's output).
        func counts(_ bridge: String) throws -> [[UInt64]] {
            try datapath.flowStatistics(bridge: bridge, now: now).map { [$0.packets, $0.bytes] }
        }
        let (xBefore, yBefore) = (try counts("br-x"), try counts("br-y"))
        datapath.creditFastPath(decision, packets: 5, bytes: 5 * UInt64(frame.count), lastUsed: now)
        let credited = [[0, 0], [5, 5 * UInt64(frame.count)]]
        #expect(zip(try counts("br-x"), xBefore).map { [$0[0] - $1[0], $0[1] - $1[1]] }.sorted { $0[0] < $1[0] } == credited)
        #expect(zip(try counts("br-y"), yBefore).map { [$0[0] - $1[0], $0[1] - $1[1]] }.sorted { $0[0] < $1[0] } == credited)

        // br-y's tables change: the decision no longer holds, and the frame now goes nowhere.
        try datapath.addFlow(try FlowParser.parse("table=0,priority=5,in_port=1,actions=drop"), bridge: "br-y", now: now)
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        let again = FastPathRouteTests.send(frame, datapath, now: now)
        #expect(again.left.isEmpty && again.decisions.isEmpty)
    }

    /// `set_tunnel` then NORMAL, to a destination learned on a `key=flow` GRE port: NORMAL
    /// outputs with the key the tables set, and the decision's outer headers carry it; a
    /// change of the flow's key is a change of the tables, so the next frame is decided
    /// with the new key.
    @Test func setTunnelThenNormalToAKeyFlowPortCarriesTheKeyTheTablesSet() throws {
        let now = DatapathInstant.now()
        let remote = FastPathTunnelTests.remotes[0], local = FastPathTunnelTests.localMAC
        let configuration = DatapathConfiguration(
            bridges: [BridgeConfiguration(name: "br", ports: [
                PortConfiguration(name: "a", ofport: 1, tag: 10),
                PortConfiguration(name: "gre", type: .gre(GREOptions(remoteIP: remote, key: .flow)), ofport: 2),
            ], flows: ["table=0,priority=1,in_port=1,actions=set_tunnel:0x77,NORMAL", "table=0,priority=0,actions=NORMAL"])],
            underlay: UnderlayConfiguration(interface: "u", address: IPv4Address(172, 16, 0, 1), prefixLength: 24, mac: local, mtu: 1500,
                                            neighbours: [remote: FastPathTunnelTests.remoteMACs[0]]))
        let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 256), now: now)
        datapath.fastPathRecording = true
        let (vm, far) = (MACAddress(rawValue: 0x0200_0000_0a01), MACAddress(rawValue: 0x0200_0000_ee01))
        // The far host speaks first, through the tunnel (VLAN 10, as a trunk carries it): learned on `gre`.
        let hello = FrameBuilder().ethernet(source: far, destination: .broadcast).vlan(vid: 10)
            .ipv4(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 255)).udp(sourcePort: 68, destinationPort: 67).build()
        let gre = FrameBuilder().ethernet(source: FastPathTunnelTests.remoteMACs[0], destination: local)
            .ipv4(source: remote, destination: IPv4Address(172, 16, 0, 1), identification: 0, dontFragment: true)
            .gre(key: 0x77, protocolType: .transparentEthernetBridging).payload(hello).build()
        datapath.inject(gre, into: datapath.port(named: "u")!, now: now)
        _ = FastPathConnectionTests.drain(datapath)
        _ = datapath.takeFastPathDecisions()

        let frame = FrameBuilder().ethernet(source: vm, destination: far)
            .ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2)).udp(sourcePort: 5000, destinationPort: 53)
            .payload(count: 40).build()
        let (left, decisions) = FastPathRouteTests.send(frame, datapath, now: now)
        #expect(left.map(\.0) == ["u"])
        let decision = try #require(decisions.first, "set_tunnel then NORMAL to the GRE port was not decided")
        #expect(decision.steps.map(\.flooded) == [false] && decision.steps.map(\.outPort) == [datapath.port(named: "gre")!.id])
        #expect(decision.egressPort == datapath.port(named: "u")!.id)
        let encapsulation = try #require(decision.encapsulation)
        #expect(encapsulation.tunnelID == 0x77)
        #expect(Array(encapsulation.header[38..<42]) == [0, 0, 0, 0x77], "the key the tables set")
        #expect(Array(left[0].1[38..<42]) == [0, 0, 0, 0x77], "and the one the tunnel wrote")
        #expect(decision.applied(to: frame) == left[0].1, "the kernel's bytes are the tunnel's")
        #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision, "worked out again from the key alone")

        // Another key in the flow: a change of the tables, and the next frame carries it.
        try datapath.addFlow(try FlowParser.parse("table=0,priority=5,in_port=1,actions=set_tunnel:0x88,NORMAL"), bridge: "br", now: now)
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        let again = FastPathRouteTests.send(frame, datapath, now: now)
        let redecided = try #require(again.decisions.first)
        #expect(redecided.encapsulation?.tunnelID == 0x88 && Array(again.left[0].1[38..<42]) == [0, 0, 0, 0x88])
        #expect(redecided.applied(to: frame) == again.left[0].1)
    }
}
