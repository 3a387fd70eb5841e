#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Testing
import XDPDatapath
import XDPPacket

/// Two compute nodes of the reference design's GRE mode in one process: two engines, each with
/// br-int (an access port to a VM namespace) ↔ patch ↔ br-tun (a gre port) over its own
/// underlay veth. The two underlay veths meet on a Linux bridge in a "wire" namespace,
/// where tcpdump watches the tunnel.
///
/// ```
///  ns a: eth0 10.x.0.1 ── <p>a ─ engine 1 ─ <p>u1 ── u1p ┐
///                                                        br0 (ns w)
///  ns b: eth0 10.x.0.2 ── <p>b ─ engine 2 ─ <p>u2 ── u2p ┘
/// ```
final class TwoNodeGRE {
    let topo = Topology()
    let wire: String
    let underlay1: String, underlay2: String
    var engines: [AFXDPEngine] = []
    let key: UInt32
    let net: Int
    /// br-tun runs the reference design's flows (tunnel `key` ↔ local VLAN 1) instead of NORMAL.
    let referenceFlows: Bool

    /// `net` picks the addresses (10.net.0.0/24 for VMs, 172.31.net.0/24 for the underlay).
    init(net: Int, key: UInt32, referenceFlows: Bool = false) throws {
        self.net = net
        self.key = key
        self.referenceFlows = referenceFlows
        try topo.addHost("a", ip: "10.\(net).0.1", mac: "02:00:00:\(net):00:01")
        try topo.addHost("b", ip: "10.\(net).0.2", mac: "02:00:00:\(net):00:02")
        wire = try topo.lab.addNamespace("w")
        underlay1 = try topo.lab.addHost(namespace: wire, switchSide: "u1", hostSide: "u1p")
        underlay2 = try topo.lab.addHost(namespace: wire, switchSide: "u2", hostSide: "u2p")
        for command in [["link", "add", "br0", "type", "bridge"], ["link", "set", "u1p", "master", "br0"],
                        ["link", "set", "u2p", "master", "br0"]] {
            try Shell.check(["ip", "-n", wire] + command)
        }
        // No IPv6 on the bridge: its router solicitations and MLD reports would reach both
        // underlays, at moments no test chooses, among the frames the tests count.
        try Shell.check(["ip", "netns", "exec", wire, "sysctl", "-qw", "net.ipv6.conf.br0.disable_ipv6=1"])
        try Shell.check(["ip", "-n", wire, "link", "set", "br0", "up"])
    }

    func configuration(node: Int) -> DatapathConfiguration {
        let (vm, underlay, remote) = node == 1 ? (topo.port("a"), underlay1, 2) : (topo.port("b"), underlay2, 1)
        let vmMAC = "02:00:00:\(net):00:0\(node)"
        // The reference design's br-tun dump, with this node's VM MAC and the test's tunnel id.
        let flows = referenceFlows ? [
            "priority=3,tun_id=\(key),dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
            "priority=3,tun_id=\(key),dl_dst=\(vmMAC) actions=mod_vlan_vid:1,NORMAL",
            "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:\(key),NORMAL",
            "priority=1 actions=drop",
        ] : []
        return DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: vm, tag: 1),
                PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
            ]),
            BridgeConfiguration(name: "br-tun", ports: [
                PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun")),
                PortConfiguration(name: "gre-node\(remote)", type: .gre(GREOptions(remoteIP: IPv4Address("172.31.\(net).\(remote)")!,
                                                                                  key: referenceFlows ? .flow : .fixed(key)))),
            ], flows: flows),
        ], underlay: UnderlayConfiguration(interface: underlay, address: IPv4Address("172.31.\(net).\(node)")!, prefixLength: 24))
    }

    func start(options: EngineConfiguration = EngineConfiguration()) throws {
        for node in [1, 2] {
            let engine = try AFXDPEngine(configuration: configuration(node: node), options: options)
            engines.append(engine)
            try engine.start()
        }
    }

    /// Stops and detaches the engines, then removes every namespace and veth.
    func tearDown() {
        for engine in engines { engine.close() }
        topo.tearDown()
    }
}

extension AFXDPIntegrationTests {
@Suite("GRE tunnel between two engines on veth")
struct GRETunnelIntegrationTests {
    @Test func referenceFlowsCarryVLAN1OverTunnel2BetweenNodes() throws {
        let nodes = try TwoNodeGRE(net: 95, key: 2, referenceFlows: true)
        defer { nodes.tearDown() }
        try nodes.start()
        let ping = nodes.topo.ping("a", "b", count: 4)
        #expect(ping.succeeded, "\(ping.output)")
        var multicastIn = 0
        for engine in nodes.engines {
            let dump = engine.perform { datapath, now in (try? datapath.flowStatistics(bridge: "br-tun", now: now).map(\.description)) ?? [] } ?? []
            #expect(dump.count == 4)
            func packets(_ match: String) -> Int {
                guard let line = dump.first(where: { $0.contains(match) }),
                      let field = line.split(separator: ",").first(where: { $0.contains("n_packets=") }) else { return -1 }
                return Int(field.split(separator: "=")[1]) ?? -1
            }
            // Out of the VM: flow 3 (ARP and pings); into it: flow 2 (unicast), and on the
            // answering node flow 1 (the broadcast ARP request).
            #expect(packets("in_port=1,dl_vlan=1") >= 5, "\(dump)")
            multicastIn += packets("dl_dst=01:00:00:00:00:00/01:00:00:00:00:00")
            #expect(packets("tun_id=0x2,dl_dst=02:00:00") >= 4, "\(dump)")
            #expect(packets("priority=1 actions=drop") == 0, "\(dump)")
            #expect(engine.statistics().frames.isBalanced)
        }
        #expect(multicastIn >= 1, "the first ARP request arrives as a tunnelled broadcast")
    }

    @Test func vmsPingAcrossTheTunnelAndTheWireShowsKeyedGRE() throws {
        let nodes = try TwoNodeGRE(net: 97, key: 0x2A)
        defer { nodes.tearDown() }
        try nodes.start()
        // No mac in the configuration: each engine speaks with its interface's MAC.
        let mac1 = try NetworkInterface.macAddress(of: nodes.underlay1)
        #expect(nodes.engines[0].perform { datapath, _ in datapath.underlay?.mac } == MACAddress(rawValue: mac1))

        let log = "/tmp/\(nodes.topo.lab.prefix)-gre.pcap.txt"
        defer { Shell.run(["rm", "-f", log]) }
        let capture = try Shell.spawn(["ip", "netns", "exec", nodes.wire, "timeout", "20", "tcpdump", "-n", "-e", "-l",
                                       "-i", "br0", "-c", "4", "ip proto 47"], logPath: log)
        usleep(1_000_000)  // let tcpdump open the socket

        let small = nodes.topo.ping("a", "b", count: 3)
        #expect(small.succeeded, "\(small.output)")
        let large = nodes.topo.ping("a", "b", count: 3, size: 1400, dontFragment: true)
        #expect(large.succeeded, "\(large.output)")
        let back = nodes.topo.ping("b", "a", count: 2, size: 1400, dontFragment: true)
        #expect(back.succeeded, "\(back.output)")

        let status = Shell.wait(capture)
        let dump = Shell.run(["cat", log]).output
        #expect(status == 0, "tcpdump: \(dump)")
        #expect(dump.contains("GREv0, key=0x2a"), "\(dump)")
        #expect(dump.contains("172.31.97.1 > 172.31.97.2") && dump.contains("172.31.97.2 > 172.31.97.1"), "\(dump)")
        #expect(dump.contains("10.97.0.1 > 10.97.0.2"), "the VM packet inside: \(dump)")

        for engine in nodes.engines {
            engine.stop()
            let stats = engine.statistics()
            #expect(stats.frames.isBalanced, "\(stats.frames)")
            let underlay = try #require(engine.perform { datapath, _ in
                datapath.underlay.map { (neighbours: $0.neighbourTable.count, pending: $0.pendingCount) }
            } ?? nil)
            #expect(underlay.neighbours == 1, "learned the other node")
            #expect(underlay.pending == 0)
        }
        // Node 1 asked for node 2's underlay MAC (node 2 learned node 1 from that request).
        #expect(nodes.engines[0].perform { datapath, _ in datapath.underlay?.arpRequests } == 1)
        #expect(nodes.engines[1].perform { datapath, _ in datapath.underlay?.arpReplies } == 1)
    }

    @Test func tcpTransferCrossesTheTunnelWithPathMTUDiscovery() throws {
        let nodes = try TwoNodeGRE(net: 98, key: 7)
        defer { nodes.tearDown() }
        try nodes.start()
        let dir = "/tmp/\(nodes.topo.lab.prefix)-gre-tcp"
        try Shell.check(["mkdir", "-p", dir])
        defer { Shell.run(["rm", "-rf", dir]) }
        try Shell.check(["dd", "if=/dev/urandom", "of=\(dir)/in", "bs=1M", "count=4", "status=none"])
        // The VMs keep MTU 1500: b's full-size segments (DF) do not fit the 1500-byte
        // underlay once encapsulated; the switch tells b so, and TCP carries on smaller.
        let script = """
            ip netns exec \(nodes.topo.namespace("a")) timeout 60 nc -l -N 10.98.0.1 5202 > \(dir)/out 2>/dev/null &
            sleep 0.5
            ip netns exec \(nodes.topo.namespace("b")) timeout 60 nc -N 10.98.0.1 5202 < \(dir)/in
            wait
            """
        let transfer = Shell.run(["sh", "-c", script])
        #expect(transfer.succeeded, "\(transfer.output)")
        let sums = Shell.run(["sh", "-c", "sha256sum \(dir)/in \(dir)/out | cut -d' ' -f1"]).output.split(separator: "\n")
        #expect(sums.count == 2 && sums[0] == sums[1], "checksums differ: \(sums)")

        // Now a probe from a: the answer names the MTU (ping -M do prints it).
        let probe = nodes.topo.lab.run(in: nodes.topo.namespace("a"),
                                       ["ping", "-n", "-c", "2", "-i", "0.3", "-W", "1", "-s", "1472", "-M", "do", "10.98.0.2"])
        #expect(!probe.succeeded)
        #expect(probe.output.contains("mtu = 1454"), "ICMP fragmentation-needed with MTU 1454: \(probe.output)")

        for engine in nodes.engines { engine.stop() }
        for engine in nodes.engines {
            let stats = engine.statistics()
            #expect(stats.frames.isBalanced, "\(stats.frames)")
        }
        let gre1 = nodes.engines[0].perform { datapath, _ in datapath.port(named: "gre-node2")?.stats } ?? nil
        let gre2 = nodes.engines[1].perform { datapath, _ in datapath.port(named: "gre-node1")?.stats } ?? nil
        #expect((gre1?.drops[.tunnelMTUExceeded] ?? 0) >= 1, "a's probe")
        #expect((gre2?.drops[.tunnelMTUExceeded] ?? 0) >= 1, "b's full-size segments")
        #expect((nodes.engines[1].perform { datapath, _ in datapath.underlay?.pathMTUErrors ?? 0 } ?? 0) >= 1)
        #expect((gre2?.txPackets ?? 0) > 2000, "4 MB in segments of at most 1402 bytes")
    }
}
}
