import Benchmark
import XDPDatapath
import XDPScenarios

// A compute node's whole path for a VM's traffic to a VM on another node, as Neutron's
// OVS agent builds it: the veth bench's `compute` scenario (BenchScenario+Compute), the
// same stage `xdpswitch bench-micro` counts.
//
//   VM (br-int `a`, local VLAN 100, its security group: SecurityGroupCompiler's firewall
//   flows) table 0 → 60 → 71 anti-spoofing → ct(table=72) +est → 73 → 91 → 94 NORMAL →
//   patch-tun → br-tun (Neutron's GRE tables with l2population's entry for the remote VM):
//   0 → 2 → 20 → strip the tag, tun_id 1001, output to the gre port → GRE key 1001
//   encapsulated, queued on the underlay interface `b`.
//
// Before measuring, the VM's stream is made established (one frame, the remote's GRE
// reply through br-tun and br-int back to the VM); `ComputePathCheck` first checks the
// path frame by frame (the frame leaves GRE-encapsulated with key 1001, the reply reaches
// the VM untagged, the next frame is +est). Per packet = metric / 64,000.

func computeBenchmarks() {
    let rig = rig("compute")
    let start = DatapathInstant(nanoseconds: 1_000_000_000)
    let check = ComputePathCheck(datapath: try! Datapath(configuration: rig.scenario.configuration,
                                                         pool: FramePool(frameCount: 256), now: start),
                                 a: "a", b: "b", now: start)
    precondition(check.problems.isEmpty, "compute path: \(check.problems)")
    pipeline("Compute: VM (security group, 5 rules, established) -> br-int -> patch -> br-tun -> GRE 64B x64000", rig)
}
