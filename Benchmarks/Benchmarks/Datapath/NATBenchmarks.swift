import Benchmark
import XDPDatapath
import XDPScenarios

// The router with NAT: the `snat` and `fip` scenarios of the veth bench (BenchScenario+NAT:
// Neutron's router namespace in the datapath, br-int with the VM side and `qr-`, br-ex with
// the external side and `qg-`), the same stages `xdpswitch bench-micro` counts.
//
// - SNAT: VM 10.77.0.1 on br-int → external host 10.78.0.2 on br-ex, leaving as the
//   router's gateway address 10.78.0.1.
// - Floating IP: external host 10.78.0.2 → floating IP 10.78.0.100, translated to the
//   VM's fixed address 10.77.0.2.
// Before measuring, the receiving host's ARP request to the router teaches the router
// its MAC, and one packet sets the connection up; the measured packets are that
// connection's. Per packet = metric / 64,000, as in DatapathBenchmarks.swift.

func natBenchmarks() {
    for name in ["snat", "fip"] {
        let rig = rig(name)
        precondition(rig.datapath.port(named: "b")!.stats.txPackets >= 1, "the first packet went through the router")
        pipeline(name == "snat" ? "Router SNAT: br-int VM -> qr -> SNAT -> qg -> br-ex host 64B x64000"
                                : "Router floating IP: br-ex host -> qg -> DNAT -> qr -> br-int VM 64B x64000", rig)
    }
}
