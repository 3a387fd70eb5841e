#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Testing
import XDPDatapath
import XDPPacket

extension AFXDPIntegrationTests {
/// The reference design's network node over AF_XDP: namespace vm1 (10.1.0.5/24, default via 10.1.0.1)
/// on br-int (access VLAN 1), namespace ext (172.24.4.225/28, 10.1.0.0/24 via
/// 172.24.4.227) on br-ex, and router1 between them (qr 10.1.0.1/24 on br-int with tag 1,
/// qg 172.24.4.227/28 on br-ex; no NAT). Real kernels on both sides: ARP, ping, TCP.
@Suite("Router between namespaces over AF_XDP")
struct RouterIntegrationTests {
    final class Node: EngineLab {
        let lab = LabNetwork(tag: "r")
        var vm1 = "", ext = "", vmPort = "", extPort = ""

        func build() throws {
            vm1 = try lab.addNamespace("vm1")
            ext = try lab.addNamespace("ext")
            vmPort = try lab.addHost(namespace: vm1, switchSide: "vm1", mac: "fa:16:3e:aa:00:05", address: "10.1.0.5/24")
            extPort = try lab.addHost(namespace: ext, switchSide: "ext", mac: "02:42:ac:18:04:e1", address: "172.24.4.225/28")
            try Shell.check(["ip", "-n", vm1, "route", "add", "default", "via", "10.1.0.1"])
            try Shell.check(["ip", "-n", ext, "route", "add", "10.1.0.0/24", "via", "172.24.4.227"])
        }

        var configuration: DatapathConfiguration {
            DatapathConfiguration(bridges: [
                BridgeConfiguration(name: "br-int", ports: [
                    PortConfiguration(name: vmPort, tag: 1),
                    PortConfiguration(name: "qr-6a1b2c3d-4e", type: .router, tag: 1),
                ]),
                BridgeConfiguration(name: "br-ex", ports: [
                    PortConfiguration(name: extPort),
                    PortConfiguration(name: "qg-7f8e9d0c-1b", type: .router),
                ]),
            ], routers: [RouterConfiguration(name: "router1", interfaces: [
                .init(name: "qr-6a1b2c3d-4e", mac: MACAddress("fa:16:3e:00:00:01")!, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
                .init(name: "qg-7f8e9d0c-1b", mac: MACAddress("fa:16:3e:00:00:02")!, address: IPv4Address(172, 24, 4, 227),
                      prefixLength: 28),
            ], defaultGateway: IPv4Address(172, 24, 4, 225))])
        }

        func ping(from namespace: String, _ address: String, count: Int = 3, size: Int? = nil, ttl: Int? = nil,
                  quiet: Bool = true) -> Shell.Result {
            var command = ["ping", "-n", "-c", "\(count)", "-i", "0.2", "-W", "2"]
            if quiet { command.append("-q") }
            if let size { command += ["-s", "\(size)", "-M", "do"] }
            if let ttl { command += ["-t", "\(ttl)"] }
            return lab.run(in: namespace, command + [address])
        }
    }

    @Test func vmAndExternalHostTalkThroughTheRouter() throws {
        try Node.withEngine { node, engine in

            let gateway = node.ping(from: node.vm1, "10.1.0.1")
            #expect(gateway.succeeded, "vm1 → its gateway: \(gateway.output)")
            let out = node.ping(from: node.vm1, "172.24.4.225")
            #expect(out.succeeded, "vm1 → ext: \(out.output)")
            let back = node.ping(from: node.ext, "10.1.0.5")
            #expect(back.succeeded, "ext → vm1: \(back.output)")
            let qg = node.ping(from: node.ext, "172.24.4.227")
            #expect(qg.succeeded, "ext → the router's qg address: \(qg.output)")
            let large = node.ping(from: node.vm1, "172.24.4.225", count: 2, size: 1472)
            #expect(large.succeeded, "1472-byte ping with DF, vm1 → ext: \(large.output)")
            let largeBack = node.ping(from: node.ext, "10.1.0.5", count: 2, size: 1472)
            #expect(largeBack.succeeded, "1472-byte ping with DF, ext → vm1: \(largeBack.output)")

            // traceroute's first probe: TTL 1 dies at the router, which says so from 10.1.0.1.
            let probe = node.ping(from: node.vm1, "172.24.4.225", count: 1, ttl: 1, quiet: false)
            #expect(!probe.succeeded && probe.output.contains("From 10.1.0.1") && probe.output.contains("Time to live exceeded"),
                    "\(probe.output)")

            let stats = engine.statistics()
            #expect(stats.frames.isBalanced, "\(stats.frames)")
            let router = try #require(engine.perform { datapath, _ in datapath.routers[0].stats })
            #expect(router.forwarded >= 14 && router.echoReplies >= 6 && router.icmpErrorsSent >= 1, "\(router)")
            #expect(router.drops[.ttlExceeded] == 1, "\(router.drops)")
            #expect(router.drops.keys.allSatisfy { [.ttlExceeded, .unsupportedEtherType, .arpNotForUs, .notForRouterMAC].contains($0) },
                    "\(router.drops)")
        }
    }

    @Test func tcpTransferThroughTheRouterArrivesIntact() throws {
        try Node.withEngine { node, engine in

            let dir = "/tmp/\(node.lab.prefix)-tcp"
            try Shell.check(["mkdir", "-p", dir])
            defer { Shell.run(["rm", "-rf", dir]) }
            try Shell.check(["dd", "if=/dev/urandom", "of=\(dir)/in", "bs=1M", "count=8", "status=none"])
            let script = """
                ip netns exec \(node.ext) timeout 60 nc -l -N 172.24.4.225 5201 > \(dir)/out 2>/dev/null &
                sleep 0.5
                ip netns exec \(node.vm1) timeout 60 nc -N 172.24.4.225 5201 < \(dir)/in
                wait
                """
            let transfer = Shell.run(["sh", "-c", script])
            #expect(transfer.succeeded, "\(transfer.output)")
            let sums = Shell.run(["sh", "-c", "sha256sum \(dir)/in \(dir)/out | cut -d' ' -f1"]).output.split(separator: "\n")
            #expect(sums.count == 2 && sums[0] == sums[1], "checksums differ: \(sums)")
            let stats = engine.statistics()
            #expect(stats.frames.isBalanced, "\(stats.frames)")
            let forwarded = try #require(engine.perform { datapath, _ in datapath.routers[0].stats.forwarded })
            #expect(forwarded > 8 * 1024 * 1024 / 1500, "every segment was routed: \(forwarded)")
        }
    }
}
}
