import TestFixtures
import Testing
import XDPSwitch

/// The DHCP verbs of the control socket and `show`, on a node configured in YAML after a
/// VM's DISCOVER and a stranger's went through br-int.
@Suite struct DHCPControlTests {
    static let networkNode = NetworkNodeYAML.brInt(vmPort: "qvo-vm1", service: NetworkNodeYAML.dhcpPort) + "\n" + """
        dhcp:
          - network: net1
            mac: "fa:16:3e:00:00:03"
            subnets:
              - {name: subnet1, cidr: 10.1.0.0/24, server_address: 10.1.0.3, gateway_ip: 10.1.0.1}
              - {name: subnet2, cidr: 10.9.0.0/24, server_address: 10.9.0.3, enable_dhcp: false}
            hosts:
              - {mac: "fa:16:3e:aa:00:05", address: 10.1.0.5}
              - {mac: "fa:16:3e:aa:00:06", address: 10.9.0.6, hostname: web1}
        """

    static func discover(from mac: MACAddress) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: 240)
        m[0] = 1; m[1] = 1; m[2] = 6
        for i in 0..<6 { m[28 + i] = UInt8(truncatingIfNeeded: mac.rawValue >> (40 - 8 * UInt64(i))) }
        m[236] = 99; m[237] = 130; m[238] = 83; m[239] = 99
        m += [53, 1, 1, 255]
        return FrameBuilder().ethernet(source: mac, destination: .broadcast)
            .ipv4(source: .any, destination: IPv4Address(255, 255, 255, 255))
            .udp(sourcePort: 68, destinationPort: 67).payload(m).build()
    }

    @Test func showStatsAndLeases() throws {
        let dp = try SwitchConfiguration.parse(yaml: Self.networkNode).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        func run(_ command: String, _ args: [String] = []) -> ControlSocket.Reply {
            SwitchControl.handle(.init(command: command, arguments: args), datapath: dp, now: DatapathInstant(nanoseconds: 5_000_000_000))
        }
        let show = run("show").output
        #expect(show.contains("""
                    Port tap-3c1a2b4d-5e
                        tag: 1
                        Interface tap-3c1a2b4d-5e
                            type: dhcp
                            options: {network=net1}
            """), "\(show)")
        let vm = dp.port(named: "qvo-vm1")!
        dp.inject(Self.discover(from: MACAddress("fa:16:3e:aa:00:05")!), into: vm, now: DatapathInstant(nanoseconds: 5_000_000_000))
        dp.inject(Self.discover(from: MACAddress("fa:16:3e:bb:00:09")!), into: vm, now: DatapathInstant(nanoseconds: 5_000_000_000))
        #expect(dp.drainTransmitted(vm).count == 1, "one OFFER")
        #expect(run("dhcp-stats").output == """
            net1: received=2 discovers=1 requests=0 informs=0 releases=0 declines=0 offers=1 acks=0 naks=0 arp-replies=0
                drops: unknown-client=1

            """)
        #expect(run("dhcp-stats", ["net1"]).output == run("dhcp-stats").output)
        #expect(run("dhcp-leases", ["net1"]).output == """
            fa:16:3e:aa:00:05,host-10-1-0-5,10.1.0.5 subnet=subnet1
            fa:16:3e:aa:00:06,web1,10.9.0.6 subnet=subnet2 dhcp=disabled

            """)
        #expect(run("dhcp-leases", ["net9"]).output == "net9: no DHCP responder for this network (networks: net1)")
        #expect(run("dhcp-leases").output == "usage: dhcp-leases NETWORK")
        #expect(run("dhcp-stats", ["a", "b"]).output == "usage: dhcp-stats [NETWORK]")
        // Leases at run time: the stranger's port is created, the VM's deleted.
        #expect(run("dhcp-host-add", ["net1", "fa:16:3e:bb:00:09", "10.1.0.9", "late"]).output == "net1: 3 leases\n")
        #expect(run("dhcp-host-del", ["net1", "fa:16:3e:aa:00:05"]).output == "net1: 2 leases\n")
        #expect(run("dhcp-host-del", ["net1", "fa:16:3e:aa:00:05"]).output == "dhcp-host-del: fa:16:3e:aa:00:05 has no lease on net1")
        #expect(run("dhcp-host-add", ["net1", "fa:16:3e:cc:00:01", "10.1.0.9"]).output
                == "dhcp-host-add: net1: hosts[2] (fa:16:3e:cc:00:01): address: 10.1.0.9 is given to another host already")
        #expect(run("dhcp-host-add", ["net1", "nope", "10.1.0.9"]).output == "dhcp-host-add: nope: expected a MAC address")
        #expect(run("dhcp-leases", ["net1"]).output == """
            fa:16:3e:aa:00:06,web1,10.9.0.6 subnet=subnet2 dhcp=disabled
            fa:16:3e:bb:00:09,late,10.1.0.9 subnet=subnet1

            """)
        dp.inject(Self.discover(from: MACAddress("fa:16:3e:bb:00:09")!), into: vm, now: DatapathInstant(nanoseconds: 5_000_000_000))
        dp.inject(Self.discover(from: MACAddress("fa:16:3e:aa:00:05")!), into: vm, now: DatapathInstant(nanoseconds: 5_000_000_000))
        let offers = dp.drainTransmitted(vm)
        #expect(offers.count == 1 && offers.first.map { Array($0[58..<62]) } == [10, 1, 0, 9], "only the new port is offered its address")
    }
}
