import Testing
import XDPDatapath
import XDPPacket

/// The reference design's br-tun flows over a real GRE tunnel: `set_tunnel:0x2` becomes GRE key 2
/// (key=flow), and key 2 comes back as `tun_id=0x2` on the other node.
@Suite struct GREReferenceFlowTests {
    @Test func broadcastAndUnicastCrossTunnelTwo() throws {
        let n1 = try TunnelNode(referenceNode: 1), n2 = try TunnelNode(referenceNode: 2)
        let broadcast = Net.udp(to: .broadcast)
        n1.send(broadcast)
        #expect(n1.carry(to: n2) == [Net.gre(Net.tagged(broadcast, vlan: 1), key: 2)])
        #expect(n2.transmitted("vm") == [broadcast], "tun_id=0x2 multicast → VLAN 1 → patch-int → the VM")
        let unicast = Net.udp(from: Net.vmB, to: Net.vmA)
        n2.send(unicast)
        #expect(n2.carry(to: n1) == [Net.gre(Net.tagged(unicast, vlan: 1), key: 2, from: (Net.mac2, Net.ip2), to: (Net.mac1, Net.ip1))])
        #expect(n1.transmitted("vm") == [unicast], "tun_id=0x2 to the local MAC → NORMAL")
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func otherTunnelsAreDroppedByTheDefaultFlow() throws {
        let n2 = try TunnelNode(referenceNode: 2)
        n2.receiveOnWire([Net.gre(Net.tagged(Net.udp(to: .broadcast), vlan: 1), key: 3)])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.port("gre").stats.rxPackets == 1)
        #expect(n2.accountingHolds)
    }

    @Test func fragmentationNeededComesBackThroughTheFlows() throws {
        let n1 = try TunnelNode(referenceNode: 1)
        let frame = TunnelMTUTests.udp(ipLength: 1480)
        n1.send(frame)
        #expect(n1.wireOut().isEmpty)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        // The error enters br-tun from the gre port with tun_id 2 and A's MAC as
        // destination: the reference design's unicast flow takes it to A.
        #expect(n1.transmitted("vm") == [TunnelMTUTests.fragmentationNeeded(for: frame)])
        #expect(n1.accountingHolds)
    }
}
