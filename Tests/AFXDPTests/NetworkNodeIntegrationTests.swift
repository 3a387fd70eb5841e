#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Testing
import XDPDatapath
import XDPPacket

extension AFXDPIntegrationTests {
/// The network node's NAT corners over AF_XDP, on real kernels: an ICMP error about a
/// translated connection comes back translated (checked by tshark, checksums included);
/// two tenants with the same subnet behind two routers stay apart; a router whose SNAT
/// port range is used up drops new connections and counts them. Topology as in
/// `RouterNATIntegrationTests` (vm2 10.1.0.6 has no floating IP, ext 172.24.4.225/28).
@Suite("Network node NAT corners over AF_XDP")
struct NetworkNodeIntegrationTests {
    typealias Node = RouterNATIntegrationTests.Node

    /// Runs `script` with sh; background jobs are bounded by `timeout` (children inherit the
    /// test process's blocked signals, so each is also sent KILL 1 s after its TERM).
    static func sh(_ script: String) -> Shell.Result { Shell.run(["sh", "-c", script]) }

    /// The address a TCP connection from `client` to ext:port arrives from, as `ext` sees it.
    static func peerSeen(by ext: String, from client: String, port: Int) -> Shell.Result {
        let server = "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            + "s.bind(('172.24.4.225', \(port))); s.listen(1); s.settimeout(20); c, a = s.accept(); print(a[0]); c.close()"
        return sh("""
            ip netns exec \(ext) timeout -k 1 30 /usr/bin/python3 -c "\(server)" &
            sleep 0.7
            ip netns exec \(client) timeout -k 1 20 nc -N -w 5 172.24.4.225 \(port) < /dev/null
            wait
            """)
    }

    @Test func icmpPortUnreachableAboutASNATedFlowComesBackTranslated() throws {
        try Node.withEngine { node, engine in
            let dir = "/tmp/\(node.lab.prefix)-icmp"
            try Shell.check(["mkdir", "-p", dir])
            defer { Shell.run(["rm", "-rf", dir]) }

            // Capture the first ICMP packet vm2 receives, then send UDP from vm2:40123 to a closed
            // port on ext. ext answers port unreachable to 172.24.4.227; the router must turn it
            // back into an error to 10.1.0.6 quoting 10.1.0.6:40123, checksums recomputed.
            let client = "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.1.0.6', 40123)); "
                + "s.connect(('172.24.4.225', 33999)); s.settimeout(3); s.send(b'probe')\n"
                + "try:\n s.recv(100); print('answered')\nexcept ConnectionRefusedError: print('refused')\n"
                + "except socket.timeout: print('timeout')"
            let run = Self.sh("""
                ip netns exec \(node.vm2) timeout -k 1 15 tcpdump -Z root -U -n -i eth0 -c 1 -w \(dir)/vm2.pcap icmp > \(dir)/tcpdump.log 2>&1 &
                for i in $(seq 50); do grep -q 'listening on' \(dir)/tcpdump.log && break; sleep 0.1; done
                ip netns exec \(node.vm2) timeout -k 1 10 /usr/bin/python3 -c "\(client)"
                wait
                cat \(dir)/tcpdump.log
                """)
            #expect(run.output.contains("refused"), "vm2's socket saw no port unreachable: \(run.output)")

            let fields = ["-T", "fields", "-E", "separator=;", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type", "-e", "icmp.code",
                          "-e", "udp.srcport", "-e", "udp.dstport"]
            let checks = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
            let packets = Shell.run(["tshark", "-n", "-r", "\(dir)/vm2.pcap"] + checks + fields)
            let lines = packets.output.split(separator: "\n").filter { !$0.hasPrefix("Running as user") }
            // Outer then quoted IP addresses and ports, as tshark lists repeated fields.
            #expect(lines == ["172.24.4.225,10.1.0.6;10.1.0.6,172.24.4.225;3;3;40123;33999"],
                    "ICMP error seen in vm2: \(packets.output)")
            let bad = Shell.run(["tshark", "-n", "-r", "\(dir)/vm2.pcap"] + checks + [
                "-Y", "ip.checksum.status == 0 || icmp.checksum.status == 0 || udp.checksum.status == 0"])
            #expect(bad.succeeded && !bad.output.split(separator: "\n").contains { !$0.hasPrefix("Running as user") },
                    "tshark finds bad checksums: \(bad.output)")
            let good = Shell.run(["tshark", "-n", "-r", "\(dir)/vm2.pcap"] + checks + fields.prefix(4) + [
                "-e", "ip.checksum.status", "-e", "icmp.checksum.status", "-e", "udp.checksum.status"])
            // Status 1 is "Good": outer and quoted IP header, ICMP, and the quoted UDP checksum were all verified.
            #expect(good.output.split(separator: "\n").contains("1,1;1;1"),
                    "checksums verified good (outer+inner IP, ICMP, inner UDP): \(good.output)")

            let router = try #require(engine.perform { datapath, _ in datapath.routers[0].stats })
            #expect(router.drops[.natInvalid] == nil, "\(router.drops)")
        }
    }

    @Test func twoTenantsWithTheSameSubnetBehindTwoRoutersStayApart() throws {
        let lab = LabNetwork(tag: "n")
        defer { lab.tearDown() }
        let a = try lab.addNamespace("a"), b = try lab.addNamespace("b"), c = try lab.addNamespace("c")
        let ext = try lab.addNamespace("ext")
        // Tenant 1: a (10.1.0.5). Tenant 2: b (10.1.0.5 too) and c (10.1.0.6).
        let aPort = try lab.addHost(namespace: a, switchSide: "a", mac: "fa:16:3e:aa:00:05", address: "10.1.0.5/24")
        let bPort = try lab.addHost(namespace: b, switchSide: "b", mac: "fa:16:3e:bb:00:05", address: "10.1.0.5/24")
        let cPort = try lab.addHost(namespace: c, switchSide: "c", mac: "fa:16:3e:bb:00:06", address: "10.1.0.6/24")
        let extPort = try lab.addHost(namespace: ext, switchSide: "ext", mac: "02:42:ac:18:04:e1", address: "172.24.4.225/28")
        for vm in [a, b, c] { try Shell.check(["ip", "-n", vm, "route", "add", "default", "via", "10.1.0.1"]) }

        func router(_ name: String, qr: String, qg: String, macByte: Int, gateway: UInt8) -> RouterConfiguration {
            var router = RouterConfiguration(name: name, interfaces: [
                .init(name: qr, mac: MACAddress("fa:16:3e:00:0\(macByte):01")!, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
                .init(name: qg, mac: MACAddress("fa:16:3e:00:0\(macByte):02")!, address: IPv4Address(172, 24, 4, gateway),
                      prefixLength: 28),
            ], defaultGateway: IPv4Address(172, 24, 4, 225))
            router.snat = .init()
            return router
        }
        let configuration = DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: aPort, tag: 1),
                PortConfiguration(name: bPort, tag: 2),
                PortConfiguration(name: cPort, tag: 2),
                PortConfiguration(name: "qr-6a1b2c3d-4e", type: .router, tag: 1),
                PortConfiguration(name: "qr-9c8d7e6f-5a", type: .router, tag: 2),
            ]),
            BridgeConfiguration(name: "br-ex", ports: [
                PortConfiguration(name: extPort),
                PortConfiguration(name: "qg-7f8e9d0c-1b", type: .router),
                PortConfiguration(name: "qg-3e4f5a6b-7c", type: .router),
            ]),
        ], routers: [
            router("router1", qr: "qr-6a1b2c3d-4e", qg: "qg-7f8e9d0c-1b", macByte: 0, gateway: 227),
            router("router2", qr: "qr-9c8d7e6f-5a", qg: "qg-3e4f5a6b-7c", macByte: 1, gateway: 229),
        ])
        try withEngine(configuration) { engine in
            func ping(_ namespace: String, _ address: String, count: Int = 3) -> Shell.Result {
                lab.run(in: namespace, ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "2", address])
            }
            for vm in [a, b] {
                let result = ping(vm, "172.24.4.225")
                #expect(result.succeeded, "\(vm) → ext: \(result.output)")
            }
            let seenA = Self.peerSeen(by: ext, from: a, port: 5311)
            #expect(seenA.output.split(separator: "\n").contains("172.24.4.227"), "ext saw tenant 1's VM as: \(seenA.output)")
            let seenB = Self.peerSeen(by: ext, from: b, port: 5312)
            #expect(seenB.output.split(separator: "\n").contains("172.24.4.229"), "ext saw tenant 2's VM as: \(seenB.output)")

            // c is reachable inside tenant 2 (the control), not from tenant 1; a and b, same
            // address, never see each other's ARP.
            let inside = ping(b, "10.1.0.6", count: 2)
            #expect(inside.succeeded, "b → c inside tenant 2: \(inside.output)")
            let across = ping(a, "10.1.0.6", count: 2)
            #expect(!across.succeeded, "a (tenant 1) reached tenant 2's 10.1.0.6: \(across.output)")
            let neighboursA = lab.run(in: a, ["ip", "neigh", "show", "dev", "eth0"]).output
            #expect(!neighboursA.contains("fa:16:3e:bb:"), "tenant 1 learned tenant 2's MACs: \(neighboursA)")
            let neighboursB = lab.run(in: b, ["ip", "neigh", "show", "dev", "eth0"]).output
            #expect(!neighboursB.contains("fa:16:3e:aa:"), "tenant 2 learned tenant 1's MACs: \(neighboursB)")

            let dumps = try #require(engine.perform { datapath, _ in datapath.routers.map { $0.conntrack?.sortedConnections().map(\.description) ?? [] } })
            #expect(dumps[0].contains { $0.hasPrefix("tcp,orig=(src=10.1.0.5,dst=172.24.4.225,") && $0.contains("dst=172.24.4.227,") }
                    && !dumps[0].contains { $0.contains("172.24.4.229") }, "router1: \(dumps[0])")
            #expect(dumps[1].contains { $0.hasPrefix("tcp,orig=(src=10.1.0.5,dst=172.24.4.225,") && $0.contains("dst=172.24.4.229,") }
                    && !dumps[1].contains { $0.contains("172.24.4.227") }, "router2: \(dumps[1])")
            #expect(engine.statistics().frames.isBalanced)
        }
    }

    @Test func snatPortRangeExhaustionDropsTheThirdFlowAndCountsIt() throws {
        try Node.withEngine(adjusting: { $0.routers[0].snat = .init(portMin: 40000, portMax: 40001) }) { node, engine in

            // Three UDP flows from vm2 (source ports outside the range, so each needs one of the
            // two), each sent three times; ext prints what arrives and from where.
            let server = "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('172.24.4.225', 7000)); "
                + "s.settimeout(4)\nwhile True:\n try: d, a = s.recvfrom(100)\n except socket.timeout: break\n"
                + " print(d.decode(), a[0], a[1], flush=True)"
            let client = "import socket, time\nss = []\nfor p in (50001, 50002, 50003):\n"
                + " s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.1.0.6', p)); ss.append(s)\n"
                + "for r in range(3):\n for i, s in enumerate(ss): s.sendto(b'flow%d' % (i + 1), ('172.24.4.225', 7000)); time.sleep(0.05)\n"
                + " time.sleep(0.3)"
            let run = Self.sh("""
                ip netns exec \(node.ext) timeout -k 1 20 /usr/bin/python3 -c "\(server)" &
                sleep 0.7
                ip netns exec \(node.vm2) timeout -k 1 10 /usr/bin/python3 -c "\(client)"
                wait
                """)
            let received = run.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 3 }
            let flows = Dictionary(grouping: received, by: { $0[0] })
            for flow in ["flow1", "flow2"] {
                let seen = flows[flow] ?? []
                #expect(!seen.isEmpty && seen.allSatisfy { $0[1] == "172.24.4.227" && ($0[2] == "40000" || $0[2] == "40001") },
                        "\(flow) through SNAT: \(run.output)")
            }
            #expect(Set((flows["flow1"] ?? []).map { $0[2] }).count == 1 && flows["flow1"]?.first?[2] != flows["flow2"]?.first?[2],
                    "one port each: \(run.output)")
            #expect(flows["flow3"] == nil, "the third flow got through: \(run.output)")

            let router = try #require(engine.perform { datapath, _ in datapath.routers[0].stats })
            #expect((router.drops[.natExhausted] ?? 0) >= 1, "\(router.drops)")
            #expect(router.natConnectionsCreated == 2, "\(router)")
        }
    }
}
}
