#if canImport(Glibc)
import Glibc
#endif
@testable import AFXDP
import XDPControl
import Foundation
import Testing
import XDPDatapath
import XDPLab

extension AFXDPIntegrationTests {
/// The in-kernel fast path (`EngineConfiguration.fastPath`) between namespaces on veths.
/// The namespace ends get GRO on (`Topology.acceptRedirects`).
@Suite("AF_XDP engine with the in-kernel fast path")
struct FastPathLiveTests {
    static func fastPathEngine(_ topo: Topology, _ hosts: [String], tag: UInt16) throws -> AFXDPEngine {
        try topo.acceptRedirects(hosts)
        var options = EngineConfiguration()
        options.fastPath = true
        return try AFXDPEngine(configuration: bridge(hosts.map { (topo.port($0), tag) }), options: options)
    }

    /// Frames the engine's sockets received on `port` (the slow path's share).
    static func socketRX(_ engine: AFXDPEngine, _ port: String) -> UInt64 {
        engine.statistics().interface(port)?.rxPackets ?? 0
    }

    @Test func afterTheFirstPacketsTheKernelCarriesAPing() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.81.0.1", mac: "02:00:00:81:00:01")
        try topo.addHost("b", ip: "10.81.0.2", mac: "02:00:00:81:00:02")
        let engine = try Self.fastPathEngine(topo, ["a", "b"], tag: 10)
        defer { engine.close() }
        try engine.start()

        let warm = topo.ping("a", "b", count: 2)
        #expect(warm.succeeded, "\(warm.output)")
        let before = engine.statistics()
        #expect(before.fastPathEntries == 2, "\(before.fastPathEntries) entries")
        let portsBefore = before.datapathPorts[topo.port("a")]!
        let rxBefore = before.interface(topo.port("a"))!.rxPackets

        let carried = topo.lab.run(in: topo.namespace("a"), ["ping", "-n", "-q", "-c", "20", "-i", "0.02", "-W", "2", "10.81.0.2"])
        #expect(carried.succeeded, "\(carried.output)")
        let after = engine.statistics()
        // 20 requests and 20 replies by the kernel; the sockets saw at most an ARP refresh.
        #expect(after.fastPathPackets - before.fastPathPackets >= 40, "\(after.fastPathPackets)")
        #expect(after.interface(topo.port("a"))!.rxPackets - rxBefore <= 2)
        // The datapath's port counters include what the kernel carried.
        let portsAfter = after.datapathPorts[topo.port("a")]!
        #expect(portsAfter.rxPackets - portsBefore.rxPackets >= 20)
        #expect(portsAfter.txPackets - portsBefore.txPackets >= 20)
        #expect(after.frames.isBalanced, "\(after.frames)")

        let dump = engine.perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
        let lines = dump.split(separator: "\n")
        #expect(lines.count == 2, "\(dump)")
        #expect(lines.contains { $0.contains("in_port(\(topo.port("a")))") && $0.contains("dst=02:00:00:81:00:02")
            && $0.contains("actions:\(topo.port("b"))") }, "\(dump)")
    }

    @Test func aFlowThatDropsTakesEffectOnTheNextPacket() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.82.0.1", mac: "02:00:00:82:00:01")
        try topo.addHost("b", ip: "10.82.0.2", mac: "02:00:00:82:00:02")
        let engine = try Self.fastPathEngine(topo, ["a", "b"], tag: 11)
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 3).succeeded)
        #expect(engine.statistics().fastPathEntries == 2)

        let added: String? = engine.perform { datapath, now in
            do {
                try datapath.addFlow(FlowParser.parse("priority=10,icmp,actions=drop"), bridge: "br-int", now: now)
                return nil
            } catch { return "\(error)" }
        } ?? "no datapath"
        #expect(added == nil, "\(added ?? "")")
        #expect(engine.statistics().fastPathEntries == 0)
        let blocked = topo.ping("a", "b", count: 1, timeout: 1)
        #expect(!blocked.succeeded, "\(blocked.output)")
        let counted = engine.perform { datapath, now in (try? datapath.flowStatistics(bridge: "br-int", now: now).map(\.description)) ?? [] } ?? []
        #expect(counted.contains { $0.contains("actions=drop") && $0.contains("n_packets=1,") }, "\(counted)")
    }

    @Test func aMACMoveTakesEffectOnTheNextPacket() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.83.0.1", mac: "02:00:00:83:00:01")
        try topo.addHost("b", ip: "10.83.0.2", mac: "02:00:00:83:00:02")
        try topo.addHost("c", ip: "10.83.0.3", mac: "02:00:00:83:00:03")
        let engine = try Self.fastPathEngine(topo, ["a", "b", "c"], tag: 3)
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 3).succeeded)
        #expect(engine.statistics().fastPathEntries == 2)

        // The "VM" behind port a moves behind port c: same MAC and IP, old link down.
        try Shell.check(["ip", "-n", topo.namespace("a"), "link", "set", "eth0", "down"])
        let c = topo.namespace("c")
        try Shell.check(["ip", "-n", c, "link", "set", "eth0", "down"])
        try Shell.check(["ip", "-n", c, "link", "set", "eth0", "address", "02:00:00:83:00:01"])
        try Shell.check(["ip", "-n", c, "addr", "flush", "dev", "eth0"])
        try Shell.check(["ip", "-n", c, "addr", "add", "10.83.0.1/24", "dev", "eth0"])
        try Shell.check(["ip", "-n", c, "link", "set", "eth0", "up"])
        // b still has the moved MAC in its ARP cache: its replies are unicast to it, and the
        // entry b → a that the kernel held must not send them to a any more.
        let moved = topo.lab.run(in: c, ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", "10.83.0.2"])
        #expect(moved.succeeded, "\(moved.output)")
        let stats = engine.statistics()
        #expect((stats.datapathPorts[topo.port("c")]?.macMoves ?? 0) >= 1)
        let dump = engine.perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
        #expect(!dump.contains("actions:\(topo.port("a"))"), "\(dump)")
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }
}
}

extension AFXDPIntegrationTests.FastPathLiveTests {
    /// Without GRO on the namespace ends, the veths cannot take redirected frames: no entry
    /// is installed and the slow path carries everything, so nothing is lost.
    @Test func noEntryTowardAnInterfaceThatCannotTakeRedirects() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.84.0.1", mac: "02:00:00:84:00:01", acceptsRedirects: false)
        try topo.addHost("b", ip: "10.84.0.2", mac: "02:00:00:84:00:02", acceptsRedirects: false)
        var options = EngineConfiguration()
        options.fastPath = true
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 12), (topo.port("b"), 12)]), options: options)
        defer { engine.close() }
        try engine.start()
        let result = topo.ping("a", "b", count: 5)
        #expect(result.succeeded, "\(result.output)")
        let stats = engine.statistics()
        #expect(stats.fastPathEntries == 0)
        #expect(stats.interface(topo.port("a"))!.rxPackets >= 5)

        // GRO on b's end: b's veth takes redirects, so a → b is cached, b → a is not.
        try topo.acceptRedirects(["b"])
        usleep(1_100_000)  // the engine asks again after a second
        #expect(topo.ping("a", "b", count: 3).succeeded)
        let dump = engine.perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
        #expect(dump.split(separator: "\n").count == 1 && dump.contains("actions:\(topo.port("b"))"), "\(dump)")
    }

    /// IPv6 is learned unicast like IPv4: after the first echo request and reply the kernel
    /// carries the rest both ways (neighbour discovery's multicast stays on the slow path),
    /// and the datapath's port counters count them.
    @Test func ipv6EchoesAreCarriedAsLearnedUnicast() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.78.0.1", mac: "02:00:00:78:00:01")
        try topo.addHost("b", ip: "10.78.0.2", mac: "02:00:00:78:00:02")
        let engine = try Self.fastPathEngine(topo, ["a", "b"], tag: 11)
        defer { engine.close() }
        try engine.start()
        for (host, address) in [("a", "fd00:78::1"), ("b", "fd00:78::2")] {
            let namespace = topo.namespace(host)
            try Shell.check(["ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0"])
            try Shell.check(["ip", "-n", namespace, "-6", "addr", "add", "\(address)/64", "dev", "eth0", "nodad"])
        }
        let ping = topo.lab.run(in: topo.namespace("a"), ["ping", "-6", "-n", "-q", "-c", "20", "-i", "0.05", "-W", "2", "fd00:78::2"])
        #expect(ping.succeeded, "\(ping.output)")
        let stats = engine.statistics()
        #expect(stats.fastPathPackets >= 30, "the kernel carried \(stats.fastPathPackets) of the 40 echo frames")
        #expect(stats.interface(topo.port("a"))!.fastPathRxPackets >= 15 && stats.interface(topo.port("b"))!.fastPathRxPackets >= 15,
                "\(stats.interfaces)")
        let b = try #require(stats.datapathPorts[topo.port("b")])
        #expect(b.txPackets >= 20 && b.rxPackets >= 20, "the port counters include the kernel's: \(b)")
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    @Test func tcpTransferOfTwelveMegabytesArrivesIntactThroughTheFastPath() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.85.0.1", mac: "02:00:00:85:00:01")
        try topo.addHost("b", ip: "10.85.0.2", mac: "02:00:00:85:00:02")
        let engine = try Self.fastPathEngine(topo, ["a", "b"], tag: 7)
        defer { engine.close() }
        try engine.start()
        let problems = try topo.transferTwelveMegabytes("a", "b")
        #expect(problems.isEmpty, "\(problems)")
        let stats = engine.statistics()
        // Most of the transfer's frames went by the kernel, and the interfaces count them:
        // each in by one and out by the other.
        let (a, b) = (stats.interface(topo.port("a"))!, stats.interface(topo.port("b"))!)
        #expect(stats.fastPathPackets > a.rxPackets, "\(stats.fastPathPackets)")
        #expect(a.fastPathRxPackets + b.fastPathRxPackets == stats.fastPathPackets, "\(a) \(b)")
        #expect(a.fastPathTxPackets + b.fastPathTxPackets == stats.fastPathPackets, "\(a) \(b)")
        #expect(a.fastPathRxPackets == b.fastPathTxPackets && b.fastPathRxPackets == a.fastPathTxPackets, "\(a) \(b)")
        #expect(a.fastPathRxPackets > 0 && b.fastPathRxPackets > 0, "\(a) \(b)")
        #expect(a.fastPathRxBytes == b.fastPathTxBytes && a.fastPathRxBytes > a.fastPathRxPackets * 60, "\(a) \(b)")
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    /// A reconfiguration that moves b to another VLAN removes every entry before the new
    /// datapath takes over: the kernel must not carry a → b any more.
    /// Two nodes of the GRE mode (TwoNodeGRE: br-int ↔ br-tun, NORMAL, a keyed gre port):
    /// once each node knows the other VM's MAC, the kernel of each node encapsulates its
    /// VM's echoes into the tunnel and takes the other's out of it (every end takes
    /// redirects: GRO on); the datapaths count them on the underlays, and `dump-fastpath`
    /// shows the push and the tunnel the inner frames enter by. A reconfiguration empties
    /// `fp_tunnels`, and the tunnel comes back under the same id.
    @Test func theKernelCarriesAPingIntoAndOutOfTheTunnel() async throws {
        let nodes = try TwoNodeGRE(net: 94, key: 0x5)
        defer { nodes.tearDown() }
        for end in ["u1p", "u2p"] { try Shell.check(["ip", "netns", "exec", nodes.wire, "ethtool", "-K", end, "gro", "on"]) }
        try nodes.topo.acceptRedirects(["a", "b"])
        var options = EngineConfiguration()
        options.fastPath = true
        try nodes.start(options: options)
        let warm = nodes.topo.ping("a", "b", count: 2)
        #expect(warm.succeeded, "\(warm.output)")
        let before = nodes.engines.map { $0.statistics() }
        let carried = nodes.topo.lab.run(in: nodes.topo.namespace("a"), ["ping", "-n", "-q", "-c", "20", "-i", "0.02", "-W", "2", "10.94.0.2"])
        #expect(carried.succeeded, "\(carried.output)")
        let after = nodes.engines.map { $0.statistics() }
        for node in 0..<2 {
            // Each node's kernel encapsulated 20 echoes and decapsulated 20; the underlay's
            // counters (the datapath's) include them, its socket saw at most an ARP refresh.
            #expect(after[node].fastPathPackets - before[node].fastPathPackets >= 40, "node \(node + 1): \(after[node].fastPathPackets)")
            let underlay = node == 0 ? nodes.underlay1 : nodes.underlay2
            let (p, q) = (before[node].datapathPorts[underlay]!, after[node].datapathPorts[underlay]!)
            #expect(q.txPackets - p.txPackets >= 20 && q.rxPackets - p.rxPackets >= 20, "node \(node + 1) underlay \(p) → \(q)")
            let socketRX = after[node].interface(underlay)!.rxPackets - before[node].interface(underlay)!.rxPackets
            #expect(socketRX <= 2, "node \(node + 1): the underlay's socket received \(socketRX)")
            #expect(after[node].frames.isBalanced, "\(after[node].frames)")
        }
        let dump = await nodes.engines[0].perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
        #expect(dump.contains("tnl_push(tnl_port(gre-node2),header(size=42,type=gre,") && dump.contains("gre(key=0x5)")
            && dump.contains("actions:") && dump.contains(nodes.underlay1), "\(dump)")
        #expect(dump.contains("tunnel(tun_id=0x5,src=172.31.94.2),in_port(gre-node2)"), "\(dump)")

        // One tunnel in each node's `fp_tunnels`, under the first id. A reconfiguration
        // removes it with the entries; the next decisions install it again under the same id.
        for engine in nodes.engines {
            #expect(engine.steering.fastPath.kernelTunnels().map(\.id) == [FastPathMaps.firstTunnelID])
        }
        _ = try await nodes.engines[0].reconfigure(to: nodes.configuration(node: 1))
        #expect(nodes.engines[0].statistics().fastPathEntries == 0)
        #expect(nodes.engines[0].steering.fastPath.kernelTunnels().isEmpty)
        #expect(nodes.topo.ping("a", "b", count: 3).succeeded)
        #expect(nodes.engines[0].steering.fastPath.kernelTunnels().map(\.id) == [FastPathMaps.firstTunnelID])
        let again = await nodes.engines[0].perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
        #expect(again.contains("tunnel(tun_id=0x5,src=172.31.94.2),in_port(gre-node2)"), "\(again)")
    }

    @Test func aReconfigurationRemovesEveryEntryFirst() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.87.0.1", mac: "02:00:00:87:00:01")
        try topo.addHost("b", ip: "10.87.0.2", mac: "02:00:00:87:00:02")
        let engine = try Self.fastPathEngine(topo, ["a", "b"], tag: 10)
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 3).succeeded)
        #expect(engine.statistics().fastPathEntries == 2)
        let before = engine.statistics().fastPathPackets

        _ = try await engine.reconfigure(to: bridge([(topo.port("a"), 10), (topo.port("b"), 20)]))
        #expect(engine.statistics().fastPathEntries == 0)
        let isolated = topo.ping("a", "b", count: 2, timeout: 1)
        #expect(!isolated.succeeded, "\(isolated.output)")
        let after = engine.statistics()
        #expect(after.fastPathEntries == 0)
        #expect(after.fastPathPackets == before)
    }

    @Test func hostsOnDifferentTagsStayIsolated() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.86.0.1", mac: "02:00:00:86:00:01")
        try topo.addHost("b", ip: "10.86.0.2", mac: "02:00:00:86:00:02")
        try topo.addHost("c", ip: "10.86.0.3", mac: "02:00:00:86:00:03")
        try topo.acceptRedirects(["a", "b", "c"])
        var options = EngineConfiguration()
        options.fastPath = true
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 10), (topo.port("b"), 10), (topo.port("c"), 20)]),
                                options: options)
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 3).succeeded)
        #expect(!topo.ping("a", "c", count: 2, timeout: 1).succeeded)
        #expect(!topo.ping("c", "b", count: 2, timeout: 1).succeeded)
        let dump = engine.perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
        #expect(!dump.contains(topo.port("c")), "\(dump)")
        #expect(engine.statistics().frames.isBalanced)
    }
}
