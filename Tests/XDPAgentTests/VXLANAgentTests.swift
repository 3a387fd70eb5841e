import Testing
import XDPAgent
import XDPDatapath
import XDPModel
import XDPPacket

/// vxlan networks through the agent, as Neutron's Open vSwitch agent programs br-tun for
/// them (ovs_ofctl/br_tun.py with l2population): `vxlan-XXXXXXXX` ports, table 0 sending
/// them to table 4 (VXLAN_TUN_TO_LV), table 4 mapping the VNI to the local VLAN, and
/// unicast/flooding to the vxlan port of each host with the network. A host with gre and
/// vxlan networks has both kinds of port, each network using its own.
@Suite struct VXLANAgentTests {
    static let net2 = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
    static let subnet2 = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
    static let vm3Port = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f"
    static let vm3MAC = "fa:16:3e:33:00:05", vm4MAC = "fa:16:3e:44:00:06"
    static let vni: UInt64 = 1001

    /// compute1 with the reference cloud's net1 (gre, tunnel id 2) and net2 (vxlan, VNI 1001):
    /// the network node has both networks, compute2 only net2. `greToo: false` leaves net1 out.
    static func mixedCompute(greToo: Bool = true) -> HostView {
        var view = ReferenceCloud.compute1
        let net2 = HostView.Network(
            id: net2, name: "net2", networkType: .vxlan, segmentationID: vni, mtu: 1450,
            subnets: [HostView.Subnet(id: subnet2, cidr: "10.2.0.0/24", gatewayIP: "10.2.0.1")],
            remoteHosts: [
                HostView.RemoteHost(host: "network", tunnelIP: ReferenceCloud.networkIP, ports: [
                    HostView.RemotePort(macAddress: "fa:16:3e:00:02:03", ipAddresses: ["10.2.0.3"], deviceOwner: "network:dhcp"),
                ]),
                HostView.RemoteHost(host: "compute2", tunnelIP: ReferenceCloud.compute2IP, ports: [
                    HostView.RemotePort(macAddress: vm4MAC, ipAddresses: ["10.2.0.6"], deviceOwner: "compute:nova"),
                ]),
            ])
        let vm3 = HostView.Port(id: vm3Port, networkID: Self.net2, macAddress: vm3MAC,
                                fixedIPs: [HostView.FixedIP(subnetID: subnet2, ipAddress: "10.2.0.5")],
                                securityGroups: [ReferenceCloud.defaultGroup])
        if greToo {
            // net1 only on the network node here, so each type has its own set of remotes.
            view.networks[0].remoteHosts.removeAll { $0.host == "compute2" }
            view.networks.append(net2)
            view.ports.append(vm3)
        } else {
            view.networks = [net2]
            view.ports = [vm3]
        }
        return view
    }

    /// A vxlan-only compute node: br-tun is the gre layout with table 4 instead of 3, as
    /// Neutron's agent writes it.
    @Test func vxlanNetworkGetsNeutronsVXLANTables() throws {
        let (node, config) = try Compiled.configuration(Self.mixedCompute(greToo: false))
        #expect(node.localVLANs == [Self.net2: 1])
        let tables = try Compiled.flows(config, bridge: "br-tun")
        let text = { (t: Int) in tables[t, default: []].map(\.description) }
        #expect(Compiled.port(config, "vxlan-ac100002")?.type == .vxlan(VXLANOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow)))
        #expect(Compiled.port(config, "vxlan-ac100002")?.ofport == 2)
        #expect(Compiled.port(config, "vxlan-ac100003")?.ofport == 3)
        #expect(Compiled.port(config, "gre-ac100002") == nil)
        #expect(text(0) == ["priority=1,in_port=1 actions=resubmit(,2)", "priority=1,in_port=2 actions=resubmit(,4)",
                            "priority=1,in_port=3 actions=resubmit(,4)", "priority=0 actions=drop"])
        #expect(text(3) == ["table=3, priority=0 actions=drop"])
        #expect(text(4) == ["table=4, priority=1,tun_id=0x3e9 actions=mod_vlan_vid:1,resubmit(,10)", "table=4, priority=0 actions=drop"])
        #expect(Set(text(20)) == [
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:44:00:06 actions=strip_vlan,set_tunnel:0x3e9,output:3",
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:02:03 actions=strip_vlan,set_tunnel:0x3e9,output:2",
            "table=20, priority=0 actions=resubmit(,22)",
        ])
        #expect(text(22) == ["table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x3e9,output:2,output:3",
                             "table=22, priority=0 actions=drop"])
    }

    /// gre and vxlan networks on one host: gre ports first, then vxlan ports; each network's
    /// table-0, 3/4, 20 and 22 flows use its own type's ports.
    @Test func aHostWithGREAndVXLANNetworksHasBothPortKinds() throws {
        let (node, config) = try Compiled.configuration(Self.mixedCompute())
        #expect(node.localVLANs == [ReferenceCloud.net1: 1, Self.net2: 2])
        let tunnelPorts = config.datapath.bridges.first { $0.name == "br-tun" }!.ports.filter { $0.name != "patch-int" }
        #expect(tunnelPorts.map(\.name) == ["gre-ac100002", "vxlan-ac100002", "vxlan-ac100003"])
        #expect(tunnelPorts.map(\.ofport) == [2, 3, 4])
        #expect(tunnelPorts[0].type == .gre(GREOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow)))
        let tables = try Compiled.flows(config, bridge: "br-tun")
        let text = { (t: Int) in tables[t, default: []].map(\.description) }
        #expect(text(0) == ["priority=1,in_port=1 actions=resubmit(,2)", "priority=1,in_port=2 actions=resubmit(,3)",
                            "priority=1,in_port=3 actions=resubmit(,4)", "priority=1,in_port=4 actions=resubmit(,4)",
                            "priority=0 actions=drop"])
        #expect(text(3) == ["table=3, priority=1,tun_id=0x2 actions=mod_vlan_vid:1,resubmit(,10)", "table=3, priority=0 actions=drop"])
        #expect(text(4) == ["table=4, priority=1,tun_id=0x3e9 actions=mod_vlan_vid:2,resubmit(,10)", "table=4, priority=0 actions=drop"])
        #expect(text(22) == ["table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x2,output:2",
                             "table=22, priority=1,dl_vlan=2 actions=strip_vlan,set_tunnel:0x3e9,output:3,output:4",
                             "table=22, priority=0 actions=drop"])
        #expect(text(20).contains("table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:03 actions=strip_vlan,set_tunnel:0x2,output:2"))
        #expect(text(20).contains("table=20, priority=2,dl_vlan=2,dl_dst=fa:16:3e:44:00:06 actions=strip_vlan,set_tunnel:0x3e9,output:4"))
    }

    /// Real frames through the compiled mixed node: the net2 VM's broadcast leaves as VXLAN
    /// (VNI 1001, UDP 4789) to both hosts with net2 and as nothing else; VXLAN from compute2
    /// with VNI 1001 reaches the VM, another VNI does not; net1 still goes over GRE.
    @Test func theCompiledNodeCarriesVXLANAndGRE() throws {
        let dp = try Compiled.datapath(Self.mixedCompute())
        var underlay = try Underlay(dp)
        let tap3 = try #require(dp.port(named: "tap9f8e7d6c-5b"))
        let vm3 = MACAddress(Self.vm3MAC)!, vm4 = MACAddress(Self.vm4MAC)!
        let arp = FrameBuilder.arpRequest(senderMAC: vm3, senderIP: IPv4Address(10, 2, 0, 5), targetIP: IPv4Address(10, 2, 0, 1))
        dp.inject(arp, into: tap3, now: DatapathInstant(nanoseconds: 1_000_000_000))
        let out = underlay.answerARP(now: DatapathInstant(nanoseconds: 1_000_100_000))
        let vxlan = out.compactMap(VXLANFrame.init)
        #expect(vxlan.count == out.count, "nothing but VXLAN leaves for net2")
        #expect(Set(vxlan.map(\.destination)) == [IPv4Address(172, 16, 0, 2), IPv4Address(172, 16, 0, 3)])
        #expect(vxlan.allSatisfy { $0.vni == 1001 && $0.port == 4789 && $0.inner == arp })

        let reply = FrameBuilder.arpReply(senderMAC: vm4, senderIP: IPv4Address(10, 2, 0, 6), targetMAC: vm3, targetIP: IPv4Address(10, 2, 0, 5))
        dp.inject(underlay.vxlan(from: ReferenceCloud.compute2IP, vni: 1001, inner: reply), into: underlay.port, now: DatapathInstant(nanoseconds: 2_000_000_000))
        #expect(dp.drainTransmitted(tap3) == [reply])
        dp.inject(underlay.vxlan(from: ReferenceCloud.compute2IP, vni: 1002, inner: reply), into: underlay.port, now: DatapathInstant(nanoseconds: 3_000_000_000))
        dp.inject(underlay.vxlan(from: ReferenceCloud.compute2IP, vni: 2, inner: reply), into: underlay.port, now: DatapathInstant(nanoseconds: 3_000_000_000))
        #expect(dp.drainTransmitted(tap3).isEmpty, "another VNI, or net1's segment over VXLAN, is not net2")

        let tap1 = try #require(dp.port(named: "tapa1b2c3d4-e5"))
        let arp1 = FrameBuilder.arpRequest(senderMAC: MACAddress(ReferenceCloud.vm1MAC)!, senderIP: IPv4Address(10, 1, 0, 2),
                                           targetIP: IPv4Address(10, 1, 0, 1))
        dp.inject(arp1, into: tap1, now: DatapathInstant(nanoseconds: 4_000_000_000))
        let gre = underlay.answerARP(now: DatapathInstant(nanoseconds: 4_000_100_000)).compactMap(GREFrame.init)
        #expect(gre.map(\.destination) == [IPv4Address(172, 16, 0, 2)] && gre.first?.key == 2 && gre.first?.inner == arp1)
    }
}

extension Underlay {
    /// A VXLAN packet from `remote` to us carrying `inner` with `vni`.
    func vxlan(from remote: String, vni: UInt32, inner: [UInt8]) -> [UInt8] {
        let local = datapath.underlay!
        return FrameBuilder().ethernet(source: Self.mac(of: remote), destination: local.mac)
            .ipv4(source: IPv4Address(remote)!, destination: local.configuration.address, dontFragment: true)
            .udp(sourcePort: 50000, destinationPort: 4789, checksum: false).vxlan(vni: vni).payload(inner).build()
    }
}

/// A VXLAN frame on the underlay, taken apart.
struct VXLANFrame {
    var destination: IPv4Address
    var port: UInt16
    var vni: UInt32
    var inner: [UInt8]

    init?(_ frame: [UInt8]) {
        guard frame.count >= 50, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 17, frame[42] == 0x08 else { return nil }
        destination = IPv4Address(frame[30], frame[31], frame[32], frame[33])
        port = UInt16(frame[36]) << 8 | UInt16(frame[37])
        vni = frame[46..<49].reduce(0) { $0 << 8 | UInt32($1) }
        inner = Array(frame[50...])
    }
}
