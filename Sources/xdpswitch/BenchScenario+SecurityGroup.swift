import XDPSwitch

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
// Open vSwitch and xdpswitch get the very same OpenFlow text, in the style of Neutron's OVS
// firewall driver: the network's zone loaded into reg6 in table 0, `ct(table=…,
// zone=NXM_NX_REG6[0..15])` to send the packet through conntrack, the rules tables 72
// (egress) and 82 (ingress) with `ct_state` matches — invalid dropped, established and
// related allowed before any rule, new connections allowed by a rule committed with
// `ct(commit,zone=…)`, everything else dropped. Egress (the VM's replies) is allowed to
// anyone, as Neutron's default group does.
//
// The Linux peer does what the seed's iptables firewall does on its qbr bridge: a Linux
// bridge with br_netfilter, conntrack zones set in raw PREROUTING per bridge port
// (`-j CT --zone`), and per-direction chains: INVALID dropped, RELATED,ESTABLISHED
// accepted, then the rules, then DROP.
//
// Established connections: the measured stream must be one conntrack calls established
// (a one-way UDP stream stays +new in netfilter and in our tracker), so before measuring,
// the bench sends the reply of every flow from the sink (10.77.0.2:9 → 10.77.0.1:sport,
// `primeReplies`), and the measured packets then match the `+est` flows / the
// RELATED,ESTABLISHED rule.
extension BenchScenario {
    /// The conntrack zone (Neutron: the network's local VLAN) every peer uses.
    static let securityGroupZone = 1

    /// One `sg` scenario with `rules` ingress rules.
    static func securityGroup(rules: Int) -> BenchScenario {
        var s = BenchScenario(name: "sg-\(rules)", summary: "stateful security group, \(rules) ingress rules, "
                              + "established UDP through conntrack (ct zone \(securityGroupZone))")
        s.securityGroupRules = rules
        s.primeReplies = true
        return s
    }

    /// The N−1 rules that do not match the generator's traffic, then the one that does,
    /// as (OpenFlow match, iptables match) pairs.
    static func securityGroupRuleMatches(_ rules: Int) -> [(flow: String, iptables: String)] {
        var out: [(String, String)] = []
        for i in 0..<max(0, rules - 1) {
            let x = i / 4
            switch i % 4 {
            case 0:
                out.append(("tcp,tp_dst=\(1000 + x)", "-p tcp -m tcp --dport \(1000 + x)"))
            case 1:
                out.append(("tcp,nw_src=172.16.\(x % 256).0/24,tp_dst=443", "-s 172.16.\(x % 256).0/24 -p tcp -m tcp --dport 443"))
            case 2:
                // A 64-port range starting at a multiple of 64: one masked flow, as Neutron compiles it.
                let low = 0x8000 + 64 * x
                out.append(("udp,tp_dst=0x\(String(low, radix: 16))/0xffc0", "-p udp -m udp --dport \(low):\(low + 63)"))
            default:
                out.append(("icmp,nw_src=10.200.\(x % 256).\(x / 256 + 1)", "-s 10.200.\(x % 256).\(x / 256 + 1)/32 -p icmp"))
            }
        }
        out.append(("udp,nw_src=10.77.0.0/24,tp_dst=9", "-s 10.77.0.0/24 -p udp -m udp --dport 9"))
        return out
    }

    /// The OpenFlow flows (ovs-ofctl syntax) for ours and Open vSwitch: ofport 1 is `a`
    /// (outside), 2 is `b` (the VM).
    static func securityGroupFlows(rules: Int) -> [String] {
        let zone = "zone=NXM_NX_REG6[0..15]"
        var flows = [
            "table=0,priority=100,ip,in_port=1 actions=load:\(securityGroupZone)->NXM_NX_REG6[0..15],ct(table=82,\(zone))",
            "table=0,priority=100,ip,in_port=2 actions=load:\(securityGroupZone)->NXM_NX_REG6[0..15],ct(table=72,\(zone))",
            "table=0,priority=0 actions=drop",
        ]
        for (table, out) in [(72, 1), (82, 2)] {
            flows += [
                "table=\(table),priority=90,ct_state=+inv+trk actions=drop",
                "table=\(table),priority=80,ct_state=+est-rel-inv+trk actions=output:\(out)",
                "table=\(table),priority=80,ct_state=-new+rel-inv+trk actions=output:\(out)",
            ]
            if table == 72 {
                flows.append("table=72,priority=70,ct_state=+new-est+trk,ip actions=ct(commit,\(zone)),output:1")
            } else {
                for rule in securityGroupRuleMatches(rules) {
                    flows.append("table=82,priority=70,ct_state=+new-est+trk,\(rule.flow) actions=ct(commit,\(zone)),output:2")
                }
            }
            flows.append("table=\(table),priority=0 actions=drop")
        }
        return flows
    }

    /// `iptables-restore` input for the Linux peer: bridge ports `a` (outside) and `b` (the VM).
    static func securityGroupIptables(rules: Int, a: String, b: String) -> String {
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
                lines += securityGroupRuleMatches(rules).map { "-A sg-ingress \($0.iptables) -j ACCEPT" }
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
    func replyFrame(size: Int) -> (frame: [UInt8], portOffset: Int) {
        var f = TrafficGenerator.udpFrame(destination: BenchLab.generatorMAC, source: BenchLab.sinkMAC, size: size)
        // 10.77.0.1 → 10.77.0.2 becomes 10.77.0.2 → 10.77.0.1 (the IPv4 checksum is unchanged).
        for i in 0..<4 { f.swapAt(26 + i, 30 + i) }
        return (f, 36)
    }
}
