import XDPPacket

// br-tun as Neutron's Open vSwitch agent programs it for GRE and VXLAN with l2population
// (neutron/plugins/ml2/drivers/openvswitch/agent/openflow/ovs_ofctl/br_tun.py), table by
// table:
//
//   0   priority=1,in_port=<patch-int> → resubmit(,2); priority=1,in_port=<gre port> →
//       resubmit(,3) and in_port=<vxlan port> → resubmit(,4) per tunnel; priority=0 drop
//   2   from br-int: [ARP broadcast → 21 with the ARP responder]; unicast → 20;
//       multicast/broadcast → 22
//   3   priority=1,tun_id=<segment> → mod_vlan_vid:<local VLAN>,resubmit(,10) per gre
//       network; priority=0 drop
//   4   the same for vxlan networks (tun_id = the VNI)
//   10  learn the sender (table 20, hard_timeout=300: VLAN + MAC → set the tunnel id,
//       output to the tunnel it came from), then output to patch-int
//   20  priority=2,dl_vlan=<local>,dl_dst=<remote port's MAC> → strip_vlan,set_tunnel,
//       output to the host's tunnel of the network's type (l2population); priority=0 → 22
//   21  the ARP responder (priority=1 per remote address; priority=0 → 22)
//   22  priority=1,dl_vlan=<local> → strip_vlan,set_tunnel, output to the tunnel of the
//       network's type of each host with the network; priority=0 drop
//
// Tunnel ports are per type and remote host, as Neutron's (`gre-ac100002`,
// `vxlan-ac100002`): a host with both gre and vxlan networks toward a remote has both.
// A network no other host has gets no table-22 flow: its broadcasts stay on the node.
extension NodePlan {
    /// Neutron's br-tun table numbers.
    enum TunnelTable {
        static let local = 0, patchToTunnel = 2, greToLocal = 3, vxlanToLocal = 4, learn = 10
        static let unicast = 20, arpResponder = 21, flood = 22

        /// The table a tunnel of `type` hands its packets to (Neutron's `TUN_TABLE`).
        static func toLocal(_ type: HostView.NetworkType) -> Int { type == .vxlan ? vxlanToLocal : greToLocal }
    }

    /// One tunnel port of br-tun: its type (`gre` or `vxlan`) and remote endpoint.
    struct TunnelPort: Hashable, Comparable {
        var type: HostView.NetworkType
        var remote: IPv4Address

        /// gre ports before vxlan ports, each in address order.
        static func < (a: TunnelPort, b: TunnelPort) -> Bool {
            (a.type == .vxlan ? 1 : 0, a.remote) < (b.type == .vxlan ? 1 : 0, b.remote)
        }

        /// The port's name: the type and the remote address in hex (Neutron's naming).
        var name: String { "\(type.rawValue)-" + String(remote.rawValue, radix: 16).leftPadded(to: 8) }
    }

    /// The tunnel ports of the tunnelled networks present on the node, each with its br-tun
    /// OpenFlow port (2, 3, …: gre ports in address order, then vxlan ports).
    func tunnelPorts(localNetworks: [HostView.Network]) -> [TunnelPort: Int] {
        var ports = Set<TunnelPort>()
        for network in localNetworks where network.networkType.isTunnelled {
            for host in network.remoteHosts { ports.insert(TunnelPort(type: network.networkType, remote: IPv4Address(host.tunnelIP)!)) }
        }
        var ofports: [TunnelPort: Int] = [:]
        for (i, port) in ports.sorted().enumerated() { ofports[port] = NodeCompiler.patchIntOfport + 1 + i }
        return ofports
    }

    func tunnelBridge(localNetworks: [HostView.Network]) -> Bridge {
        let patch = NodeCompiler.patchIntOfport
        let tunnels = tunnelPorts(localNetworks: localNetworks)
        var bridge = Bridge(name: "br-tun")
        bridge.ports.append(Port(name: "patch-int", fields: .map(["name": .string("patch-int"), "type": .string("patch"),
                                                                  "ofport": .int(patch), "options": .map(["peer": .string("patch-tun")])])))
        for (port, ofport) in tunnels.sorted(by: { $0.value < $1.value }) {
            bridge.ports.append(Port(name: port.name, fields: .map(["name": .string(port.name), "type": .string(port.type.rawValue),
                                                                    "ofport": .int(ofport),
                                                                    "options": .map(["remote_ip": .string("\(port.remote)"), "key": .string("flow")])])))
        }
        typealias T = TunnelTable
        var flows: [String] = []
        flows.append("table=\(T.local),priority=1,in_port=\(patch) actions=resubmit(,\(T.patchToTunnel))")
        for (port, ofport) in tunnels.sorted(by: { $0.value < $1.value }) {
            flows.append("table=\(T.local),priority=1,in_port=\(ofport) actions=resubmit(,\(T.toLocal(port.type)))")
        }
        flows.append("table=\(T.local),priority=0 actions=drop")
        if options.arpResponder {
            flows.append("table=\(T.patchToTunnel),priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,\(T.arpResponder))")
        }
        flows.append("table=\(T.patchToTunnel),priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,\(T.unicast))")
        flows.append("table=\(T.patchToTunnel),priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,\(T.flood))")
        let tunnelled = localNetworks.filter { $0.networkType.isTunnelled }.sorted { vlans[$0.id]! < vlans[$1.id]! }
        for type in [HostView.NetworkType.gre, .vxlan] {
            for network in tunnelled where network.networkType == type {
                flows.append("table=\(T.toLocal(type)),priority=1,tun_id=\(hex(network.segmentationID!)) "
                    + "actions=mod_vlan_vid:\(vlans[network.id]!),resubmit(,\(T.learn))")
            }
            flows.append("table=\(T.toLocal(type)),priority=0 actions=drop")
        }
        flows.append("table=\(T.learn),priority=1 actions=learn(table=\(T.unicast),hard_timeout=300,priority=1,"
            + "NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"
            + "load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:\(patch)")
        /// The br-tun port of `host` for `network`'s tunnel type.
        let ofport = { (network: HostView.Network, host: HostView.RemoteHost) in
            tunnels[TunnelPort(type: network.networkType, remote: IPv4Address(host.tunnelIP)!)]!
        }
        for network in tunnelled {
            let local = vlans[network.id]!
            let toTunnel = "strip_vlan,set_tunnel:\(hex(network.segmentationID!))"
            var macs = Set<MACAddress>()
            for host in network.remoteHosts.sorted(by: { $0.host < $1.host }) {
                for port in host.ports {
                    let mac = MACAddress(port.macAddress)!
                    guard macs.insert(mac).inserted else { continue }
                    flows.append("table=\(T.unicast),priority=2,dl_vlan=\(local),dl_dst=\(mac) actions=\(toTunnel),output:\(ofport(network, host))")
                }
            }
        }
        flows.append("table=\(T.unicast),priority=0 actions=resubmit(,\(T.flood))")
        if options.arpResponder {
            for network in tunnelled {
                let local = vlans[network.id]!
                var answered = Set<IPv4Address>()
                for host in network.remoteHosts.sorted(by: { $0.host < $1.host }) {
                    for port in host.ports {
                        let mac = MACAddress(port.macAddress)!
                        for address in port.ipAddresses.compactMap(IPv4Address.init) where answered.insert(address).inserted {
                            flows.append(Self.arpResponderFlow(table: T.arpResponder, vlan: local, address: address, mac: mac))
                        }
                    }
                }
            }
            flows.append("table=\(T.arpResponder),priority=0 actions=resubmit(,\(T.flood))")
        }
        for network in tunnelled {
            let outputs = Set(network.remoteHosts.map { ofport(network, $0) }).sorted()
            guard !outputs.isEmpty else { continue }
            flows.append("table=\(T.flood),priority=1,dl_vlan=\(vlans[network.id]!) actions=strip_vlan,set_tunnel:\(hex(network.segmentationID!)),"
                + outputs.map { "output:\($0)" }.joined(separator: ","))
        }
        flows.append("table=\(T.flood),priority=0 actions=drop")
        bridge.flows = flows
        return bridge
    }

    /// Neutron's ARP responder entry: the request turned into the reply in place and sent
    /// back where it came from.
    static func arpResponderFlow(table: Int, vlan: UInt16, address: IPv4Address, mac: MACAddress) -> String {
        "table=\(table),priority=1,arp,dl_vlan=\(vlan),arp_tpa=\(address) actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            + "mod_dl_src:\(mac),load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
            + "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x\(String(mac.rawValue, radix: 16))->NXM_NX_ARP_SHA[],"
            + "load:0x\(String(address.rawValue, radix: 16))->NXM_OF_ARP_SPA[],IN_PORT"
    }

    func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
