import Benchmark
import XDPDatapath
import XDPPacket
#if canImport(Glibc)
import Glibc
#endif

// A compute node's whole path for a VM's traffic to a VM on another node, as Neutron's
// OVS agent builds it:
//
//   vm (br-int, local VLAN 1, a security group: SecurityGroupCompiler's firewall flows)
//     table 0 → 60 → 71 anti-spoofing → ct(table=72, zone 1) +est → 73 → 91 → 94 NORMAL
//   → NORMAL: the remote VM's MAC is learned on patch-tun → tag 1 pushed → patch-tun
//   → br-tun (Neutron's GRE tables): 0 in_port=patch-int → 2 unicast → 20, the flow
//     learned from the remote VM's traffic: strip the tag, tun_id 2, output to gre-1
//   → GRE key 2 encapsulated, queued on the underlay interface eth1.
//
// Before measuring, as a real connection would: the remote VM's ARP request arrives
// through the tunnel (br-tun learns its MAC in table 20, br-int's NORMAL learns it on
// patch-tun), the VM opens 64 UDP connections (committed by its egress rules) and the
// 64 replies come back through the tunnel (decapsulated, table 3 → 10 → patch-int →
// br-int 60 → 81 → ct +est → 92 → vm), so every measured packet is +est.
// Per packet = metric / 64,000, as in DatapathBenchmarks.swift.

func computeBenchmarks() {
    let vmMAC = MACAddress("fa:16:3e:00:00:01")!, remoteMAC = MACAddress("fa:16:3e:00:00:02")!
    let vmIP = IPv4Address(10, 1, 0, 5), remoteIP = IPv4Address(10, 1, 0, 6)
    let wireMAC = MACAddress("02:00:00:00:00:01")!, remoteWireMAC = MACAddress("02:00:00:00:00:02")!
    let wireIP = IPv4Address(172, 16, 0, 1), remoteWireIP = IPv4Address(172, 16, 0, 2)

    let sg = SecurityGroupConfiguration(groups: [SecurityGroup(id: "bench", rules: benchSecurityGroupRules(10))], ports: [
        SecurityPort(name: "vm", mac: vmMAC, fixedIPs: [AddressPrefix(vmIP)], securityGroups: ["bench"]),
    ])
    let layout = [FirewallBridgePort(name: "vm", ofport: 1, tag: 1), FirewallBridgePort(name: "patch-tun", ofport: 2, tag: 0)]
    let brIntFlows = try! SecurityGroupCompiler(configuration: sg, bridgePorts: layout).flowTexts()
    // Neutron's br-tun for GRE (ovs_neutron_agent / br_tun.py): patch-int is ofport 1,
    // the tunnel port 2, network segmentation id 2 on local VLAN 1.
    let brTunFlows = [
        "table=0,priority=1,in_port=1 actions=resubmit(,2)",
        "table=0,priority=1,in_port=2 actions=resubmit(,3)",
        "table=0,priority=0 actions=drop",
        "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)",
        "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)",
        "table=3,priority=1,tun_id=0x2 actions=mod_vlan_vid:1,resubmit(,10)",
        "table=3,priority=0 actions=drop",
        "table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],"
            + "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],"
            + "output:OXM_OF_IN_PORT[]),output:1",
        "table=20,priority=0 actions=resubmit(,22)",
        "table=22,priority=1,dl_vlan=1 actions=strip_vlan,load:0x2->NXM_NX_TUN_ID[],output:2",
        "table=22,priority=0 actions=drop",
    ]
    let config = DatapathConfiguration(bridges: [
        BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "vm", ofport: 1, tag: 1),
            PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int"), ofport: 2),
        ], flows: brIntFlows),
        BridgeConfiguration(name: "br-tun", ports: [
            PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun"), ofport: 1),
            PortConfiguration(name: "gre-1", type: .gre(GREOptions(remoteIP: remoteWireIP, key: .flow)), ofport: 2),
        ], flows: brTunFlows),
    ], underlay: UnderlayConfiguration(interface: "eth1", address: wireIP, prefixLength: 24, mac: wireMAC,
                                       neighbours: [remoteWireIP: remoteWireMAC]))

    func udp(_ i: Int, reply: Bool) -> [UInt8] {
        let sport = UInt16(1000 + i)
        let frame = FrameBuilder().ethernet(source: reply ? remoteMAC : vmMAC, destination: reply ? vmMAC : remoteMAC)
            .ipv4(source: reply ? remoteIP : vmIP, destination: reply ? vmIP : remoteIP)
            .udp(sourcePort: reply ? 53 : sport, destinationPort: reply ? sport : 53).build()
        return frame + Array(repeating: 0, count: max(0, 60 - frame.count))
    }
    /// `inner` as the remote node sends it: GRE key 2 from its underlay address.
    func fromTunnel(_ inner: [UInt8]) -> [UInt8] {
        FrameBuilder().ethernet(source: remoteWireMAC, destination: wireMAC)
            .ipv4(source: remoteWireIP, destination: wireIP, dontFragment: true)
            .gre(key: 2, protocolType: .transparentEthernetBridging).payload(inner).build()
    }
    let arp = fromTunnel(FrameBuilder.arpRequest(senderMAC: remoteMAC, senderIP: remoteIP, targetIP: vmIP))
    let opens = (0..<64).map { (udp($0, reply: false), "vm") }
    let replies = (0..<64).map { (fromTunnel(udp($0, reply: true)), "eth1") }
    let rig = Rig(configuration: config, input: "vm", templates: (0..<64).map { udp($0, reply: false) },
                  learn: [(arp, "eth1")] + opens + replies)
    precondition(rig.datapath.conntrack?.connectionCount == 64)
    precondition(rig.datapath.port(named: "vm")!.stats.txPackets == 65, "the ARP request and the 64 replies reached the VM")

    // One batch by hand: all 64 leave the underlay as GRE key 2 around the untagged frame.
    rig.refill()
    rig.datapath.process(rig.batch, from: rig.input.id, now: 2)
    let wire = rig.datapath.port(named: "eth1")!.txQueue
    precondition(wire.count == batchSize, "the measured frames leave on eth1: \(rig.datapath.statsDescription())")
    for i in 0..<wire.count {
        let p = rig.pool.pointer(wire.addresses[i])
        let expected = udp(i, reply: false)
        precondition(Int(wire.lengths[i]) == 42 + expected.count && p.loadBE16(at: 12) == 0x0800 && p.loadBE8(at: 23) == 47
                     && p.loadBE32(at: 30) == remoteWireIP.rawValue && p.loadBE32(at: 38) == 2
                     && memcmp(p + 42, expected, expected.count) == 0, "frame \(i) is GRE key 2 around the VM's frame")
    }
    rig.recycle()

    pipeline("Compute: VM (security group, 10 rules, established) -> br-int -> patch -> br-tun -> GRE 64B x64000",
             output: "eth1", rig)
}
