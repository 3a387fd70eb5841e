import Testing
import XDPDatapath
import XDPPacket

/// The compiler on its own: the flows parse and print back, the reference design's order shows in
/// the priorities, rules become the flows they should, and bad configurations are
/// refused with the field at fault.
@Suite struct SecurityGroupCompilerTests {
    static let layout = [
        FirewallBridgePort(name: "qvo-1", ofport: 1, tag: 1),
        FirewallBridgePort(name: "qvo-2", ofport: 2, tag: 1),
        FirewallBridgePort(name: "patch-tun", ofport: 3, tag: 0),
    ]

    static func config(_ rules: [SecurityGroupRule], pairs: [AllowedAddressPair] = []) -> SecurityGroupConfiguration {
        SecurityGroupConfiguration(
            groups: [SecurityGroup(id: "web", rules: rules)],
            ports: [
                SecurityPort(name: "qvo-1", mac: MACAddress("fa:16:3e:00:00:01")!, fixedIPs: [AddressPrefix("10.1.0.5")!],
                             allowedAddressPairs: pairs, securityGroups: ["web"],
                             dhcpServers: [DHCPServer(address: AddressPrefix("10.1.0.3")!)]),
                SecurityPort(name: "qvo-2", mac: MACAddress("fa:16:3e:00:00:02")!, fixedIPs: [AddressPrefix("10.1.0.6")!],
                             securityGroups: ["web"]),
            ])
    }

    func texts(_ c: SecurityGroupConfiguration) throws(DatapathConfigurationError) -> [String] {
        try SecurityGroupCompiler(configuration: c, bridgePorts: Self.layout).flowTexts()
    }

    @Test func everyGeneratedFlowParsesAndPrintsBackTheSame() throws {
        let c = Self.config([
            SecurityGroupRule(direction: .egress),
            SecurityGroupRule(direction: .egress, ethertype: .ipv6),
            SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 20, portRangeMax: 1030)!,
            SecurityGroupRule(direction: .ingress, protocol: "icmp", portRangeMin: 8, portRangeMax: 0)!,
            SecurityGroupRule(direction: .ingress, ethertype: .ipv6, protocol: "icmp")!,
            SecurityGroupRule(direction: .ingress, protocol: "gre")!,
            SecurityGroupRule(direction: .ingress, remoteGroupID: "web"),
            SecurityGroupRule(direction: .egress, protocol: "udp", portRangeMin: 53, portRangeMax: 53,
                              remoteIPPrefix: AddressPrefix("8.8.8.0/24"))!,
        ], pairs: [AllowedAddressPair(prefix: AddressPrefix("10.1.0.128/25")!, mac: MACAddress("fa:16:3e:00:00:99")!)])
        let rules = try SecurityGroupCompiler(configuration: c, bridgePorts: Self.layout).flows()
        #expect(rules.count > 60)
        for rule in rules {
            #expect(try FlowParser.parse(rule.description) == rule, "\(rule)")
        }
        // Open vSwitch takes a ct() action only in a flow that matches IPv4 or IPv6
        // (OFPBAC_MATCH_INCONSISTENT otherwise): the same flows must load into it.
        for rule in rules where rule.actions.contains(where: { if case .conntrack = $0 { true } else { false } }) {
            #expect(rule.match.mask.dlType == 0xFFFF && [0x0800, 0x86DD].contains(rule.match.value.dlType), "\(rule)")
        }
        let printed = rules.map(\.description)
        // ICMP type/code, a protocol by number, remote group members, remote prefix.
        #expect(printed.contains { $0.contains("icmp,reg5=0x2") && $0.contains("icmp_type=8,icmp_code=0") })
        #expect(printed.contains { $0.contains("ct_state=+new-est+trk,icmp6,reg5=0x1") })
        #expect(printed.contains { $0.contains("ip,reg5=0x1,nw_proto=47") })
        #expect(printed.contains { $0.contains("table=82") && $0.contains("nw_src=10.1.0.6") })
        #expect(printed.contains { $0.contains("table=82") && $0.contains("nw_src=10.1.0.128/25") })
        #expect(printed.contains { $0.contains("table=72") && $0.contains("nw_dst=8.8.8.0/24,tp_dst=53") })
        // Address pair MAC: egress from it and ingress to it.
        #expect(printed.contains { $0.contains("table=71") && $0.contains("dl_src=fa:16:3e:00:00:99,nw_src=10.1.0.128/25") })
        #expect(printed.contains { $0.contains("table=60") && $0.contains("dl_dst=fa:16:3e:00:00:99") })
        // The link-local address of the MAC is an allowed IPv6 source.
        #expect(printed.contains { $0.contains("ipv6_src=fe80::f816:3eff:fe00:1") })
    }

    /// The reference design's egress order as priorities: DHCP client and ARP from the right sender
    /// before the DHCP-server drop, before the source-IP check into conntrack, before
    /// the drop of the rest; then INVALID dropped before RELATED/ESTABLISHED allowed,
    /// before the rules, before the final drop. Ingress: INVALID, EST/REL, rules, DHCP.
    @Test func prioritiesFollowTheReferenceDesignsOrder() throws {
        let rules = try SecurityGroupCompiler(configuration: Self.config([SecurityGroupRule(direction: .ingress, protocol: "tcp")!]),
                                              bridgePorts: Self.layout).flows()
        func priority(_ table: UInt8, _ needle: String) -> UInt16? {
            rules.first { $0.table == table && $0.description.contains(needle) }?.priority
        }
        let dhcpClient = try #require(priority(71, "tp_src=68,tp_dst=67"))
        let arp = try #require(priority(71, "arp,reg5=0x1"))
        let dhcpServer = try #require(priority(71, "tp_src=67,tp_dst=68"))
        let sourceCheck = try #require(priority(71, "nw_src=10.1.0.5 actions=ct("))
        let rest = try #require(priority(71, "reg5=0x1,in_port=1 actions=drop"))
        #expect(dhcpClient > dhcpServer && arp > dhcpServer && dhcpServer > sourceCheck && sourceCheck > rest)
        for (t, next) in [(UInt8(72), "73"), (UInt8(82), "92")] {
            let invalid = try #require(priority(t, "ct_state=+inv+trk"))
            let est = try #require(priority(t, "ct_state=+est-inv+trk"))
            let rel = try #require(priority(t, "ct_state=+rel-inv+trk"))
            #expect(invalid > est && est == rel, "table \(t)")
            if t == 82 {
                let rule = try #require(priority(t, "ct_state=+new-est+trk,tcp"))
                let dhcp = try #require(priority(t, "nw_src=10.1.0.3,tp_src=67"))
                #expect(est > rule && rule > dhcp && dhcp > 0)
            }
            #expect(rules.contains { $0.table == t && $0.priority == 0 && $0.description.hasSuffix("actions=drop") }, "\(next)")
        }
        // A MAC that is not the port's matches no allow flow of table 71.
        #expect(!rules.contains { $0.table == 71 && $0.description.contains("dl_src=") && !$0.description.contains("fa:16:3e:00:00:0") })
    }

    @Test func portRangesBecomeExactMaskedBlocks() {
        var generator = SystemRandomNumberGenerator()
        var ranges = [(1, 65535), (0, 65535), (22, 22), (1000, 1999), (1024, 65535), (80, 81), (79, 80), (1, 1)]
        for _ in 0..<200 {
            let a = Int.random(in: 1...65535, using: &generator), b = Int.random(in: 1...65535, using: &generator)
            ranges.append((min(a, b), max(a, b)))
        }
        for (lo, hi) in ranges {
            let blocks = SecurityGroupCompiler.portMasks(lo, hi)
            var covered = 0
            var previousEnd = lo - 1
            for (value, mask) in blocks {
                let size = (~mask & 0xFFFF) + 1
                #expect(value & ~mask & 0xFFFF == 0, "block \(value)/\(mask) not aligned")
                #expect(value == previousEnd + 1, "gap or overlap in \(lo)-\(hi)")
                previousEnd = value + size - 1
                covered += size
            }
            #expect(previousEnd == hi && covered == hi - lo + 1, "\(lo)-\(hi): \(blocks)")
            #expect(blocks.count <= 32)
        }
    }

    @Test func remoteGroupFollowsMembership() throws {
        var c = Self.config([SecurityGroupRule(direction: .ingress, remoteGroupID: "web")])
        #expect(try texts(c).contains { $0.contains("table=82") && $0.contains("nw_src=10.1.0.6") })
        c.unbind("qvo-2")
        #expect(!(try texts(c)).contains { $0.contains("nw_src=10.1.0.6") })
        // Members bound elsewhere (the group's `members`) count as the bound ones do.
        c.groups[0].members = [AddressPrefix("10.9.0.7")!]
        #expect(try texts(c).contains { $0.contains("table=82") && $0.contains("nw_src=10.9.0.7 actions=conjunction(") })
        // An empty group allows nobody: its conjunction has no member clause to complete it.
        c.ports[0].securityGroups = ["web"]
        c.upsert(SecurityGroup(id: "empty"))
        c.groups[0].rules = [SecurityGroupRule(direction: .ingress, remoteGroupID: "empty")]
        let flows = try texts(c)
        #expect(flows.contains { $0.contains("table=82") && $0.contains("reg5=1 actions=conjunction(") && $0.hasSuffix("2/2)") })
        #expect(!flows.contains { $0.contains("table=82") && $0.hasSuffix("1/2)") })
    }

    /// `count` ports of one network in a group whose rules admit the group's members (Neutron's
    /// default group), and the bridge they are on.
    static func defaultGroup(ports count: Int) -> (SecurityGroupConfiguration, [FirewallBridgePort]) {
        let rules = [SecurityGroupRule(direction: .ingress, remoteGroupID: "default"),
                     SecurityGroupRule(direction: .ingress, ethertype: .ipv6, remoteGroupID: "default"),
                     SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteGroupID: "default")!,
                     SecurityGroupRule(direction: .egress), SecurityGroupRule(direction: .egress, ethertype: .ipv6)]
        var c = SecurityGroupConfiguration(groups: [SecurityGroup(id: "default", rules: rules, members: [AddressPrefix("10.2.0.9")!])])
        var layout: [FirewallBridgePort] = []
        for n in 1...count {
            layout.append(FirewallBridgePort(name: "tap\(n)", ofport: n, tag: 1))
            c.bind(SecurityPort(name: "tap\(n)", mac: MACAddress(rawValue: 0xfa16_3e00_0000 | UInt64(n)),
                                fixedIPs: [AddressPrefix(IPv4Address(rawValue: 0x0a01_0000 | UInt32(n))),
                                           AddressPrefix("fd00::\(String(n, radix: 16))")!],
                                securityGroups: ["default"]))
        }
        return (c, layout)
    }

    @Test func aMemberJoiningAddsOnlyItsOwnFlows() throws {
        func flows(_ n: Int) throws -> Set<String> {
            let (c, layout) = Self.defaultGroup(ports: n)
            return Set(try SecurityGroupCompiler(configuration: c, bridgePorts: layout).flowTexts())
        }
        var added: [Int] = []
        for n in [10, 40] {
            let before = try flows(n), after = try flows(n + 1)
            #expect(before.isSubset(of: after), "a join removes or changes no flow of the others")
            let new = after.subtracting(before)
            let port = n + 1
            let mine = ["reg5=\(port)", "in_port=\(port)", "load:\(port)->", "zone=\(port)", "10.1.0.\(port)",
                        "fd00::\(String(port, radix: 16))", "fa:16:3e:00:00:\(String(format: "%02x", port))", "fe80::"]
            #expect(new.allSatisfy { f in mine.contains { f.contains($0) } }, "\(new.filter { f in !mine.contains { f.contains($0) } })")
            added.append(new.count)
        }
        #expect(added[0] == added[1], "the flows a member adds do not depend on how many members there are: \(added)")
        // A member's address is matched once in the ingress rules, whatever number of ports
        // use the group (per-member flows for each port would be 41 of them).
        let all = try flows(41)
        #expect(all.filter { $0.hasPrefix("table=82,") && $0.contains("nw_src=10.1.0.5 ") }.count == 1)
        #expect(all.filter { $0.hasPrefix("table=82,") && $0.contains("ipv6_src=fd00::5 ") }.count == 1)
    }

    @Test func portWithoutPortSecurityGetsNoFlows() throws {
        var c = Self.config([])
        c.ports[1].portSecurityEnabled = false
        c.ports[1].securityGroups = []
        let flows = try texts(c)
        #expect(!flows.contains { $0.contains("reg5=2") || $0.contains("in_port=2 actions=load:2->NXM_NX_REG5") })
        #expect(flows.contains { $0.contains("reg5=1") })
    }

    @Test func badConfigurationsNameTheField() {
        func refusal(_ c: SecurityGroupConfiguration) -> DatapathConfigurationError? {
            let result = Result { () throws(DatapathConfigurationError) in try SecurityGroupCompiler(configuration: c, bridgePorts: Self.layout).flowTexts() }
            if case .failure(let error) = result { return error }
            return nil
        }
        let cases: [(SecurityGroupRule, String)] = [
            (SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 90, portRangeMax: 80)!, "above"),
            (SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 0, portRangeMax: 80)!, "1-65535"),
            (SecurityGroupRule(direction: .ingress, protocol: "gre", portRangeMin: 1, portRangeMax: 2)!, "port ranges need"),
            (SecurityGroupRule(direction: .ingress, protocol: "icmp", portRangeMin: 300)!, "ICMP type"),
            (SecurityGroupRule(direction: .ingress, ethertype: .ipv6, remoteIPPrefix: AddressPrefix("10.0.0.0/8")), "does not match"),
            (SecurityGroupRule(direction: .ingress, remoteIPPrefix: AddressPrefix("10.0.0.0/8"), remoteGroupID: "web"), "mutually"),
            (SecurityGroupRule(direction: .ingress, remoteGroupID: "nope"), "no security group nope"),
            (SecurityGroupRule(direction: .egress, protocol: "icmpv6")!, "needs ethertype IPv6"),
        ]
        for (rule, words) in cases {
            let e = refusal(Self.config([rule]))
            #expect(e?.message.contains(words) == true, "\(rule): \(String(describing: e))")
            #expect(e?.key == "rules[0]")
        }
        var unbound = Self.config([])
        unbound.ports[0].securityGroups = ["missing"]
        #expect(refusal(unbound)?.key == "security_groups")
        var ghost = Self.config([])
        ghost.bind(SecurityPort(name: "qvo-9", mac: MACAddress("fa:16:3e:00:00:09")!))
        #expect(refusal(ghost)?.message.contains("no port qvo-9") == true)
        #expect(SecurityGroupRule(direction: .ingress, protocol: "bogus") == nil)
        #expect(SecurityGroupRule(direction: .ingress, ethertype: .ipv6, protocol: "icmp")?.ipProtocol == 58)
        #expect(SecurityGroupRule(direction: .ingress, protocol: "132")?.ipProtocol == 132)
    }

    @Test func linkLocalIsEUI64() {
        #expect(SecurityPort.linkLocal(MACAddress("fa:16:3e:12:34:56")!) == IPv6Address("fe80::f816:3eff:fe12:3456")!)
        #expect(SecurityPort.linkLocal(MACAddress("00:00:00:00:00:01")!) == IPv6Address("fe80::200:ff:fe00:1")!)
    }

    @Test func policyMirrorsTheRules() {
        let c = Self.config([
            SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 22, portRangeMax: 22)!,
            SecurityGroupRule(direction: .egress, protocol: "udp")!,
            SecurityGroupRule(direction: .ingress, protocol: "icmp", portRangeMin: 8)!,
        ])
        let policy = SecurityGroupPolicy(configuration: c, bridgePorts: Self.layout)
        let vm1 = IPv4Address(10, 1, 0, 5), outside = IPv4Address(10, 1, 0, 77)
        #expect(policy.allows(.ipv4(zone: 1, source: outside, destination: vm1, proto: 6, sourcePort: 999, destinationPort: 22)))
        #expect(!policy.allows(.ipv4(zone: 1, source: outside, destination: vm1, proto: 6, sourcePort: 999, destinationPort: 23)))
        #expect(policy.allows(.ipv4(zone: 1, source: vm1, destination: outside, proto: 17, sourcePort: 1, destinationPort: 53)))
        #expect(!policy.allows(.ipv4(zone: 1, source: vm1, destination: outside, proto: 6, sourcePort: 1, destinationPort: 53)))
        #expect(policy.allows(.icmp(zone: 1, source: outside, destination: vm1, id: 1)))
        // Zones are per port: qvo-2's zone (2) is on vm1's network, so vm1's ingress rules
        // apply to its copy of a connection toward vm1; a zone that is no filtered
        // port's puts no condition.
        #expect(!policy.allows(.ipv4(zone: 2, source: outside, destination: vm1, proto: 6, sourcePort: 999, destinationPort: 23)))
        #expect(policy.allows(.ipv4(zone: 9, source: outside, destination: vm1, proto: 6, sourcePort: 999, destinationPort: 23)))
        // A filtered port of another network with the same address: its rules, not vm1's.
        var other = c
        other.ports[1].fixedIPs = [AddressPrefix(vm1)]
        let twoNetworks = SecurityGroupPolicy(configuration: other, bridgePorts: [
            FirewallBridgePort(name: "qvo-1", ofport: 1, tag: 1), FirewallBridgePort(name: "qvo-2", ofport: 2, tag: 2)])
        #expect(twoNetworks.allows(.ipv4(zone: 2, source: vm1, destination: outside, proto: 17, sourcePort: 1, destinationPort: 53)))
        #expect(!twoNetworks.allows(.ipv4(zone: 2, source: outside, destination: vm1, proto: 6, sourcePort: 999, destinationPort: 23)))
        // VM to VM: the sender's egress (udp only) and the receiver's ingress (tcp 22) both apply.
        let vm2 = IPv4Address(10, 1, 0, 6)
        #expect(!policy.allows(.ipv4(zone: 1, source: vm1, destination: vm2, proto: 6, sourcePort: 1, destinationPort: 22)))
        #expect(!policy.allows(.ipv4(zone: 1, source: vm1, destination: vm2, proto: 17, sourcePort: 1, destinationPort: 22)))
    }
}
