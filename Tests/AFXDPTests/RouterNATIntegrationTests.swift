#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Foundation
import XDPControl
import XDPLab
import Testing
import XDPDatapath
import XDPPacket

extension AFXDPIntegrationTests {
/// The reference design's network node with NAT, over AF_XDP: namespaces vm1 (10.1.0.5, floating IP
/// 172.24.4.228) and vm2 (10.1.0.6, no floating IP) on br-int (access VLAN 1), namespace
/// ext (172.24.4.225/28, *no* route to 10.1.0.0/24) on br-ex, router1 between them with
/// SNAT to its gateway address 172.24.4.227. Real kernels on both sides: ARP for the
/// floating IP, ping, TCP with checksums the kernels verify.
@Suite("Router NAT between namespaces over AF_XDP")
struct RouterNATIntegrationTests {
    final class Node: EngineLab {
        let lab = LabNetwork(tag: "n")
        var vm1 = "", vm2 = "", ext = "", vm1Port = "", vm2Port = "", extPort = ""

        func build() throws {
            vm1 = try lab.addNamespace("vm1")
            vm2 = try lab.addNamespace("vm2")
            ext = try lab.addNamespace("ext")
            vm1Port = try lab.addHost(namespace: vm1, switchSide: "vm1", mac: "fa:16:3e:aa:00:05", address: "10.1.0.5/24")
            vm2Port = try lab.addHost(namespace: vm2, switchSide: "vm2", mac: "fa:16:3e:aa:00:06", address: "10.1.0.6/24")
            extPort = try lab.addHost(namespace: ext, switchSide: "ext", mac: "02:42:ac:18:04:e1", address: "172.24.4.225/28")
            for vm in [vm1, vm2] { try Shell.check(["ip", "-n", vm, "route", "add", "default", "via", "10.1.0.1"]) }
        }

        var configuration: DatapathConfiguration {
            var router = RouterConfiguration(name: "router1", interfaces: [
                .init(name: "qr-6a1b2c3d-4e", mac: MACAddress("fa:16:3e:00:00:01")!, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
                .init(name: "qg-7f8e9d0c-1b", mac: MACAddress("fa:16:3e:00:00:02")!, address: IPv4Address(172, 24, 4, 227),
                      prefixLength: 28),
            ], defaultGateway: IPv4Address(172, 24, 4, 225))
            router.snat = .init()
            router.floatingIPs = [.init(floating: IPv4Address(172, 24, 4, 228), fixed: IPv4Address(10, 1, 0, 5))]
            return DatapathConfiguration(bridges: [
                BridgeConfiguration(name: "br-int", ports: [
                    PortConfiguration(name: vm1Port, tag: 1),
                    PortConfiguration(name: vm2Port, tag: 1),
                    PortConfiguration(name: "qr-6a1b2c3d-4e", type: .router, tag: 1),
                ]),
                BridgeConfiguration(name: "br-ex", ports: [
                    PortConfiguration(name: extPort),
                    PortConfiguration(name: "qg-7f8e9d0c-1b", type: .router),
                ]),
            ], routers: [router])
        }

        func ping(from namespace: String, _ address: String, count: Int = 3) -> Shell.Result {
            lab.run(in: namespace, ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "2", address])
        }

        /// The address a TCP connection from `client` to ext:port arrives from, as ext sees it.
        func peerSeenByExt(from client: String, port: Int) -> Shell.Result {
            let server = "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                + "s.bind(('172.24.4.225', \(port))); s.listen(1); s.settimeout(20); c, a = s.accept(); print(a[0]); c.close()"
            let script = """
                ip netns exec \(ext) timeout 30 /usr/bin/python3 -c "\(server)" &
                sleep 0.7
                ip netns exec \(client) timeout 20 nc -N -w 5 172.24.4.225 \(port) < /dev/null
                wait
                """
            return Shell.run(["sh", "-c", script])
        }
    }

    /// With the in-kernel fast path on, the same, and the kernel carries the transfers'
    /// segments itself: rewritten (MACs, addresses, ports, TTL, checksums the receiving
    /// kernels verify) by the program, counted in the router's counters all the same.
    @Test(arguments: [false, true])
    func snatFloatingIPAndATenMegabyteTransferThroughNAT(fastPath: Bool) throws {
        var options = EngineConfiguration()
        options.fastPath = fastPath
        try Node.withEngine(options: options) { node, engine in
            if fastPath {
                // The hosts' ends take XDP redirects (NAPI on the veth).
                for namespace in [node.vm1, node.vm2, node.ext] {
                    try Shell.check(["ip", "netns", "exec", namespace, "ethtool", "-K", "eth0", "gro", "on"])
                }
            }

            // vm2 (no floating IP) reaches ext, which sees the gateway address.
            let ping2 = node.ping(from: node.vm2, "172.24.4.225")
            #expect(ping2.succeeded, "vm2 → ext: \(ping2.output)")
            let seen2 = node.peerSeenByExt(from: node.vm2, port: 5301)
            #expect(seen2.output.split(separator: "\n").contains("172.24.4.227"), "ext saw vm2 as: \(seen2.output)")
            // vm1 goes out as its floating IP.
            let seen1 = node.peerSeenByExt(from: node.vm1, port: 5302)
            #expect(seen1.output.split(separator: "\n").contains("172.24.4.228"), "ext saw vm1 as: \(seen1.output)")
            // ext reaches vm1 by its floating IP (ARP for it answered by the router on br-ex).
            let inbound = node.ping(from: node.ext, "172.24.4.228")
            #expect(inbound.succeeded, "ext → 172.24.4.228: \(inbound.output)")
            // ext cannot reach the fixed address: it has no route there.
            let fixed = node.ping(from: node.ext, "10.1.0.5", count: 1)
            #expect(!fixed.succeeded)

            // 10 MB from vm2 through SNAT and 10 MB from ext to vm1 through the floating IP, sha256 compared.
            let dir = "/tmp/\(node.lab.prefix)-nat"
            try Shell.check(["mkdir", "-p", dir])
            defer { Shell.run(["rm", "-rf", dir]) }
            try Shell.check(["dd", "if=/dev/urandom", "of=\(dir)/in", "bs=1M", "count=10", "status=none"])
            // The receivers do not half-close at once (no -N): the connections stay ESTABLISHED
            // both ways until the senders' FIN, as the fast path needs to carry them.
            let script = """
                ip netns exec \(node.ext) timeout 90 nc -l 172.24.4.225 5201 > \(dir)/out-snat 2>/dev/null &
                ip netns exec \(node.vm1) timeout 90 nc -l 10.1.0.5 5202 > \(dir)/out-fip 2>/dev/null &
                sleep 0.7
                ip netns exec \(node.vm2) timeout 90 nc -N 172.24.4.225 5201 < \(dir)/in
                ip netns exec \(node.ext) timeout 90 nc -N 172.24.4.228 5202 < \(dir)/in
                wait
                """
            let transfer = Shell.run(["sh", "-c", script])
            #expect(transfer.succeeded, "\(transfer.output)")
            let sums = Shell.run(["sh", "-c", "sha256sum \(dir)/in \(dir)/out-snat \(dir)/out-fip | cut -d' ' -f1"]).output
                .split(separator: "\n")
            #expect(sums.count == 3 && sums[0] == sums[1] && sums[0] == sums[2], "checksums differ: \(sums)")

            let stats = engine.statistics()
            #expect(stats.frames.isBalanced, "\(stats.frames)")
            let router = try #require(engine.perform { datapath, _ in datapath.routers[0].stats })
            #expect(router.natTranslated > 2 * 10 * 1024 * 1024 / 1500, "every segment was translated: \(router)")
            #expect(router.natConnectionsCreated >= 6, "\(router)")
            #expect(router.drops[.natInvalid] == nil && router.drops[.natExhausted] == nil, "\(router.drops)")
            let dump = try #require(engine.perform { datapath, _ in datapath.routers[0].conntrack?.sortedConnections().map(\.description) ?? [] })
            #expect(dump.contains { $0.hasPrefix("tcp,orig=(src=10.1.0.6,dst=172.24.4.225,") && $0.contains("reply=(src=172.24.4.225,dst=172.24.4.227,") },
                    "\(dump)")
            #expect(dump.contains { $0.hasPrefix("tcp,orig=(src=172.24.4.225,dst=172.24.4.228,") && $0.contains("reply=(src=10.1.0.5,dst=172.24.4.225,") },
                    "\(dump)")
            if fastPath {
                // The kernel carried the bulk of the transfers itself (credited to the router above).
                let carried = engine.statistics().fastPathPackets
                #expect(carried > UInt64(10 * 1024 * 1024 / 1500), "the kernel carried \(carried) frames")
            } else {
                #expect(engine.statistics().fastPathPackets == 0)
            }
        }
    }
    /// With the fast path on, a neighbour that changes its MAC (ext, the router's default
    /// gateway, announcing itself with an ARP request from its new address) gets the very
    /// next datagram of a connection the kernel was carrying: the router's neighbour change
    /// removes the entry that wrote the old MAC, and the next entry writes the new one.
    @Test func aNeighbourThatChangesItsMACGetsTheNextDatagramsOfACarriedConnection() throws {
        var options = EngineConfiguration()
        options.fastPath = true
        try Node.withEngine(options: options) { node, engine in
            for namespace in [node.vm1, node.vm2, node.ext] {
                try Shell.check(["ip", "netns", "exec", namespace, "ethtool", "-K", "eth0", "gro", "on"])
            }
            #expect(node.ping(from: node.vm2, "172.24.4.225").succeeded)
            let dir = "/tmp/\(node.lab.prefix)-neigh"
            try Shell.check(["mkdir", "-p", dir])
            defer { Shell.run(["rm", "-rf", dir]) }
            // ext counts the datagrams to 172.24.4.225:6000 until two seconds pass without one.
            let receiver = "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('172.24.4.225', 6000)); "
                + "s.settimeout(2)\nn=0\ntry:\n  while True: s.recv(2048); n+=1\nexcept socket.timeout: print(n)"
            // vm2 sends 200 of them from one source port: one connection through SNAT.
            let sender = "import socket, time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.1.0.6', 40000))\n"
                + "for i in range(200): s.sendto(b'x' * 64, ('172.24.4.225', 6000)); time.sleep(0.005)"
            func exchange(_ round: String) throws -> Int {
                let log = "\(dir)/\(round)"
                let pid = try Shell.spawn(["ip", "netns", "exec", node.ext, "timeout", "30", "python3", "-c", receiver], logPath: log)
                usleep(500_000)
                let sent = node.lab.run(in: node.vm2, ["python3", "-c", sender])
                #expect(sent.succeeded, "\(sent.output)")
                #expect(Shell.wait(pid) == 0)
                return Int(Shell.run(["cat", log]).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }
            #expect(try exchange("before") == 200)
            let carried = engine.statistics().fastPathPackets
            #expect(carried >= 150, "the kernel carried \(carried) of 200")
            var dump = engine.perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
            #expect(dump.contains("02:42:ac:18:04:e1"), "\(dump)")

            // ext takes another MAC and asks for the router's: the router learns it from the request.
            try Shell.check(["ip", "-n", node.ext, "link", "set", "eth0", "address", "02:42:ac:18:04:ee"])
            try Shell.check(["ip", "-n", node.ext, "neigh", "flush", "all"])
            #expect(node.ping(from: node.ext, "172.24.4.227", count: 1).succeeded)
            #expect(try exchange("after") == 200, "every datagram reached ext at its new MAC")
            #expect(engine.statistics().fastPathPackets >= carried + 150, "the kernel carried them again")
            dump = engine.perform { datapath, now in SwitchText.fastPath(datapath.fastPathDump(now: now)) } ?? ""
            #expect(dump.contains("dst=02:42:ac:18:04:ee") && !dump.contains("dst=02:42:ac:18:04:e1"), "\(dump)")
            #expect(engine.statistics().frames.isBalanced)
        }
    }
}
}
