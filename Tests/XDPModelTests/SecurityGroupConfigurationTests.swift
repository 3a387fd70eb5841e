import Testing
import XDPDatapath
import XDPModel
import XDPPacket

/// The `security_groups:` and `ports:` sections: Neutron's field names read into the
/// model, mistakes refused with their line, and the flows installed by makeDatapath.
@Suite struct SecurityGroupConfigurationTests {
    static let example = """
    bridges:
      - name: br-int
        ports:
          - {name: qvo-vm1, tag: 1}
          - {name: qvo-vm2, tag: 1}
          - {name: tap-dhcp, tag: 1}
    security_groups:
      - id: web
        name: web servers
        rules:
          - {direction: egress}
          - {direction: egress, ethertype: IPv6}
          - {direction: ingress, protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: 0.0.0.0/0}
          - {direction: ingress, protocol: icmp, port_range_min: 8}
          - {direction: ingress, ethertype: IPv6, protocol: icmp}
          - {direction: ingress, protocol: "112"}
          - {direction: ingress, protocol: any, remote_group_id: web}
      - name: ssh-only
        rules:
          - {direction: ingress, protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: 192.0.2.0/24}
    ports:
      - name: qvo-vm1
        mac_address: fa:16:3e:00:00:01
        fixed_ips: [10.1.0.5, {ip_address: "fd00::5", subnet_id: v6}]
        allowed_address_pairs: [{ip_address: 10.1.0.128/25, mac_address: "fa:16:3e:00:00:99"}, {ip_address: 10.1.0.200}]
        security_groups: [web, ssh-only]
        dhcp_servers: [10.1.0.3, {ip_address: "fd00::3", mac_address: "fa:16:3e:00:00:03"}]
      - {name: qvo-vm2, mac_address: "fa:16:3e:00:00:02", fixed_ips: [10.1.0.6], port_security_enabled: false}
    """

    func refusal(_ yaml: String) -> ConfigurationError? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "sg.yaml"); return nil } catch { return error }
    }

    @Test func readsGroupsRulesAndPortsWithNeutronsNames() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.example, file: "sg.yaml")
        let sg = try #require(config.securityGroups)
        #expect(sg.bridge == "br-int")
        #expect(sg.groups.map(\.id) == ["web", "ssh-only"])
        #expect(sg.groups[0].name == "web servers")
        let rules = sg.groups[0].rules
        #expect(rules[0] == SecurityGroupRule(direction: .egress))
        #expect(rules[1].ethertype == .ipv6 && rules[1].ipProtocol == nil)
        #expect(rules[2] == SecurityGroupRule(direction: .ingress, ipProtocol: 6, portRangeMin: 22, portRangeMax: 22,
                                              remoteIPPrefix: AddressPrefix("0.0.0.0/0")))
        #expect(rules[3].ipProtocol == 1 && rules[3].portRangeMin == 8 && rules[3].portRangeMax == nil)
        #expect(rules[4].ipProtocol == 58, "icmp in an IPv6 rule is ICMPv6")
        #expect(rules[5].ipProtocol == 112)
        #expect(rules[6].ipProtocol == nil && rules[6].remoteGroupID == "web")
        let vm1 = try #require(sg.port("qvo-vm1"))
        #expect(vm1.mac == MACAddress("fa:16:3e:00:00:01")!)
        #expect(vm1.fixedIPs == [AddressPrefix("10.1.0.5")!, AddressPrefix("fd00::5")!])
        #expect(vm1.allowedAddressPairs == [
            AllowedAddressPair(prefix: AddressPrefix("10.1.0.128/25")!, mac: MACAddress("fa:16:3e:00:00:99")),
            AllowedAddressPair(prefix: AddressPrefix("10.1.0.200")!),
        ])
        #expect(vm1.portSecurityEnabled && vm1.securityGroups == ["web", "ssh-only"])
        #expect(vm1.dhcpServers == [DHCPServer(address: AddressPrefix("10.1.0.3")!),
                                    DHCPServer(address: AddressPrefix("fd00::3")!, mac: MACAddress("fa:16:3e:00:00:03"))])
        #expect(sg.port("qvo-vm2")?.portSecurityEnabled == false)
    }

    @Test func makeDatapathInstallsTheFirewall() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.example, file: "sg.yaml")
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 64), now: .zero)
        let flows = datapath.flows(bridge: "br-int").map(\.rule.description)
        #expect(flows.contains { $0.contains("table=71") && $0.contains("dl_src=fa:16:3e:00:00:99,nw_src=10.1.0.128/25") })
        #expect(flows.contains { $0.contains("table=82") && $0.contains("nw_src=192.0.2.0/24,tp_dst=22") })
        #expect(flows.contains { $0.contains("table=82") && $0.contains("nw_src=10.1.0.3,tp_src=67,tp_dst=68") })
        #expect(!flows.contains { $0.contains("reg5=0x2") }, "qvo-vm2 has no port security")
        #expect(datapath.conntrack != nil, "ct() flows start the tracker")
    }

    @Test func mistakesNameTheirLine() {
        let base = """
        bridges:
          - name: br-int
            ports:
              - {name: qvo-vm1, tag: 1}
        """
        func check(_ tail: String, line: Int, words: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let e = refusal(base + "\n" + tail)
            #expect(e?.message.contains(words) == true, "\(String(describing: e))", sourceLocation: sourceLocation)
            #expect(e?.line == line, "\(String(describing: e))", sourceLocation: sourceLocation)
        }
        check("""
        security_groups:
          - id: web
            rules:
              - {direction: ingress, protocol: tcp, port: 22}
        """, line: 8, words: "unknown key")
        check("""
        security_groups:
          - id: web
            rules:
              - {direction: sideways}
        """, line: 8, words: "ingress or egress")
        check("""
        security_groups:
          - id: web
            rules:
              - {direction: ingress, protocol: tcpp}
        """, line: 8, words: "unknown protocol")
        check("""
        security_groups:
          - id: web
            rules:
              - {direction: egress}
              - {direction: ingress, protocol: tcp, port_range_min: 90, port_range_max: 80}
        """, line: 9, words: "above port_range_max")
        check("""
        ports:
          - {name: qvo-nope, mac_address: "fa:16:3e:00:00:01"}
        """, line: 6, words: "no bridge has a port qvo-nope")
        check("""
        ports:
          - {name: qvo-vm1, mac_address: "fa:16:3e:00:00:01", security_groups: [ghost]}
        """, line: 6, words: "no security group ghost")
        check("""
        ports:
          - {name: qvo-vm1, mac_address: "fa:16:3e:00:00:01", fixed_ips: [10.1.0.0/24]}
        """, line: 6, words: "expected an IPv4 or IPv6 address")
    }
}
