import Testing
import XDPSwitch

/// The reference design's flows, verbatim, in configurations built like the reference design's nodes, checked
/// with trace, dump-flows and real frames; and the control socket's flow commands.
@Suite struct ReferenceFlowTests {
    static let computeNode = """
        bridges:
          - name: br-int
            ports:
              - {name: qvo-vm1, tag: 1}
              - {name: patch-tun, type: patch, options: {peer: patch-int}}
          - name: br-tun
            ports:
              - {name: patch-int, type: patch, options: {peer: patch-tun}}
              - {name: gre-1, type: gre, options: {remote_ip: 172.16.0.2, key: flow}}
            flows:
              - priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1
              - priority=3,tun_id=0x2,dl_dst=fa:16:3e:dd:c1:62 actions=mod_vlan_vid:1,NORMAL
              - priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL
              - priority=1 actions=drop
        underlay:
          interface: eth1
          address: 172.16.0.1/24
          neighbours: [{ip: 172.16.0.2, mac: "02:00:00:00:00:02"}]
        """

    func datapath(_ yaml: String = computeNode) throws -> Datapath {
        try SwitchConfiguration.parse(yaml: yaml).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
    }

    @Test func traceRefusalsAreTyped() throws {
        let dp = try datapath()
        let now = DatapathInstant(nanoseconds: 1_000_000_000)
        #expect(throws: Datapath.TraceError.unknownBridge("br-nosuch")) {
            _ = try dp.trace(flow: "in_port=1", bridge: "br-nosuch", now: now)
        }
        #expect(throws: Datapath.TraceError.missingInPort(flow: "dl_vlan=1")) {
            _ = try dp.trace(flow: "dl_vlan=1", bridge: "br-int", now: now)
        }
        #expect(throws: Datapath.TraceError.unknownPort(bridge: "br-int", ofport: 9)) {
            _ = try dp.trace(flow: "in_port=9", bridge: "br-int", now: now)
        }
        let syntax = try #require(throws: FlowSyntaxError.self) { _ = try FlowParser.parseSelector("in_port=1,dl_vlan=x") }
        do {
            _ = try dp.trace(flow: "in_port=1,dl_vlan=x", bridge: "br-int", now: now)
            Issue.record("trace accepted dl_vlan=x")
        } catch .flowSyntax(let error) {
            #expect(error == syntax)
            #expect(Datapath.TraceError.flowSyntax(error).description == syntax.description)
        } catch {
            Issue.record("expected the flow's syntax error, got \(error)")
        }
        #expect(Datapath.TraceError.unknownBridge("br-nosuch").description == "br-nosuch: no such bridge")
    }

    @Test func traceShowsTheReferenceDesignsFourCases() throws {
        let dp = try datapath()
        // 3: from patch-int with VLAN 1 → tunnel 2 (GRE on the underlay).
        let out = try dp.trace(flow: "in_port=1,dl_src=fa:16:3e:dd:c1:62,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.1.0.2,arp_tpa=10.1.0.3",
                               bridge: "br-int", now: DatapathInstant(nanoseconds: 1_000_000_000))
        #expect(out.steps.map(\.bridge) == ["br-int", "br-tun"])
        #expect(out.steps.last?.rule?.matchDescription == "priority=4,in_port=1,dl_vlan=1")
        #expect(out.outputs.map(\.port) == ["eth1"])
        let gre = try #require(out.outputs.first?.frame)
        #expect(gre.count == 60 + 4 + 42, "the VLAN-1 frame inside GRE with key 2")
        #expect(Array(gre[38..<42]) == [0, 0, 0, 2], "GRE key = tun_id 2")
        // 1: multicast from tunnel 2 → VLAN 1 to patch-int → the VM, untagged.
        let multicast = try dp.trace(flow: "in_port=2,tun_id=0x2,dl_dst=ff:ff:ff:ff:ff:ff", bridge: "br-tun", now: DatapathInstant(nanoseconds: 2_000_000_000))
        #expect(multicast.steps.first?.rule?.actionsDescription == "mod_vlan_vid:1,output:1")
        #expect(multicast.outputs.map(\.port) == ["qvo-vm1"])
        #expect(multicast.outputs.first?.frame.count == 60)
        // 2: unicast from tunnel 2 to the local VM's MAC → VLAN 1, NORMAL (learned above).
        let unicast = try dp.trace(flow: "in_port=2,tun_id=0x2,dl_dst=fa:16:3e:dd:c1:62", bridge: "br-tun", now: DatapathInstant(nanoseconds: 3_000_000_000))
        #expect(unicast.steps.first?.rule?.actionsDescription == "mod_vlan_vid:1,NORMAL")
        #expect(unicast.outputs.map(\.port) == ["qvo-vm1"])
        // 4: everything else dropped.
        let other = try dp.trace(flow: "in_port=2,tun_id=0x3,dl_dst=ff:ff:ff:ff:ff:ff", bridge: "br-tun", now: DatapathInstant(nanoseconds: 4_000_000_000))
        #expect(other.outputs.isEmpty)
        #expect(other.drops.map(\.reason) == [.flowDrop])
        #expect(other.description.contains("priority=1\n    drop"))
    }

    @Test func dumpFlowsCountsAndParsesBack() throws {
        let dp = try datapath()
        for i in 0..<3 { _ = try dp.trace(flow: "in_port=2,tun_id=0x2,dl_dst=01:00:5e:00:00:0\(i)", bridge: "br-tun", now: DatapathInstant(nanoseconds: 1_000_000_000)) }
        _ = try dp.trace(flow: "in_port=2,tun_id=0x9", bridge: "br-tun", now: DatapathInstant(nanoseconds: 2_500_000_000))
        let lines = try dp.flowStatistics(bridge: "br-tun", now: DatapathInstant(nanoseconds: 4_000_000_000)).map(\.description)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix(" cookie=0x0, duration=4s, table=0, n_packets=0, n_bytes=0, idle_age=4, priority=4,in_port=1,dl_vlan=1 actions="))
        #expect(lines[1].contains("n_packets=3, n_bytes=180, idle_age=3, priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"),
                "\(lines[1])")
        #expect(lines[3].contains("n_packets=1, n_bytes=60, idle_age=1, priority=1 actions=drop"), "\(lines[3])")
        // Each line, stats removed, parses back to the same flow.
        let flows = dp.flows(bridge: "br-tun").map(\.rule)
        for line in lines {
            let text = line.split(separator: ",").drop { !$0.contains("idle_age") }.dropFirst().joined(separator: ",")
            let rule = try FlowParser.parse(String(text).trimmingCharacters(in: .whitespaces))
            #expect(flows.contains(rule), "\(text)")
        }
    }

    /// The reference design's VLAN mode: local VLAN 1 inside br-int ↔ provider VLAN 101 on the wire,
    /// translated by flows on the int-br-eth1 / phy-br-eth1 pair.
    static let vlanNode = """
        bridges:
          - name: br-int
            ports:
              - {name: qvo-vm1, tag: 1}
              - {name: int-br-eth1, type: patch, options: {peer: phy-br-eth1}}
            flows:
              - priority=3,in_port=2,dl_vlan=101 actions=mod_vlan_vid:1,NORMAL
              - priority=2,in_port=2 actions=drop
              - priority=1 actions=NORMAL
          - name: br-eth1
            ports:
              - {name: phy-br-eth1, type: patch, options: {peer: int-br-eth1}}
              - {name: eth1}
            flows:
              - priority=4,in_port=1,dl_vlan=1 actions=mod_vlan_vid:101,NORMAL
              - priority=2,in_port=1 actions=drop
              - priority=1 actions=NORMAL
        """

    @Test func vlanModeTranslatesLocalToProviderTagsBothWays() throws {
        let dp = try datapath(Self.vlanNode)
        let vm = dp.port(named: "qvo-vm1")!, eth1 = dp.port(named: "eth1")!
        let fromVM = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:01")!, destination: .broadcast)
            .ipv4(source: IPv4Address(10, 1, 0, 2), destination: IPv4Address(10, 1, 0, 255)).udp(sourcePort: 68, destinationPort: 67).build()
        dp.inject(fromVM, into: vm, now: DatapathInstant(nanoseconds: 1))
        let onWire = dp.drainTransmitted(eth1)
        #expect(onWire.count == 1)
        #expect(onWire.first.map { Array($0[12..<16]) } == [0x81, 0x00, 0x00, 101], "provider tag 101 on eth1")
        // The answer comes back tagged 101 and reaches the VM untagged.
        let reply = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:99")!, destination: MACAddress("fa:16:3e:00:00:01")!)
            .vlan(vid: 101).ipv4(source: IPv4Address(10, 1, 0, 3), destination: IPv4Address(10, 1, 0, 2)).udp(sourcePort: 67, destinationPort: 68).build()
        dp.inject(reply, into: eth1, now: DatapathInstant(nanoseconds: 2))
        let toVM = dp.drainTransmitted(vm)
        #expect(toVM.count == 1)
        #expect(toVM.first.map { Array($0[12..<14]) } == [0x08, 0x00], "untagged at the VM")
        // Another provider VLAN does not get in.
        dp.inject(FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:98")!, destination: .broadcast).vlan(vid: 102)
            .payload(count: 46).build(), into: eth1, now: DatapathInstant(nanoseconds: 3))
        #expect(dp.drainTransmitted(vm).isEmpty)
        #expect(dp.port(named: "int-br-eth1")!.stats.drops[.flowDrop] == 1)
    }

    @Test func flowCommandsOverTheControlSocket() throws {
        let dp = try datapath()
        func run(_ command: String, _ args: [String]) -> ControlSocket.Reply {
            SwitchControl.handle(.init(command: command, arguments: args), datapath: dp, now: DatapathInstant(nanoseconds: 5_000_000_000))
        }
        #expect(run("add-flow", ["br-tun", "priority=5,in_port=2,tun_id=0x7 actions=output:1"]).ok)
        #expect(run("dump-flows", ["br-tun"]).output.contains("priority=5,tun_id=0x7,in_port=2 actions=output:1")
                || run("dump-flows", ["br-tun"]).output.contains("priority=5,in_port=2,tun_id=0x7 actions=output:1"))
        #expect(run("mod-flows", ["br-tun", "tun_id=0x7 actions=drop"]).output == "modified 1 flow\n")
        #expect(run("del-flows", ["br-tun", "priority=5,in_port=2,tun_id=0x7", "--strict"]).output == "deleted 1 flow\n")
        #expect(run("del-flows", ["br-tun", "tun_id=0x2"]).output == "deleted 2 flows\n", "loose: both tun_id=0x2 flows")
        let bad = run("add-flow", ["br-tun", "priority=3,tun_id=zz actions=drop"])
        #expect(!bad.ok && bad.output.contains("column"), "\(bad.output)")
        #expect(run("dump-flows", ["br-nope"]).output == "br-nope: no such bridge")
        #expect(!run("add-flow", ["br-tun", "actions=output:9"]).ok, "no OpenFlow port 9")
        #expect(run("trace", ["br-tun", "in_port=2,tun_id=0x3"]).output.contains("drop"))
    }
}
