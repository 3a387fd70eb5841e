import Testing
import XDPAgent
import XDPDatapath
import XDPModel
import XDPPacket

/// The reference design's nodes compiled from host views, compared with the reference
/// design's flows table by table, and run.
@Suite struct ReferenceDesignTests {
    /// The reference design's br-tun dump (SUMMARY.md), verbatim: single-table flows of an
    /// older agent. Neutron's pipeline does the same work in tables 0/2/3/10/20/22.
    static let referenceBrTun = [
        "priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
        "priority=3,tun_id=0x2,dl_dst=fa:16:3e:dd:c1:62 actions=mod_vlan_vid:1,NORMAL",
        "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL",
        "priority=1 actions=drop",
    ]

    @Test func computeNodeBrTunDoesWhatTheReferenceDesignsFlowsDo() throws {
        let (node, config) = try Compiled.configuration(ReferenceCloud.compute1)
        #expect(node.localVLANs == [ReferenceCloud.net1: 1], "net1 takes local VLAN 1, as in the reference design")
        let reference = try Self.referenceBrTun.map(FlowParser.parse)
        let tables = try Compiled.flows(config, bridge: "br-tun")
        #expect(Set(tables.keys) == [0, 2, 3, 4, 10, 20, 22], "Neutron's tunnel tables (no 21 without the ARP responder)")
        // The tunnel ports: patch-int 1, then one per remote host in address order (.2 network, .3 compute2).
        #expect(Compiled.port(config, "gre-ac100002")?.ofport == 2)
        #expect(Compiled.port(config, "gre-ac100003")?.ofport == 3)
        #expect(Compiled.port(config, "patch-int")?.ofport == 1)
        let text = { (t: Int) in tables[t, default: []].map(\.description) }

        // Reference flows 1 and 2 (from tunnel 2: tag the local VLAN, to br-int): table 0 sends
        // the tunnels to 3, table 3 maps tun_id 0x2 to VLAN 1, table 10 learns and outputs
        // to patch-int (1) — the same match on tun_id and the same rewrite.
        #expect(text(0) == ["priority=1,in_port=1 actions=resubmit(,2)", "priority=1,in_port=2 actions=resubmit(,3)",
                            "priority=1,in_port=3 actions=resubmit(,3)", "priority=0 actions=drop"])
        let fromTunnel = try #require(tables[3]?.first { $0.priority == 1 })
        #expect(fromTunnel.match.value.tunID == reference[0].match.value.tunID && fromTunnel.match.mask.tunID == reference[0].match.mask.tunID)
        #expect(fromTunnel.actions.first == reference[0].actions.first, "mod_vlan_vid:1 as the reference design")
        #expect(text(3) == ["table=3, priority=1,tun_id=0x2 actions=mod_vlan_vid:1,resubmit(,10)", "table=3, priority=0 actions=drop"])
        let learn = try #require(tables[10]?.first)
        #expect(learn.actions.last == reference[0].actions.last, "output:1 (patch-int) as the reference design")
        #expect(learn.learns.first?.table == 20 && learn.learns.first?.hardTimeout == 300)

        // Reference flow 3 (from patch-int with VLAN 1 → tunnel 2): table 0 sends patch-int to
        // 2, which splits unicast (20) and flood (22); both set tunnel 2 on the way out,
        // flooding to both hosts with net1, unicast to the host of each known MAC.
        #expect(text(2) == ["table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)",
                            "table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)"])
        let flood = try #require(tables[22]?.first { $0.priority == 1 })
        #expect(flood.match.value.vlanTCI == reference[2].match.value.vlanTCI && flood.match.mask.vlanTCI == reference[2].match.mask.vlanTCI,
                "dl_vlan=1 as the reference design")
        #expect(flood.actions.contains(reference[2].actions[0]), "set_tunnel:0x2 as the reference design")
        #expect(text(22) == ["table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x2,output:2,output:3",
                             "table=22, priority=0 actions=drop"])
        #expect(text(20) == [
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:aa:00:04 actions=strip_vlan,set_tunnel:0x2,output:3",
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:03 actions=strip_vlan,set_tunnel:0x2,output:2",
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:01 actions=strip_vlan,set_tunnel:0x2,output:2",
            "table=20, priority=0 actions=resubmit(,22)",
        ])
        // Reference flow 4: what nothing else takes is dropped.
        #expect(tables[0]?.last?.actions == reference[3].actions && tables[0]?.last?.match.isCatchAll == true)
        #expect(text(4) == ["table=4, priority=0 actions=drop"])
    }

    @Test func computeNodeBrIntHasTheVMOnItsLocalVLANWithItsSecurityGroup() throws {
        let (_, config) = try Compiled.configuration(ReferenceCloud.compute1)
        let tap = "tapa1b2c3d4-e5"
        #expect(Compiled.port(config, tap)?.tag == 1)
        #expect(Compiled.port(config, "patch-tun")?.type == .patch(peer: "patch-int"))
        let sg = try #require(config.securityGroups)
        #expect(sg.bridge == "br-int")
        #expect(sg.ports.map(\.name) == [tap])
        let port = try #require(sg.ports.first)
        #expect(port.mac == MACAddress(ReferenceCloud.vm1MAC))
        #expect(port.securityGroups == [ReferenceCloud.defaultGroup])
        #expect(port.dhcpServers.map(\.address) == [AddressPrefix("10.1.0.3")!], "net1's DHCP port, on the network node")
        // The remote group stays a remote group; its members on every host come with it.
        let group = try #require(sg.groups.first)
        let ingress = group.rules.filter { $0.direction == .ingress && $0.ipProtocol == nil }
        #expect(ingress.count == 2 && ingress.allSatisfy { $0.remoteGroupID == ReferenceCloud.defaultGroup && $0.remoteIPPrefix == nil })
        #expect(Set(sg.members(of: ReferenceCloud.defaultGroup, family: 4)) == [AddressPrefix("10.1.0.2/32")!, AddressPrefix("10.1.0.4/32")!],
                "the VM here and the VM on compute2")
        // In the datapath: br-int's table is the security-group compiler's, with the tap's filter.
        let dp = try Compiled.datapath(ReferenceCloud.compute1)
        let ofport = try #require(dp.port(named: tap)).ofport
        let brInt = dp.flows(bridge: "br-int").map(\.rule.description)
        #expect(brInt.contains { $0.hasPrefix("table=71,") && $0.contains("in_port=\(ofport)") && $0.contains("dl_src=fa:16:3e:dd:c1:62") })
        #expect(brInt.contains { $0.hasPrefix("table=82,") && $0.contains("tp_dst=22") })
        // The remote group as a conjunction: compute2's VM is matched once, by address.
        #expect(brInt.filter { $0.hasPrefix("table=82,") && $0.contains("nw_src=10.1.0.4 actions=conjunction(") }.count == 1)
        #expect(brInt.contains { $0.hasPrefix("table=82,") && $0.contains("conj_id=") && $0.contains("ct(commit") })
    }

    /// The reference design's four br-tun cases, with real frames through the compiled node.
    @Test func computeNodeCarriesTheReferenceDesignsFourCases() throws {
        let dp = try Compiled.datapath(ReferenceCloud.compute1)
        var underlay = try Underlay(dp)
        let tap = try #require(dp.port(named: "tapa1b2c3d4-e5"))
        let vm1 = MACAddress(ReferenceCloud.vm1MAC)!, vm2 = MACAddress(ReferenceCloud.vm2MAC)!

        // 3: the VM's broadcast (ARP for its gateway) → tunnel 2 to both hosts with net1, untagged inside.
        let arp = FrameBuilder.arpRequest(senderMAC: vm1, senderIP: IPv4Address(10, 1, 0, 2), targetIP: IPv4Address(10, 1, 0, 1))
        dp.inject(arp, into: tap, now: DatapathInstant(nanoseconds: 1_000_000_000))
        let flooded = underlay.answerARP(now: DatapathInstant(nanoseconds: 1_000_100_000)).compactMap(GREFrame.init)
        #expect(Set(flooded.map(\.destination)) == [IPv4Address(172, 16, 0, 2), IPv4Address(172, 16, 0, 3)])
        #expect(flooded.allSatisfy { $0.key == 2 && $0.inner == arp }, "tunnel id 2, the VM's frame as it sent it")

        // 1: a broadcast from tunnel 2 → VLAN 1 → the VM, untagged.
        let dhcpOffer = FrameBuilder().ethernet(source: MACAddress(ReferenceCloud.dhcpMAC)!, destination: .broadcast)
            .ipv4(source: IPv4Address(10, 1, 0, 3), destination: .broadcast).udp(sourcePort: 67, destinationPort: 68).payload(count: 32).build()
        dp.inject(underlay.gre(from: ReferenceCloud.networkIP, key: 2, inner: dhcpOffer), into: underlay.port, now: DatapathInstant(nanoseconds: 2_000_000_000))
        #expect(dp.drainTransmitted(tap) == [dhcpOffer])

        // 2: unicast from tunnel 2 to the VM's MAC (vm2 pings vm1: its group admits it) → the VM.
        let ping = FrameBuilder().ethernet(source: vm2, destination: vm1).ipv4(source: IPv4Address(10, 1, 0, 4), destination: IPv4Address(10, 1, 0, 2))
            .icmpEcho(identifier: 1, sequence: 1).build()
        dp.inject(underlay.gre(from: ReferenceCloud.compute2IP, key: 2, inner: ping), into: underlay.port, now: DatapathInstant(nanoseconds: 3_000_000_000))
        #expect(dp.drainTransmitted(tap) == [ping])

        // 4: another tunnel id → dropped.
        dp.inject(underlay.gre(from: ReferenceCloud.compute2IP, key: 3, inner: dhcpOffer), into: underlay.port, now: DatapathInstant(nanoseconds: 4_000_000_000))
        #expect(dp.drainTransmitted(tap).isEmpty)
        #expect(dp.drainTransmitted(underlay.port).isEmpty)
    }

    @Test func networkNodeHasTheRouterDHCPAndTunnels() throws {
        let (node, config) = try Compiled.configuration(ReferenceCloud.networkNode)
        #expect(node.localVLANs == [ReferenceCloud.net1: 1], "the external network gets no local VLAN")
        // br-int: router1's qr- port and net1's DHCP port on local VLAN 1; br-ex: eth-ext and qg-.
        #expect(Compiled.port(config, "qr-6a1b2c3d-4e")?.type == .router && Compiled.port(config, "qr-6a1b2c3d-4e")?.tag == 1)
        #expect(Compiled.port(config, "tap3c1a2b4d-5e")?.type == .dhcp(network: ReferenceCloud.net1))
        #expect(Compiled.port(config, "tap3c1a2b4d-5e")?.tag == 1)
        let brEx = try #require(config.datapath.bridges.first { $0.name == "br-ex" })
        #expect(brEx.ports.map(\.name) == ["eth-ext", "qg-7f8e9d0c-1b"])
        #expect(config.securityGroups == nil, "no VM port here")

        let router = try #require(config.datapath.routers.first)
        #expect(router.name == ReferenceCloud.router1)
        #expect(router.interfaces.map(\.name) == ["qr-6a1b2c3d-4e", "qg-7f8e9d0c-1b"])
        #expect(router.interfaces.map { "\($0.address)/\($0.prefixLength)" } == ["10.1.0.1/24", "172.24.4.227/28"])
        #expect(router.defaultGateway == IPv4Address(172, 24, 4, 225))
        #expect(router.snat.enabled)
        #expect(router.floatingIPs.map { "\($0.floating)→\($0.fixed)" } == ["172.24.4.228→10.1.0.2"])

        let dhcp = try #require(config.datapath.dhcp.first)
        #expect(dhcp.network == ReferenceCloud.net1 && dhcp.mac == MACAddress(ReferenceCloud.dhcpMAC))
        #expect(dhcp.leaseSeconds == 120 && dhcp.mtu == 1458)
        #expect(dhcp.subnets.map(\.serverAddress) == [IPv4Address(10, 1, 0, 3)])
        #expect(dhcp.hosts.map(\.address) == [IPv4Address(10, 1, 0, 2), IPv4Address(10, 1, 0, 4)])

        // br-tun: the reference design's network node — unicast to both VMs' MACs, flooding to both computes.
        let tables = try Compiled.flows(config, bridge: "br-tun")
        #expect(tables[20, default: []].map(\.description) == [
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:dd:c1:62 actions=strip_vlan,set_tunnel:0x2,output:2",
            "table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:aa:00:04 actions=strip_vlan,set_tunnel:0x2,output:3",
            "table=20, priority=0 actions=resubmit(,22)",
        ])
        #expect(tables[22]?.first?.description == "table=22, priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x2,output:2,output:3")
    }

    /// A VM on compute1 asks the network node's DHCP over GRE and gets its lease back the same way.
    @Test func networkNodeAnswersDHCPThroughTheTunnel() throws {
        let dp = try Compiled.datapath(ReferenceCloud.networkNode)
        var underlay = try Underlay(dp)
        let vm1 = MACAddress(ReferenceCloud.vm1MAC)!
        var options: [UInt8] = [99, 130, 83, 99, 53, 1, 1, 255]  // magic cookie, DHCPDISCOVER, end
        var bootp = [UInt8](repeating: 0, count: 236)
        bootp[0] = 1; bootp[1] = 1; bootp[2] = 6
        bootp[4] = 0x12; bootp[5] = 0x34
        for (i, byte) in [0xfa, 0x16, 0x3e, 0xdd, 0xc1, 0x62].enumerated() { bootp[28 + i] = UInt8(byte) }
        options += [UInt8](repeating: 0, count: 8)
        let discover = FrameBuilder().ethernet(source: vm1, destination: .broadcast)
            .ipv4(source: .any, destination: .broadcast).udp(sourcePort: 68, destinationPort: 67).payload(bootp + options).build()
        dp.inject(underlay.gre(from: ReferenceCloud.compute1IP, key: 2, inner: discover), into: underlay.port, now: DatapathInstant(nanoseconds: 1_000_000_000))
        let out = underlay.answerARP(now: DatapathInstant(nanoseconds: 1_000_100_000)).compactMap(GREFrame.init)
        let offer = try #require(out.first { $0.destination == IPv4Address(172, 16, 0, 1) }, "the offer goes back to compute1: \(out.map(\.destination)) \(dp.portStatistics())")
        #expect(offer.key == 2)
        #expect(Array(offer.inner[12..<14]) == [0x08, 0x00], "untagged inside the tunnel")
        #expect(Array(offer.inner[26..<30]) == [10, 1, 0, 3], "from the DHCP port's address")
        #expect(Array(offer.inner[42 + 16..<42 + 20]) == [10, 1, 0, 2], "yiaddr: the port's fixed IP")
    }
}
