import TestFixtures
import Testing
import XDPDatapath
import XDPModel
import XDPPacket

/// The `dhcp:` section and `type: dhcp` ports in the YAML configuration.
@Suite struct DHCPConfigurationYAMLTests {
    static let networkNode = NetworkNodeYAML.brInt(vmPort: "qvo-a", service: NetworkNodeYAML.dhcpPort) + "\n" + """
        dhcp:
          - network: net1
            mac: fa:16:3e:00:00:03
            domain: example.org
            lease_time: 600
            mtu: 1450
            subnets:
              - name: subnet1
                cidr: 10.1.0.0/24
                server_address: 10.1.0.3
                gateway_ip: 10.1.0.1
                dns_nameservers: [8.8.8.8, 8.8.4.4]
                host_routes: [{destination: 169.254.169.254/32, nexthop: 10.1.0.2}]
              - {name: subnet2, cidr: 10.9.0.0/28, server_address: 10.9.0.2, enable_dhcp: false}
            hosts:
              - {mac: fa:16:3e:aa:00:05, address: 10.1.0.5}
              - {mac: fa:16:3e:aa:00:06, address: 10.1.0.6, hostname: web1}
        """

    func refusal(_ yaml: String) -> String? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "d.yaml"); return nil } catch { return error.description }
    }

    @Test func readsEveryDHCPKey() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.networkNode, file: "d.yaml")
        let expected = DHCPConfiguration(network: "net1", mac: MACAddress("fa:16:3e:00:00:03")!, subnets: [
            .init(name: "subnet1", cidr: IPv4Prefix("10.1.0.0/24")!, serverAddress: IPv4Address(10, 1, 0, 3),
                  gateway: IPv4Address(10, 1, 0, 1), dnsServers: [IPv4Address(8, 8, 8, 8), IPv4Address(8, 8, 4, 4)],
                  hostRoutes: [.init(destination: IPv4Prefix("169.254.169.254/32")!, nextHop: IPv4Address(10, 1, 0, 2))]),
            .init(name: "subnet2", cidr: IPv4Prefix("10.9.0.0/28")!, serverAddress: IPv4Address(10, 9, 0, 2), enableDHCP: false),
        ], hosts: [
            .init(mac: MACAddress("fa:16:3e:aa:00:05")!, address: IPv4Address(10, 1, 0, 5)),
            .init(mac: MACAddress("fa:16:3e:aa:00:06")!, address: IPv4Address(10, 1, 0, 6), hostname: "web1"),
        ], domain: "example.org", leaseSeconds: 600, mtu: 1450)
        #expect(config.datapath.dhcp == [expected])
        #expect(config.datapath.bridges[0].ports[1].type == .dhcp(network: "net1"))
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 64), now: .zero)
        #expect(datapath.port(named: "tap-3c1a2b4d-5e")?.serviceKind == .dhcp)
        #expect(datapath.dhcpResponder(network: "net1")?.lease(for: MACAddress("fa:16:3e:aa:00:06")!) == IPv4Address(10, 1, 0, 6))
    }

    @Test func defaultsAreTheReferenceDesigns() throws {
        let y = Self.networkNode.replacingOccurrences(of: "    domain: example.org\n    lease_time: 600\n    mtu: 1450\n", with: "")
        let dhcp = try #require(try SwitchConfiguration.parse(yaml: y, file: "d.yaml").datapath.dhcp.first)
        #expect(dhcp.domain == "openstacklocal" && dhcp.leaseSeconds == 120 && dhcp.mtu == nil)
        let infinite = Self.networkNode.replacingOccurrences(of: "lease_time: 600", with: "lease_time: infinite")
        #expect(try SwitchConfiguration.parse(yaml: infinite, file: "d.yaml").datapath.dhcp.first?.leaseSeconds == UInt32.max)
    }

    @Test func refusalsNameFileLineAndKey() {
        let y = Self.networkNode
        #expect(refusal(y.replacingOccurrences(of: "gateway_ip: 10.1.0.1", with: "gateway_ip: 10.1.0.3"))
                == "d.yaml:16: dhcp[0].subnets[0].gateway_ip: subnet1: 10.1.0.3 is the server's own address")
        #expect(refusal(y.replacingOccurrences(of: "address: 10.1.0.6", with: "address: 10.1.0.5"))
                == "d.yaml:22: dhcp[0].hosts[1].address: hosts[1] (fa:16:3e:aa:00:06): 10.1.0.5 is given to another host already")
        #expect(refusal(y.replacingOccurrences(of: "server_address: 10.1.0.3", with: "server_address: 10.2.0.3"))
                == "d.yaml:15: dhcp[0].subnets[0].server_address: subnet1: 10.2.0.3 is not a host address of 10.1.0.0/24")
        #expect(refusal(y.replacingOccurrences(of: "cidr: 10.1.0.0/24", with: "cidr: 10.1.0.1/24"))
                == "d.yaml:14: dhcp[0].subnets[0].cidr: 10.1.0.1/24 has host bits set (the network is 10.1.0.0/24)")
        #expect(refusal(y.replacingOccurrences(of: "mtu: 1450", with: "mtu: 20"))
                == "d.yaml:11: dhcp[0].mtu: 20 is outside 68-65535")
        #expect(refusal(y.replacingOccurrences(of: "lease_time: 600", with: "lease: 600"))?
                .hasPrefix("d.yaml:10: dhcp[0].lease: unknown key") == true)
        // Port-level refusals.
        #expect(refusal(y.replacingOccurrences(of: "options: {network: net1}", with: "options: {peer: net1}"))?
                .hasPrefix("d.yaml:5: bridges[0].ports[1].options.network: a dhcp port needs options: {network: NAME}") == true)
        #expect(refusal(y.replacingOccurrences(of: "{name: qvo-a, tag: 1}", with: "{name: qvo-a, tag: 1, options: {network: net1}}"))?
                .hasPrefix("d.yaml:4: bridges[0].ports[0].options.network: options.network is only for type: dhcp") == true)
        // Datapath-level refusals point at the port or the dhcp entry.
        #expect(refusal(y.replacingOccurrences(of: "options: {network: net1}", with: "options: {network: net2}"))
                == "d.yaml:5: tap-3c1a2b4d-5e.options.network: no dhcp: entry for network net2")
        #expect(refusal(y.replacingOccurrences(of: "\n      - {name: tap-3c1a2b4d-5e, type: dhcp, tag: 1, options: {network: net1}}", with: ""))?
                .hasPrefix("d.yaml:6: dhcp[0].network: no port serves network net1") == true)
    }
}
