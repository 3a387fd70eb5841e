import Foundation
import Testing
import XDPAgent
import XDPDatapath
import XDPModel
import XDPPacket

/// Local VLANs, l2population, provider networks and tenants, compiled and run.
@Suite struct NodeCompilerTests {
    static func network(_ id: String, segment: UInt64, cidr: String = "10.1.0.0/24", remote: [HostView.RemoteHost] = []) -> HostView.Network {
        HostView.Network(id: id, networkType: .gre, segmentationID: segment,
                         subnets: [HostView.Subnet(id: "sub-\(id)", cidr: cidr, gatewayIP: cidr.replacingOccurrences(of: ".0/24", with: ".1"))],
                         remoteHosts: remote)
    }

    static func port(_ id: String, network: String, mac: String, ip: String, groups: [String] = []) -> HostView.Port {
        HostView.Port(id: id, networkID: network, macAddress: mac, fixedIPs: [HostView.FixedIP(subnetID: "sub-\(network)", ipAddress: ip)],
                      securityGroups: groups, portSecurityEnabled: !groups.isEmpty)
    }

    /// A compute node with one VM port on each of `networks`.
    static func compute(_ networks: [HostView.Network], revision: UInt64 = 1) -> HostView {
        let ports = networks.enumerated().map { i, n in
            port("port-\(n.id)-vm", network: n.id, mac: String(format: "fa:16:3e:00:01:%02x", i + 1), ip: "10.1.0.\(10 + i)")
        }
        return HostView(revision: revision, host: HostView.Host(name: "compute1", role: .compute, tunnel: ReferenceCloud.tunnel("172.16.0.1")),
                        networks: networks, ports: ports)
    }

    /// A host registered with neither tunnel nor bridge mapping and no port yet compiles to a
    /// node that loads: br-int with an empty port list (found by fuzz-api: it was a null).
    @Test func aHostWithNothingYetCompilesToANodeThatLoads() throws {
        let view = HostView(revision: 1, host: HostView.Host(name: "compute2", role: .compute))
        let (node, configuration) = try Compiled.configuration(view)
        #expect(node.yaml.contains("ports: []"))
        #expect(configuration.datapath.bridges.map(\.name) == ["br-int"])
        #expect(configuration.datapath.bridges.first?.ports.isEmpty == true)
    }

    /// A subnet whose gateway lies outside its CIDR (Neutron accepts it; found by fuzz-api,
    /// the agent refused the view): DHCP tells clients an on-link route to it, as Neutron's
    /// DHCP agent does, and a router whose external subnet's gateway is off-link gets no
    /// default route. The node loads.
    @Test func aGatewayOutsideItsSubnetCompilesToAnOnLinkRoute() throws {
        var view = ReferenceCloud.networkNode
        view.networks[0].subnets[0].gatewayIP = "10.9.0.254"       // net1 is 10.1.0.0/24
        view.networks[1].subnets[0].gatewayIP = "198.51.100.1"     // public is 172.24.4.224/28
        let (_, configuration) = try Compiled.configuration(view)
        let dhcp = try #require(configuration.datapath.dhcp.first?.subnets.first)
        #expect(dhcp.gateway == IPv4Address("10.9.0.254"))
        #expect(dhcp.hostRoutes.first == DHCPConfiguration.HostRoute(destination: IPv4Prefix("10.9.0.254/32")!, nextHop: .any))
        #expect(configuration.datapath.routers.first?.defaultGateway == nil)
        // Inside the subnet it must still be a host address; never multicast or broadcast.
        for bad in ["10.1.0.0", "10.1.0.255", "224.0.0.1", "255.255.255.255"] {
            var refused = ReferenceCloud.networkNode
            refused.networks[0].subnets[0].gatewayIP = bad
            #expect(throws: AgentError.self, "\(bad)") { try NodeCompiler(view: refused).compile() }
        }
    }

    @Test func localVLANsStayWhileTheirNetworksStay() throws {
        let a = Self.network("net-a", segment: 100), b = Self.network("net-b", segment: 101), c = Self.network("net-c", segment: 102)
        let d = Self.network("net-d", segment: 103)
        let first = try NodeCompiler(view: Self.compute([c, a, b])).compile()
        #expect(first.localVLANs == ["net-a": 1, "net-b": 2, "net-c": 3], "new networks in id order, lowest free id")
        // net-b leaves: the others keep theirs (a fresh allocation would renumber net-c to 2).
        let second = try NodeCompiler(view: Self.compute([a, c]), previousLocalVLANs: first.localVLANs).compile()
        #expect(second.localVLANs == ["net-a": 1, "net-c": 3])
        // net-d arrives: it takes the freed 2; net-b back later: a new id (4).
        let third = try NodeCompiler(view: Self.compute([a, c, d]), previousLocalVLANs: second.localVLANs).compile()
        #expect(third.localVLANs == ["net-a": 1, "net-c": 3, "net-d": 2])
        let fourth = try NodeCompiler(view: Self.compute([a, b, c, d]), previousLocalVLANs: third.localVLANs).compile()
        #expect(fourth.localVLANs == ["net-a": 1, "net-b": 4, "net-c": 3, "net-d": 2])
        // The compiled node follows: net-c's VM keeps tag 3, its tunnel keeps mapping to VLAN 3.
        let config = try SwitchConfiguration.parse(yaml: fourth.yaml)
        #expect(Compiled.port(config, "tapport-net-c-")?.tag == 3)
        let table3 = try Compiled.flows(config, bridge: "br-tun")[3, default: []].map(\.description)
        #expect(table3.contains("table=3, priority=1,tun_id=0x66 actions=mod_vlan_vid:3,resubmit(,10)"))
        // Deterministic: the same view and allocation give the same text, whatever the view's order.
        var shuffled = Self.compute([a, b, c, d])
        shuffled.networks.reverse()
        shuffled.ports.reverse()
        let again = try NodeCompiler(view: shuffled, previousLocalVLANs: third.localVLANs).compile()
        #expect(again.yaml == fourth.yaml)
    }

    @Test func allocatorFillsTheRangeAndRefusesBeyondIt() throws {
        let ids = (0..<4094).map { "n\($0)" }
        let all = try LocalVLANAllocator.allocate(networks: ids, previous: [:])
        #expect(Set(all.values).count == 4094 && all.values.min() == 1 && all.values.max() == 4094)
        #expect(throws: AgentError.self) { try LocalVLANAllocator.allocate(networks: ids + ["one-more"], previous: [:]) }
        // A corrupt previous allocation (one VLAN twice, one out of range) is repaired, not trusted.
        let repaired = try LocalVLANAllocator.allocate(networks: ["x", "y", "z"], previous: ["x": 5, "y": 5, "z": 4095])
        #expect(repaired == ["x": 5, "y": 1, "z": 2])
    }

    @Test func l2populationFloodsOnlyToHostsThatHaveTheNetwork() throws {
        let shared = Self.network("net-a", segment: 100, remote: [
            HostView.RemoteHost(host: "compute2", tunnelIP: "172.16.0.2", ports: [HostView.RemotePort(macAddress: "fa:16:3e:00:02:01")]),
            HostView.RemoteHost(host: "compute3", tunnelIP: "172.16.0.3"),
        ])
        let narrow = Self.network("net-b", segment: 200, cidr: "10.2.0.0/24", remote: [
            HostView.RemoteHost(host: "compute3", tunnelIP: "172.16.0.3"),
        ])
        let alone = Self.network("net-c", segment: 300, cidr: "10.3.0.0/24")
        var view = Self.compute([shared, narrow, alone])
        view.ports[1].fixedIPs = [HostView.FixedIP(subnetID: "sub-net-b", ipAddress: "10.2.0.5")]
        view.ports[2].fixedIPs = [HostView.FixedIP(subnetID: "sub-net-c", ipAddress: "10.3.0.5")]
        let (node, config) = try Compiled.configuration(view)
        #expect(node.localVLANs == ["net-a": 1, "net-b": 2, "net-c": 3])
        let flood = try Compiled.flows(config, bridge: "br-tun")[22, default: []].map(\.description)
        #expect(flood == ["table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x64,output:2,output:3",
                          "table=22, priority=1,dl_vlan=2 actions=strip_vlan,set_tunnel:0xc8,output:3",
                          "table=22, priority=0 actions=drop"],
              "net-b floods to compute3 only, net-c (no other host) nowhere")

        // With frames: a broadcast on each network reaches exactly those hosts.
        let dp = try config.makeDatapath(pool: FramePool(frameCount: 512), now: .zero)
        var underlay = try Underlay(dp)
        func broadcast(from port: String, mac: String, at now: UInt64) throws -> [GREFrame] {
            let frame = FrameBuilder().ethernet(source: MACAddress(mac)!, destination: .broadcast).payload(count: 46).build()
            dp.inject(frame, into: try #require(dp.port(named: port)), now: DatapathInstant(nanoseconds: now))
            return underlay.answerARP(now: DatapathInstant(nanoseconds: now + 1000)).compactMap(GREFrame.init)
        }
        let a = try broadcast(from: "tapport-net-a-", mac: "fa:16:3e:00:01:01", at: 1_000_000_000)
        #expect(Set(a.map(\.destination)) == [IPv4Address(172, 16, 0, 2), IPv4Address(172, 16, 0, 3)] && a.allSatisfy { $0.key == 100 })
        let b = try broadcast(from: "tapport-net-b-", mac: "fa:16:3e:00:01:02", at: 2_000_000_000)
        #expect(b.map(\.destination) == [IPv4Address(172, 16, 0, 3)] && b.allSatisfy { $0.key == 200 })
        let c = try broadcast(from: "tapport-net-c-", mac: "fa:16:3e:00:01:03", at: 3_000_000_000)
        #expect(c.isEmpty)
        // Unicast to the MAC l2population knows goes to its host only.
        let unicast = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:01:01")!, destination: MACAddress("fa:16:3e:00:02:01")!)
            .payload(count: 46).build()
        dp.inject(unicast, into: try #require(dp.port(named: "tapport-net-a-")), now: DatapathInstant(nanoseconds: 4_000_000_000))
        let sent = dp.drainTransmitted(underlay.port).compactMap(GREFrame.init)
        #expect(sent.map(\.destination) == [IPv4Address(172, 16, 0, 2)] && sent.first?.inner == unicast)
    }

    @Test func providerNetworksAreTranslatedOnThePhysicalBridge() throws {
        let vlan = HostView.Network(id: "net-vlan", networkType: .vlan, physicalNetwork: "physnet1", segmentationID: 101,
                                    subnets: [HostView.Subnet(id: "sub-net-vlan", cidr: "10.1.0.0/24")])
        let flat = HostView.Network(id: "net-flat", networkType: .flat, physicalNetwork: "physnet1",
                                    subnets: [HostView.Subnet(id: "sub-net-flat", cidr: "10.9.0.0/24")])
        let view = HostView(revision: 1, host: HostView.Host(name: "compute1", role: .compute, bridgeMappings: ["physnet1": "eth2"]),
                            networks: [vlan, flat],
                            ports: [Self.port("port-vlan-vm", network: "net-vlan", mac: "fa:16:3e:00:00:11", ip: "10.1.0.5"),
                                    Self.port("port-flat-vm", network: "net-flat", mac: "fa:16:3e:00:00:12", ip: "10.9.0.5")])
        let (node, config) = try Compiled.configuration(view)
        #expect(node.localVLANs == ["net-flat": 1, "net-vlan": 2])
        #expect(!config.datapath.bridges.contains { $0.name == "br-tun" }, "no tunnel endpoint: no br-tun")
        #expect(Compiled.port(config, "int-br-eth2")?.type == .patch(peer: "phy-br-eth2"))
        let flows = try Compiled.flows(config, bridge: "br-eth2")[0, default: []].map(\.description)
        #expect(flows == ["priority=4,in_port=1,dl_vlan=2 actions=mod_vlan_vid:101,output:2",
                          "priority=4,in_port=2,dl_vlan=101 actions=mod_vlan_vid:2,output:1",
                          "priority=4,in_port=1,dl_vlan=1 actions=strip_vlan,output:2",
                          "priority=4,in_port=2,vlan_tci=0x0000/0x1fff actions=mod_vlan_vid:1,output:1",
                          "priority=0 actions=drop"])

        let dp = try config.makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        let eth2 = try #require(dp.port(named: "eth2"))
        let vlanVM = try #require(dp.port(named: "tapport-vlan-v")), flatVM = try #require(dp.port(named: "tapport-flat-v"))
        let fromVLANVM = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:11")!, destination: .broadcast).payload(count: 46).build()
        dp.inject(fromVLANVM, into: vlanVM, now: DatapathInstant(nanoseconds: 1))
        let tagged = dp.drainTransmitted(eth2)
        #expect(tagged.count == 1 && tagged.first.map { Array($0[12..<16]) } == [0x81, 0x00, 0x00, 101], "provider tag 101 on the wire")
        let fromFlatVM = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:12")!, destination: .broadcast).payload(count: 46).build()
        dp.inject(fromFlatVM, into: flatVM, now: DatapathInstant(nanoseconds: 2))
        #expect(dp.drainTransmitted(eth2) == [fromFlatVM], "untagged on the wire")
        // Inbound: tag 101 reaches the vlan network's VM untagged, untagged the flat one's, 102 nobody.
        let inbound = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:99")!, destination: .broadcast)
        dp.inject(inbound.vlan(vid: 101).payload(count: 46).build(), into: eth2, now: DatapathInstant(nanoseconds: 3))
        #expect(dp.drainTransmitted(vlanVM) == [inbound.payload(count: 46).build()])
        #expect(dp.drainTransmitted(flatVM).isEmpty)
        dp.inject(inbound.payload(count: 46).build(), into: eth2, now: DatapathInstant(nanoseconds: 4))
        #expect(dp.drainTransmitted(flatVM).count == 1 && dp.drainTransmitted(vlanVM).isEmpty)
        dp.inject(inbound.vlan(vid: 102).payload(count: 46).build(), into: eth2, now: DatapathInstant(nanoseconds: 5))
        #expect(dp.drainTransmitted(flatVM).isEmpty && dp.drainTransmitted(vlanVM).isEmpty)
    }

    @Test func twoTenantsWithTheSameCIDRGetTheirOwnLocalVLANs() throws {
        let red = Self.network("net-red", segment: 10, remote: [HostView.RemoteHost(host: "compute2", tunnelIP: "172.16.0.2")]), blue = Self.network("net-blue", segment: 11)
        var view = Self.compute([red, blue])
        view.ports[0].fixedIPs = [HostView.FixedIP(subnetID: "sub-net-red", ipAddress: "10.1.0.5")]
        view.ports[1].fixedIPs = [HostView.FixedIP(subnetID: "sub-net-blue", ipAddress: "10.1.0.5")]
        let (node, config) = try Compiled.configuration(view)
        #expect(node.localVLANs == ["net-blue": 1, "net-red": 2])
        #expect(Compiled.port(config, "tapport-net-re")?.tag == 2 && Compiled.port(config, "tapport-net-bl")?.tag == 1)
        let table3 = try Compiled.flows(config, bridge: "br-tun")[3, default: []].map(\.description)
        #expect(table3 == ["table=3, priority=1,tun_id=0xb actions=mod_vlan_vid:1,resubmit(,10)",
                           "table=3, priority=1,tun_id=0xa actions=mod_vlan_vid:2,resubmit(,10)",
                           "table=3, priority=0 actions=drop"])
        // One tenant's broadcast never reaches the other's VM with the same address.
        let dp = try config.makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        let redVM = try #require(dp.port(named: "tapport-net-re")), blueVM = try #require(dp.port(named: "tapport-net-bl"))
        dp.inject(FrameBuilder.arpRequest(senderMAC: MACAddress("fa:16:3e:00:01:01")!, senderIP: IPv4Address(10, 1, 0, 5),
                                          targetIP: IPv4Address(10, 1, 0, 1)), into: redVM, now: DatapathInstant(nanoseconds: 1))
        #expect(dp.drainTransmitted(blueVM).isEmpty)
        // And a tunnel packet of the red segment reaches only the red VM.
        let underlay = try Underlay(dp)
        let inner = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:09:09")!, destination: .broadcast).payload(count: 46).build()
        dp.inject(underlay.gre(from: "172.16.0.2", key: 10, inner: inner), into: underlay.port, now: DatapathInstant(nanoseconds: 2))
        #expect(dp.drainTransmitted(redVM) == [inner] && dp.drainTransmitted(blueVM).isEmpty)
    }

    /// Compile the compute node's view, load it into a datapath, send a VM's frame: it
    /// leaves the GRE port encapsulated with the network's segmentation id as its key.
    @Test func endToEndVMFrameLeavesEncapsulatedWithTheSegmentationID() throws {
        var view = ReferenceCloud.compute1
        view.networks[0].segmentationID = 0x1234
        let dp = try Compiled.configuration(view).configuration.makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        var underlay = try Underlay(dp)
        let tap = try #require(dp.port(named: "tapa1b2c3d4-e5"))
        let frame = FrameBuilder().ethernet(source: MACAddress(ReferenceCloud.vm1MAC)!, destination: MACAddress(ReferenceCloud.vm2MAC)!)
            .ipv4(source: IPv4Address(10, 1, 0, 2), destination: IPv4Address(10, 1, 0, 4)).udp(sourcePort: 40000, destinationPort: 53)
            .payload(count: 20).build()
        dp.inject(frame, into: tap, now: DatapathInstant(nanoseconds: 1_000_000_000))
        // The first frame waits for the underlay's ARP answer from compute2, then leaves.
        let out = underlay.answerARP(now: DatapathInstant(nanoseconds: 1_000_100_000))
        #expect(out.count == 1)
        let gre = try #require(out.first.flatMap(GREFrame.init))
        #expect(gre.destination == IPv4Address(172, 16, 0, 3), "compute2, where vm2 lives")
        #expect(gre.key == 0x1234)
        #expect(gre.inner == frame)
        let wire = try #require(out.first)
        #expect(Array(wire[0..<6]) == Array([0x02, 0x00, 172, 16, 0, 3]), "to compute2's underlay MAC")
        #expect(Array(wire[26..<30]) == [172, 16, 0, 1], "from our tunnel address")
        // A spoofed source address is the security group's to drop: nothing leaves.
        let spoofed = FrameBuilder().ethernet(source: MACAddress(ReferenceCloud.vm1MAC)!, destination: MACAddress(ReferenceCloud.vm2MAC)!)
            .ipv4(source: IPv4Address(10, 1, 0, 99), destination: IPv4Address(10, 1, 0, 4)).udp(sourcePort: 40000, destinationPort: 53).build()
        dp.inject(spoofed, into: tap, now: DatapathInstant(nanoseconds: 2_000_000_000))
        #expect(dp.drainTransmitted(underlay.port).isEmpty)
    }

    @Test func securityGroupsAdmitOnlyTheirRules() throws {
        let dp = try Compiled.datapath(ReferenceCloud.compute1)
        let underlay = try Underlay(dp)
        let tap = try #require(dp.port(named: "tapa1b2c3d4-e5"))
        func tcp(from source: IPv4Address, port: UInt16) -> [UInt8] {
            FrameBuilder().ethernet(source: MACAddress("fa:16:3e:77:00:01")!, destination: MACAddress(ReferenceCloud.vm1MAC)!)
                .ipv4(source: source, destination: IPv4Address(10, 1, 0, 2)).tcp(sourcePort: 50000, destinationPort: port, flags: .syn).build()
        }
        // From the router (not a group member): SSH admitted, port 23 refused.
        let ssh = tcp(from: IPv4Address(192, 0, 2, 7), port: 22)
        dp.inject(underlay.gre(from: ReferenceCloud.networkIP, key: 2, inner: ssh), into: underlay.port, now: DatapathInstant(nanoseconds: 1_000_000_000))
        #expect(dp.drainTransmitted(tap) == [ssh])
        dp.inject(underlay.gre(from: ReferenceCloud.networkIP, key: 2, inner: tcp(from: IPv4Address(192, 0, 2, 7), port: 23)),
                  into: underlay.port, now: DatapathInstant(nanoseconds: 2_000_000_000))
        #expect(dp.drainTransmitted(tap).isEmpty)
        // From vm2, a member of the remote group: anything admitted.
        let telnet = tcp(from: IPv4Address(10, 1, 0, 4), port: 23)
        dp.inject(underlay.gre(from: ReferenceCloud.compute2IP, key: 2, inner: telnet), into: underlay.port, now: DatapathInstant(nanoseconds: 3_000_000_000))
        #expect(dp.drainTransmitted(tap) == [telnet])
    }

    /// `arp_responder`: table 2 sends ARP broadcasts to 21, which answers for each remote
    /// port's address (Neutron's flow) and passes the rest to 22. Off by default (the
    /// datapath writes back no rewritten ARP field yet, see CompileOptions).
    @Test func arpResponderTableAnswersForRemotePorts() throws {
        let off = try Compiled.flows(Compiled.configuration(ReferenceCloud.compute1).configuration, bridge: "br-tun")
        #expect(off[21] == nil && off[2]?.count == 2)
        let (_, config) = try Compiled.configuration(ReferenceCloud.compute1, options: CompileOptions(arpResponder: true))
        let tables = try Compiled.flows(config, bridge: "br-tun")
        #expect(tables[2]?.first?.description == "table=2, priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,21)")
        let responder = tables[21, default: []]
        #expect(responder.count == 4, "10.1.0.3, 10.1.0.1, 10.1.0.4 and the default")
        #expect(responder.last?.description == "table=21, priority=0 actions=resubmit(,22)")
        let vm2 = try #require(responder.first { $0.description.contains("arp_tpa=10.1.0.4") })
        #expect(vm2.description == "table=21, priority=1,arp,dl_vlan=1,arp_tpa=10.1.0.4 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                + "mod_dl_src:fa:16:3e:aa:00:04,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
                + "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163eaa0004->NXM_NX_ARP_SHA[],load:0xa010004->NXM_OF_ARP_SPA[],IN_PORT")
    }
}
