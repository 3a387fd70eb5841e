import Benchmark
import XDPDatapath
import XDPPacket

// Security groups as the feature compiles them (SecurityGroupCompiler: Neutron's OVS
// firewall tables with ct()), not hand-written flows.
//
// br-int: `vm` (ofport 1, filtered, a group with N ingress rules — TCP single ports,
// UDP ranges, ICMP, prefixes — and egress allowed) and `ext` (ofport 2, no port
// security), both on local VLAN 1 (conntrack zone 1). Before measuring, `vm` opens 64
// UDP connections to `ext` (committed by its egress rules); the measured packets are
// `ext`'s replies: table 0 → 60 (vm's MAC) → 81 → ct(table=82) → +est → 92 → output.
// A second case measures the egress path of the same connections (vm → ext: 0 → 60 →
// 71 anti-spoofing → ct(table=72) → +est → 73 → 91 → 94 NORMAL).

func securityGroupBenchmarks() {
    let vmMAC = MACAddress("fa:16:3e:00:00:01")!, extMAC = MACAddress("fa:16:3e:00:00:02")!
    let vmIP = IPv4Address(10, 1, 0, 5), extIP = IPv4Address(10, 1, 0, 6)
    for n in [10, 100] {
        let rules = benchSecurityGroupRules(n)
        let sg = SecurityGroupConfiguration(groups: [SecurityGroup(id: "bench", rules: rules)], ports: [
            SecurityPort(name: "vm", mac: vmMAC, fixedIPs: [AddressPrefix(vmIP)], securityGroups: ["bench"]),
        ])
        let layout = [FirewallBridgePort(name: "vm", ofport: 1, tag: 1), FirewallBridgePort(name: "ext", ofport: 2, tag: 1)]
        let flows = try! SecurityGroupCompiler(configuration: sg, bridgePorts: layout).flowTexts()
        let config = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "vm", ofport: 1, tag: 1), PortConfiguration(name: "ext", ofport: 2, tag: 1)], flows: flows)])
        func udp(_ i: Int, reply: Bool) -> [UInt8] {
            let sport = UInt16(1000 + i)
            let frame = FrameBuilder().ethernet(source: reply ? extMAC : vmMAC, destination: reply ? vmMAC : extMAC)
                .ipv4(source: reply ? extIP : vmIP, destination: reply ? vmIP : extIP)
                .udp(sourcePort: reply ? 53 : sport, destinationPort: reply ? sport : 53).build()
            return frame + Array(repeating: 0, count: max(0, 60 - frame.count))
        }
        let opens = (0..<64).map { (udp($0, reply: false), "vm") }
        let ingress = Rig(configuration: config, input: "ext", templates: (0..<64).map { udp($0, reply: true) }, learn: opens)
        precondition(ingress.datapath.conntrack?.connectionCount == 64)
        pipeline("Security group (compiled, \(n) rules): established ingress 64B x64000", output: "vm", ingress)
        // The replies above made the connections established both ways; the egress case
        // needs the same (the first packets are +new until a reply is seen).
        let replies = (0..<64).map { (udp($0, reply: true), "ext") }
        let egress = Rig(configuration: config, input: "vm", templates: (0..<64).map { udp($0, reply: false) }, learn: opens + replies)
        precondition(egress.datapath.conntrack?.connectionCount == 64)
        pipeline("Security group (compiled, \(n) rules): established egress 64B x64000", output: "ext", egress)
    }
}

/// The benchmarks' security group: egress allowed, then `n` ingress rules (TCP single
/// ports, UDP ranges, TCP 443 from prefixes, ICMP from addresses), the last UDP 9.
func benchSecurityGroupRules(_ n: Int) -> [SecurityGroupRule] {
    var rules = [SecurityGroupRule(direction: .egress)]
    for i in 0..<(n - 1) {
        switch i % 4 {
        case 0: rules.append(SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 1000 + i, portRangeMax: 1000 + i)!)
        case 1: rules.append(SecurityGroupRule(direction: .ingress, protocol: "udp", portRangeMin: 2000 + i * 10,
                                               portRangeMax: 2005 + i * 10)!)
        case 2: rules.append(SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 443, portRangeMax: 443,
                                               remoteIPPrefix: AddressPrefix("192.0.\(i % 250).0/24"))!)
        default: rules.append(SecurityGroupRule(direction: .ingress, protocol: "icmp", remoteIPPrefix: AddressPrefix("198.51.100.\(i % 250)"))!)
        }
    }
    rules.append(SecurityGroupRule(direction: .ingress, protocol: "udp", portRangeMin: 9, portRangeMax: 9)!)
    return rules
}
