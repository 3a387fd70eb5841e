#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Testing
import XDPDatapath
import XDPPacket

extension AFXDPIntegrationTests {
/// Our vxlan port against Linux's own VXLAN device on veth: the far tunnel endpoint is a
/// namespace with `ip link add … type vxlan id 42 dstport 4789` (which checks our frames as
/// `vxlan_rcv` does and sends UDP-checksummed ones back), the near one our engine.
///
/// ```
///  ns a: eth0 10.x.0.1 ── <p>a ─ engine (br-int tag 1 ═ br-tun, vxlan port) ─ <p>u ── eth0 172.31.x.2 :ns k
///                                                                                    vx0 10.x.0.2 (VNI 42)
/// ```
@Suite("VXLAN against Linux's vxlan device")
struct VXLANInteropIntegrationTests {
    @Test func aVMPingsAcrossToLinuxAndTheWireShowsVNI42() throws {
        let net = 94
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.\(net).0.1", mac: "02:00:00:\(net):00:01")
        let k = try topo.lab.addNamespace("k")
        let underlay = try topo.lab.addHost(namespace: k, switchSide: "u", address: "172.31.\(net).2/24")
        for command in [["link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789", "local", "172.31.\(net).2",
                         "remote", "172.31.\(net).1", "dev", "eth0"],
                        ["link", "set", "vx0", "address", "02:00:00:\(net):00:02"],
                        ["addr", "add", "10.\(net).0.2/24", "dev", "vx0"], ["link", "set", "vx0", "up"]] {
            try Shell.check(["ip", "-n", k] + command)
        }
        // br-tun as Neutron's tables do it in one step each way: VLAN 1 → untagged, VNI 42.
        let configuration = DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: topo.port("a"), tag: 1),
                PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
            ]),
            BridgeConfiguration(name: "br-tun", ports: [
                PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun"), ofport: 1),
                PortConfiguration(name: "vxlan-ac1f5e02", type: .vxlan(VXLANOptions(remoteIP: IPv4Address("172.31.\(net).2")!, key: .flow)),
                                  ofport: 2),
            ], flows: [
                "priority=4,in_port=1,dl_vlan=1 actions=strip_vlan,set_tunnel:42,output:2",
                "priority=3,in_port=2,tun_id=42 actions=mod_vlan_vid:1,output:1",
                "priority=1 actions=drop",
            ]),
        ], underlay: UnderlayConfiguration(interface: underlay, address: IPv4Address("172.31.\(net).1")!, prefixLength: 24))
        let engine = try AFXDPEngine(configuration: configuration)
        defer { engine.close() }
        try engine.start()

        let log = "/tmp/\(topo.lab.prefix)-vxlan.txt"
        defer { Shell.run(["rm", "-f", log]) }
        let capture = try Shell.spawn(["ip", "netns", "exec", k, "timeout", "20", "tcpdump", "-n", "-l", "-i", "eth0", "-c", "4",
                                       "udp port 4789"], logPath: log)
        usleep(1_000_000)  // let tcpdump open the socket

        let small = topo.lab.run(in: topo.namespace("a"), ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", "10.\(net).0.2"])
        #expect(small.succeeded, "\(small.output)")
        // 1422 + 28 = 1450 bytes of IP: the largest that fits VXLAN over a 1500-byte underlay.
        let large = topo.lab.run(in: topo.namespace("a"), ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2", "-s", "1422", "-M", "do",
                                                           "10.\(net).0.2"])
        #expect(large.succeeded, "\(large.output)")
        let tooBig = topo.lab.run(in: topo.namespace("a"), ["ping", "-n", "-c", "2", "-i", "0.3", "-W", "1", "-s", "1423", "-M", "do",
                                                            "10.\(net).0.2"])
        #expect(tooBig.output.contains("mtu = 1450"), "ICMP fragmentation-needed with MTU 1450: \(tooBig.output)")

        let status = Shell.wait(capture)
        let dump = Shell.run(["cat", log]).output
        #expect(status == 0, "tcpdump: \(dump)")
        #expect(dump.contains("VXLAN, flags [I] (0x08), vni 42"), "\(dump)")
        #expect(dump.contains("172.31.\(net).1."), "ours: \(dump)")

        engine.stop()
        #expect(engine.statistics().frames.isBalanced)
        let vxlan = try #require(engine.perform { datapath, _ in datapath.port(named: "vxlan-ac1f5e02")?.stats } ?? nil)
        #expect(vxlan.rxPackets >= 5 && vxlan.txPackets >= 5, "Linux's checksummed VXLAN came in, ours went out")
        let wire = try #require(engine.perform { datapath, _ in datapath.port(named: underlay)?.stats } ?? nil)
        #expect((wire.drops[.vxlanMalformed] ?? 0) == 0 && (wire.drops[.vxlanBadFlags] ?? 0) == 0, "\(wire.drops)")
    }
}
}
