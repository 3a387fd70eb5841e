import Testing
import XDPDatapath
import XDPPacket

extension Net {
    /// What the underlay carries for `inner` over VXLAN: scapy's
    /// `Ether()/IP(flags='DF', ttl=64, id=0)/UDP(sport=S, dport=4789, chksum=0)/VXLAN(vni=N)/inner`
    /// (`VXLANEncapsulationTests` checks these bytes against scapy's), S from the inner flow.
    static func vxlan(_ inner: [UInt8], vni: UInt32, from: (MACAddress, IPv4Address) = (mac1, ip1),
                      to: (MACAddress, IPv4Address) = (mac2, ip2), port: UInt16 = 4789, flags: UInt32 = VXLANHeader.validVNIFlag,
                      reserved: UInt8 = 0, udpChecksum: Bool = false) -> [UInt8] {
        var copy = inner
        let hash = copy.withUnsafeMutableBytes { VXLANEncapsulation.flowHash($0.baseAddress!, length: $0.count) }
        return FrameBuilder()
            .ethernet(source: from.0, destination: to.0)
            .ipv4(source: from.1, destination: to.1, ttl: 64, identification: 0, dontFragment: true)
            .udp(sourcePort: VXLANEncapsulation.sourcePort(hash: hash), destinationPort: port, checksum: udpChecksum)
            .vxlan(vni: vni, flags: flags, reserved: reserved)
            .payload(inner)
            .build()
    }

    /// Node `n` of two with a vxlan port `vxlan` pointing at the other node.
    static func vxlanNode(_ n: Int, key: GREOptions.Key = .fixed(2), port: UInt16 = 4789, mtu: Int = 1500,
                          gre: [String: GREOptions] = [:], brTunFlows: [String] = []) throws -> TunnelNode {
        try TunnelNode(underlay: underlay(n, mtu: mtu), gre: gre,
                       vxlan: ["vxlan": VXLANOptions(remoteIP: n == 1 ? ip2 : ip1, key: key, destinationPort: port)],
                       brTunFlows: brTunFlows)
    }
}

/// VXLAN ports between two in-memory nodes: encapsulation byte-identical with scapy's,
/// decapsulation by remote, UDP port and VNI, and everything hostile counted and dropped.
@Suite struct VXLANTunnelTests {
    /// The frame VM A sends whose tagged form (VLAN 1 in br-tun) is the "tagged" scapy fixture.
    static let vmFrame = FrameBuilder().ethernet(source: Net.vmA, destination: Net.vmB)
        .ipv4(source: Net.ipA, destination: Net.ipB).udp(sourcePort: 1000, destinationPort: 2001).payload(Array("payload".utf8)).build()
    static let inner = Net.tagged(vmFrame, vlan: 1)

    @Test func encapsulatedFrameIsScapysByteForByte() throws {
        let n1 = try Net.vxlanNode(1)
        #expect(Self.inner == VXLANEncapsulationTests.bytes(VXLANEncapsulationTests.fixtures["tagged"]!.inner))
        n1.send(Self.vmFrame)
        #expect(n1.wireOut() == [VXLANEncapsulationTests.bytes(VXLANEncapsulationTests.fixtures["tagged"]!.outer)])
        #expect(n1.port("vxlan").stats.txPackets == 1)
        #expect(n1.accountingHolds)
    }

    @Test func scapysFrameIsDecapsulatedToTheVM() throws {
        let n2 = try Net.vxlanNode(2)
        n2.receiveOnWire([VXLANEncapsulationTests.bytes(VXLANEncapsulationTests.fixtures["tagged"]!.outer)])
        #expect(n2.transmitted("vm") == [Self.vmFrame])
        #expect(n2.port("vxlan").stats.rxPackets == 1)
        #expect(n2.accountingHolds)
    }

    @Test func twoNodesTalkBothWaysWithTheReferenceFlows() throws {
        let flows = { (local: MACAddress) in TunnelNode.referenceFlows(localMAC: local) }
        let n1 = try Net.vxlanNode(1, key: .flow, brTunFlows: flows(Net.vmA))
        let n2 = try Net.vxlanNode(2, key: .flow, brTunFlows: flows(Net.vmB))
        let there = Net.udp(), back = Net.udp(from: Net.vmB, to: Net.vmA)
        n1.send(there)
        #expect(n1.carry(to: n2) == [Net.vxlan(Net.tagged(there, vlan: 1), vni: 2)], "set_tunnel:0x2 → VNI 2 (NORMAL keeps the tag)")
        #expect(n2.transmitted("vm") == [there])
        n2.send(back)
        n2.carry(to: n1)
        #expect(n1.transmitted("vm") == [back])
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func aVNIWithNoFlowIsDroppedByTheFlows() throws {
        let n2 = try Net.vxlanNode(2, key: .flow, brTunFlows: TunnelNode.referenceFlows(localMAC: Net.vmB))
        n2.receiveOnWire([Net.vxlan(Net.udp(), vni: 7)])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("vxlan", .flowDrop) == 1)
        #expect(n2.accountingHolds)
    }

    @Test func aVNINoPortAcceptsIsCountedNoPort() throws {
        let n2 = try Net.vxlanNode(2, key: .fixed(2))
        n2.receiveOnWire([Net.vxlan(Self.inner, vni: 3), Net.vxlan(Self.inner, vni: 2, from: (Net.mac1, IPv4Address(172, 16, 0, 9)))])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("eth1", .tunnelNoPort) == 2)
        n2.receiveOnWire([Net.vxlan(Self.inner, vni: 2)])
        #expect(n2.transmitted("vm") == [Self.vmFrame])
        #expect(n2.accountingHolds)
    }

    @Test func aPortWithoutKeyIsVNIZero() throws {
        let n1 = try Net.vxlanNode(1, key: .none), n2 = try Net.vxlanNode(2, key: .none)
        n1.send(Self.vmFrame)
        #expect(n1.carry(to: n2) == [Net.vxlan(Self.inner, vni: 0)])
        #expect(n2.transmitted("vm") == [Self.vmFrame])
        n2.receiveOnWire([Net.vxlan(Self.inner, vni: 1)])
        #expect(n2.drops("eth1", .tunnelNoPort) == 1)
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func badFlagsAndReservedBitsAreDropped() throws {
        let n2 = try Net.vxlanNode(2)
        n2.receiveOnWire([
            Net.vxlan(Self.inner, vni: 2, flags: 0),                               // I flag clear
            Net.vxlan(Self.inner, vni: 2, flags: 0x0800_0001),                     // reserved bits in the first word
            Net.vxlan(Self.inner, vni: 2, flags: 0x8800_0000),                     // another flag (GBP's G)
            Net.vxlan(Self.inner, vni: 2, reserved: 1),                            // the last reserved byte
        ])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("eth1", .vxlanBadFlags) == 4)
        #expect(n2.accountingHolds)
    }

    @Test func outerChecksumMACAndUDPChecksumAreChecked() throws {
        let n2 = try Net.vxlanNode(2)
        var badIP = Net.vxlan(Self.inner, vni: 2); badIP[25] ^= 0x01
        var badUDP = Net.vxlan(Self.inner, vni: 2, udpChecksum: true); badUDP[41] ^= 0x01
        let other = MACAddress("02:00:00:00:09:09")!
        n2.receiveOnWire([badIP, badUDP, Net.vxlan(Self.inner, vni: 2, to: (other, Net.ip2)),
                          Net.vxlan(Self.inner, vni: 2, to: (.broadcast, Net.ip2))])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("eth1", .underlayBadIPv4Checksum) == 1)
        #expect(n2.drops("eth1", .vxlanMalformed) == 1)
        #expect(n2.drops("eth1", .underlayNotOurMAC) == 2)
        n2.receiveOnWire([Net.vxlan(Self.inner, vni: 2, udpChecksum: true)])
        #expect(n2.transmitted("vm") == [Self.vmFrame], "a right UDP checksum is accepted")
        #expect(n2.accountingHolds)
    }

    @Test func badUDPLengthsAreDropped() throws {
        let n2 = try Net.vxlanNode(2)
        let good = Net.vxlan(Self.inner, vni: 2)
        func withUDPLength(_ n: Int) -> [UInt8] { var f = good; f[38] = UInt8(n >> 8); f[39] = UInt8(n & 0xFF); return f }
        let payload = good.count - 34
        n2.receiveOnWire([withUDPLength(payload + 1), withUDPLength(7)])
        #expect(n2.drops("eth1", .truncatedL4) == 2, "beyond the IPv4 packet or below 8: the parser's truncated-l4")
        n2.receiveOnWire([withUDPLength(12), withUDPLength(16), withUDPLength(29)])
        #expect(n2.drops("eth1", .vxlanMalformed) == 3, "no room for the VXLAN header or the inner Ethernet header")
        // Shorter than the IPv4 payload: the datagram ends where UDP says (Linux trims), here
        // before 3 bytes of trailing padding.
        var padded = Net.vxlan(Self.inner + [0, 0, 0], vni: 2)
        padded[38] = UInt8(payload >> 8); padded[39] = UInt8(payload & 0xFF)  // 3 less than its IPv4 payload
        n2.receiveOnWire([padded])
        #expect(n2.transmitted("vm") == [Self.vmFrame])
        #expect(n2.port("eth1").stats.drops.values.reduce(0, +) == 5)
        #expect(n2.accountingHolds)
    }

    @Test func truncatedAtEveryOffsetIsCountedAndDropped() throws {
        let n2 = try Net.vxlanNode(2)
        let good = Net.vxlan(Self.inner, vni: 2)
        for cut in 0..<good.count {
            n2.receiveOnWire([Array(good[0..<cut])])
        }
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.port("eth1").stats.drops.values.reduce(0, +) == UInt64(good.count))
        #expect(n2.port("eth1").stats.rxPackets == UInt64(good.count))
        #expect(n2.accountingHolds)
    }

    @Test func otherUDPAndOtherPortsAreNotForUs() throws {
        let n2 = try Net.vxlanNode(2)
        let dns = FrameBuilder().ethernet(source: Net.mac1, destination: Net.mac2).ipv4(source: Net.ip1, destination: Net.ip2)
            .udp(sourcePort: 5353, destinationPort: 53).payload(count: 40).build()
        n2.receiveOnWire([dns, Net.vxlan(Self.inner, vni: 2, port: 8472), Net.vxlan(Self.inner, vni: 2, to: (Net.mac2, Net.ip1))])
        #expect(n2.drops("eth1", .underlayNotForUs) == 3)
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.accountingHolds)
    }

    @Test func aPortOnAnotherUDPPortReceivesOnlyThere() throws {
        let n2 = try Net.vxlanNode(2, port: 8472)
        n2.receiveOnWire([Net.vxlan(Self.inner, vni: 2)])
        #expect(n2.drops("eth1", .underlayNotForUs) == 1)
        n2.receiveOnWire([Net.vxlan(Self.inner, vni: 2, port: 8472)])
        #expect(n2.transmitted("vm") == [Self.vmFrame])
        let n1 = try Net.vxlanNode(1, port: 8472)
        n1.send(Self.vmFrame)
        #expect(n1.wireOut() == [Net.vxlan(Self.inner, vni: 2, port: 8472)])
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    /// A node with a gre and a vxlan port to the same remote: each protocol reaches its own port.
    @Test func greAndVXLANToTheSameRemoteStayApart() throws {
        let n2 = try Net.vxlanNode(2, gre: ["gre": GREOptions(remoteIP: Net.ip1, key: .fixed(2))])
        n2.receiveOnWire([Net.gre(Self.inner, key: 2), Net.vxlan(Self.inner, vni: 2)])
        #expect(n2.port("gre").stats.rxPackets == 1 && n2.port("vxlan").stats.rxPackets == 1)
        #expect(n2.transmitted("vm") == [Self.vmFrame, Self.vmFrame])
        #expect(n2.accountingHolds)
    }

    /// The general receive path (outer IPv4 options) takes the same decisions as the fast one.
    @Test func theGeneralPathDecapsulatesToo() throws {
        let n2 = try Net.vxlanNode(2)
        let options = GREUnderlayReceiveTests.withOptions(Net.vxlan(Self.inner, vni: 2))
        n2.receiveOnWire([options, GREUnderlayReceiveTests.badChecksum(options)])
        #expect(n2.transmitted("vm") == [Self.vmFrame])
        #expect(n2.drops("eth1", .underlayBadIPv4Checksum) == 1)
        #expect(n2.accountingHolds)
    }

    @Test func vxlanLeavesRoomFor1450ByteInnerPackets() throws {
        // Untagged inner (the flow strips the tag, as the reference design's table 22
        // does): 1500 - 50 = 1450. The error comes back in by the reference design's flows' tun_id rule.
        let flows = ["priority=5,in_port=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x2,output:2"]
            + TunnelNode.referenceFlows(localMAC: Net.vmA)
        let n1 = try Net.vxlanNode(1, key: .flow, brTunFlows: flows)
        n1.send(TunnelMTUTests.udp(ipLength: 1450))
        #expect(n1.wireOut().map(\.count) == [1514])
        n1.send(TunnelMTUTests.udp(ipLength: 1451))
        #expect(n1.wireOut().isEmpty)
        #expect(n1.drops("vxlan", .tunnelMTUExceeded) == 1)
        #expect(n1.transmitted("vm") == [TunnelMTUTests.fragmentationNeeded(for: TunnelMTUTests.udp(ipLength: 1451), mtu: 1450)])
        #expect(n1.accountingHolds)
    }

    @Test func dropReasonsHaveStatsNames() {
        #expect(DropReason.vxlanBadFlags.description == "vxlan-bad-flags")
        #expect(DropReason.vxlanMalformed.description == "vxlan-malformed")
    }
}
