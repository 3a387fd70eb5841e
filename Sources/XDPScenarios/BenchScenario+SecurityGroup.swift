import XDPDatapath
import XDPPacket

// The `sg` scenarios: a stateful security group with N rules on the VM port, the same
// policy for every peer.
//
// Port `a` (ofport 1) is the outside, port `b` (ofport 2) the VM whose security group has
// N ingress rules; the generator's stream (UDP 10.77.0.1:sport → 10.77.0.2:9) is ingress
// to the VM and is allowed by the last rule only. The other N−1 rules are a mix of what
// Neutron users write (TCP single ports from anywhere, TCP 443 from a /24, UDP port
// ranges — masked `tp_dst` in flows, `--dport a:b` in iptables — and ICMP from a /32), so
// the classifier sees several masks and iptables walks a real chain for a new connection.
//
// Open vSwitch and xdpswitch get the very same OpenFlow text: the security-group
// compiler's output (SecurityGroupCompiler.flowTexts, Neutron's OVS firewall tables
// 0/60/71/72/73/81/82/91/92/94) for the model `securityGroupModel` — the VM port with
// port security (its MAC and fixed IP), the N ingress rules and Neutron's default egress
// rules; both ports access ports of VLAN 100, which is reg6 and the conntrack zone.
// Ingress: table 60 → 81 → `ct(table=82,zone=NXM_NX_REG6[0..15])` → 82: invalid dropped,
// established/related allowed before any rule, a new connection allowed by a rule and
// committed → 92 → output to the VM. The replies: 60 → 71 (anti-spoofing) → ct(table=72)
// → established → 73 → 91 → 94 NORMAL.
//
// The Linux peer does what the reference design's iptables firewall does on its qbr bridge: a Linux
// bridge with br_netfilter, conntrack zones set in raw PREROUTING per bridge port
// (`-j CT --zone`), and per-direction chains: INVALID dropped, RELATED,ESTABLISHED
// accepted, then the rules, then DROP.
//
// Established connections: the measured stream must be one conntrack calls established
// (a one-way UDP stream stays +new in netfilter and in our tracker), so before measuring,
// the bench sends the reply of every flow from the sink (10.77.0.2:9 → 10.77.0.1:sport,
// `primeFrame`), and the measured packets then match the `+est` flows / the
// RELATED,ESTABLISHED rule.
extension BenchScenario {
    /// The conntrack zone (Neutron: the network's local VLAN, reg6) every peer uses.
    public static let securityGroupZone = Int(vlan)

    /// One `sg` scenario with `rules` ingress rules.
    public static func securityGroup(rules: Int) -> BenchScenario {
        var s = BenchScenario(name: "sg-\(rules)", summary: "stateful security group, \(rules) ingress rules, "
                              + "established UDP through conntrack (ct zone \(securityGroupZone))")
        s.securityGroupRules = rules
        return s
    }

    /// The N−1 rules that do not match the generator's traffic, then the one that does:
    /// the Neutron rule, and the same rule as an iptables match (the reference design's iptables driver).
    public static func securityGroupRuleSet(_ rules: Int) -> [(rule: SecurityGroupRule, iptables: String)] {
        var out: [(SecurityGroupRule, String)] = []
        for i in 0..<max(0, rules - 1) {
            let x = i / 4
            switch i % 4 {
            case 0:
                out.append((SecurityGroupRule(direction: .ingress, ipProtocol: 6, portRangeMin: 1000 + x, portRangeMax: 1000 + x),
                            "-p tcp -m tcp --dport \(1000 + x)"))
            case 1:
                out.append((SecurityGroupRule(direction: .ingress, ipProtocol: 6, portRangeMin: 443, portRangeMax: 443,
                                              remoteIPPrefix: AddressPrefix("172.16.\(x % 256).0/24")),
                            "-s 172.16.\(x % 256).0/24 -p tcp -m tcp --dport 443"))
            case 2:
                // A 64-port range starting at a multiple of 64: one masked flow.
                let low = 0x8000 + 64 * x
                out.append((SecurityGroupRule(direction: .ingress, ipProtocol: 17, portRangeMin: low, portRangeMax: low + 63),
                            "-p udp -m udp --dport \(low):\(low + 63)"))
            default:
                let host = "10.200.\(x % 256).\(x / 256 + 1)"
                out.append((SecurityGroupRule(direction: .ingress, ipProtocol: 1, remoteIPPrefix: AddressPrefix(host)),
                            "-s \(host)/32 -p icmp"))
            }
        }
        out.append((SecurityGroupRule(direction: .ingress, ipProtocol: 17, portRangeMin: 9, portRangeMax: 9,
                                      remoteIPPrefix: AddressPrefix("10.77.0.0/24")),
                    "-s 10.77.0.0/24 -p udp -m udp --dport 9"))
        return out
    }

    /// The security-group model: the VM (by default on port `b`, the sink's MAC and
    /// 10.77.0.2; `compute` puts it on `a`) in one group with the N ingress rules and
    /// Neutron's default egress rules (any IPv4, any IPv6).
    public static func securityGroupModel(rules: Int, bridge: String = "br-bench", vm port: String = "b",
                                   mac: [UInt8] = BenchScenario.sinkMAC, address: String = "10.77.0.2") -> SecurityGroupConfiguration {
        let group = SecurityGroup(id: "bench", rules: securityGroupRuleSet(rules).map(\.rule) + [
            SecurityGroupRule(direction: .egress, ethertype: .ipv4), SecurityGroupRule(direction: .egress, ethertype: .ipv6),
        ])
        let vm = SecurityPort(name: port, mac: MACAddress(colon(mac))!, fixedIPs: [AddressPrefix(address)!],
                              securityGroups: ["bench"])
        return SecurityGroupConfiguration(bridge: bridge, groups: [group], ports: [vm])
    }

    /// The OpenFlow flows (ovs-ofctl syntax) for ours and Open vSwitch, from the
    /// security-group compiler (Sources/XDPDatapath/SecurityGroups): ofport 1 is `a` (the
    /// outside), 2 is `b` (the VM), both access ports of VLAN 100 (reg6 and the zone).
    public static func securityGroupFlows(rules: Int) throws -> [String] {
        let ports = [FirewallBridgePort(name: "a", ofport: 1, tag: vlan), FirewallBridgePort(name: "b", ofport: 2, tag: vlan)]
        do {
            return try SecurityGroupCompiler(configuration: securityGroupModel(rules: rules), bridgePorts: ports).flowTexts()
        } catch {
            throw ScenarioError("security-group compiler: \(error)")
        }
    }

    /// `iptables-restore` input for the Linux peer: bridge ports `a` (outside) and `b` (the VM).
    public static func securityGroupIptables(rules: Int, a: String, b: String) -> String {
        var lines = [
            "*raw",
            "-A PREROUTING -m physdev --physdev-in \(a) -j CT --zone \(securityGroupZone)",
            "-A PREROUTING -m physdev --physdev-in \(b) -j CT --zone \(securityGroupZone)",
            "COMMIT",
            "*filter",
            ":FORWARD DROP [0:0]",
            ":sg-ingress - [0:0]",
            ":sg-egress - [0:0]",
            "-A FORWARD -m physdev --physdev-out \(b) --physdev-is-bridged -j sg-ingress",
            "-A FORWARD -m physdev --physdev-in \(b) --physdev-is-bridged -j sg-egress",
        ]
        for chain in ["sg-ingress", "sg-egress"] {
            lines += ["-A \(chain) -m conntrack --ctstate INVALID -j DROP",
                      "-A \(chain) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
            if chain == "sg-ingress" {
                lines += securityGroupRuleSet(rules).map { "-A sg-ingress \($0.iptables) -j ACCEPT" }
                lines.append("-A sg-ingress -j DROP")
            } else {
                lines.append("-A sg-egress -j ACCEPT")
            }
        }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The reply of the generator's stream, sent from the sink to make every flow
    /// established: addresses and MACs swapped, the flows' port in the destination field.
    public func replyFrame(size: Int) -> (frame: [UInt8], portOffset: Int) {
        (ScenarioFrames.udp(destination: Self.generatorMAC, source: Self.sinkMAC, size: size,
                            from: [10, 77, 0, 2], to: [10, 77, 0, 1]), 36)
    }
}
