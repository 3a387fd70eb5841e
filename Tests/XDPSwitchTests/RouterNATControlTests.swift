import TestFixtures
import Testing
import XDPSwitch

/// The reference design's network node with SNAT and a floating IP, from YAML, through the bridges:
/// `nat-show` and the NAT line of `router-stats` after a VM's datagram went out.
@Suite struct RouterNATControlTests {
    static let networkNode = NetworkNodeYAML.router1(vmPort: "qvo-vm1", keys: """
            default_gateway: 172.24.4.225
            snat: true
            floating_ips: [{floating: 172.24.4.228, fixed: 10.1.0.7}]
        """)

    @Test func natShowAndStatsAfterTraffic() throws {
        let dp = try SwitchConfiguration.parse(yaml: Self.networkNode).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        func run(_ command: String, _ args: [String] = []) -> ControlSocket.Reply {
            SwitchControl.handle(.init(command: command, arguments: args), datapath: dp, now: DatapathInstant(nanoseconds: 5_000_000_000))
        }
        #expect(run("nat-show", ["router1"]).output == "floating 172.24.4.228 -> 10.1.0.7\n")
        let vm = MACAddress("fa:16:3e:aa:00:05")!, gw = MACAddress("02:42:ac:18:04:e1")!
        dp.inject(FrameBuilder.arpRequest(senderMAC: gw, senderIP: IPv4Address(172, 24, 4, 225), targetIP: IPv4Address(172, 24, 4, 227)),
                  into: dp.port(named: "eth-ext")!, now: DatapathInstant(nanoseconds: 1))
        dp.inject(FrameBuilder().ethernet(source: vm, destination: MACAddress("fa:16:3e:00:00:01")!)
            .ipv4(source: IPv4Address(10, 1, 0, 5), destination: IPv4Address(172, 24, 4, 225))
            .udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build(), into: dp.port(named: "qvo-vm1")!, now: DatapathInstant(nanoseconds: 2))
        #expect(run("nat-show", ["router1"]).output == """
            udp,orig=(src=10.1.0.5,dst=172.24.4.225,sport=40000,dport=53),reply=(src=172.24.4.225,dst=172.24.4.227,sport=53,dport=40000)
            floating 172.24.4.228 -> 10.1.0.7

            """)
        // dump-conntrack shows the routers' NAT connections too, as OVS prints NAT entries.
        #expect(run("dump-conntrack").output == """
            udp,orig=(src=10.1.0.5,dst=172.24.4.225,sport=40000,dport=53),reply=(src=172.24.4.225,dst=172.24.4.227,sport=53,dport=40000)

            """)
        #expect(run("dump-conntrack", ["zone=7"]).output == "")
        let stats = run("router-stats", ["router1"]).output
        #expect(stats.contains("    nat: connections=1 created=1 translated=1 flushed=0\n"), "\(stats)")
        #expect(run("nat-show").output == "usage: nat-show ROUTER")
        // Run-time floating IPs: move one, remove it, refusals.
        #expect(run("floatingip-associate", ["router1", "172.24.4.229", "10.1.0.5"]).output
                == "router1: 2 floating IPs, 0 connections flushed\n")
        dp.inject(FrameBuilder().ethernet(source: vm, destination: MACAddress("fa:16:3e:00:00:01")!)
            .ipv4(source: IPv4Address(10, 1, 0, 5), destination: IPv4Address(172, 24, 4, 225))
            .udp(sourcePort: 40001, destinationPort: 53).payload(count: 18).build(), into: dp.port(named: "qvo-vm1")!, now: DatapathInstant(nanoseconds: 3))
        #expect(run("nat-show", ["router1"]).output.contains("reply=(src=172.24.4.225,dst=172.24.4.229,sport=53,dport=40001)"))
        #expect(run("floatingip-disassociate", ["router1", "172.24.4.229"]).output
                == "router1: 1 floating IPs, 1 connections flushed\n")
        #expect(!run("floatingip-disassociate", ["router1", "172.24.4.229"]).ok)
        #expect(run("floatingip-associate", ["router1", "10.1.0.9", "10.1.0.5"]).output
                == "floatingip-associate: router1: floating_ips[1]: floating: 10.1.0.9 is on an internal subnet")
    }
}
