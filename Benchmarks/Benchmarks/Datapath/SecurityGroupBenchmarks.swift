import Benchmark
import XDPDatapath
import XDPScenarios

// Security groups as the feature compiles them (SecurityGroupCompiler: Neutron's OVS
// firewall tables with ct()), not hand-written flows: the veth bench's `sg-N` scenarios
// (BenchScenario+SecurityGroup), the same stages `xdpswitch bench-micro` counts.
//
// br `a` (ofport 1, the outside) and `b` (ofport 2, the VM, its group with N ingress
// rules — TCP single ports, TCP 443 from prefixes, UDP ranges, ICMP from addresses, the
// last UDP 9 — and egress allowed), both on VLAN 100 (the conntrack zone). Before
// measuring, one connection is opened from `a` and answered by the VM, so it is
// established both ways; the measured packets are the VM's established ingress
// (0 → 60 → 81 → ct(table=82) → +est → 92 → output), and in a second case its replies,
// the established egress (0 → 60 → 71 anti-spoofing → ct(table=72) → +est → 73 → 91 →
// 94 NORMAL).

func securityGroupBenchmarks() {
    for n in [10, 100] {
        let ingress = try! ScenarioRig(PipelineScenario.securityGroup(rules: n))
        precondition(ingress.datapath.conntrack?.connectionCount == 1)
        pipeline("Security group (compiled, \(n) rules): established ingress 64B x64000", ingress)
        let egress = try! ScenarioRig(PipelineScenario.securityGroup(rules: n, egress: true))
        precondition(egress.datapath.conntrack?.connectionCount == 1)
        pipeline("Security group (compiled, \(n) rules): established egress 64B x64000", egress)
    }
}
