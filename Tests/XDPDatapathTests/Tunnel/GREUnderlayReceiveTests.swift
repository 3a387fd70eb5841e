import Testing
import XDPDatapath
import XDPPacket

/// What the underlay refuses to decapsulate, as Open vSwitch's native tunnel receive does:
/// GRE whose outer IPv4 header checksum is wrong (RFC 1122 §3.2.1.2, netdev-native-tnl.c),
/// GRE inside a frame not unicast to our underlay MAC (tnl-ports.c matches the bridge's own
/// MAC exactly); and how a packet picks its `gre` port (ofproto/tunnel.c `tnl_find`).
@Suite struct GREUnderlayReceiveTests {
    static let inner = Net.tagged(Net.udp(), vlan: 1)

    /// `frame` with its outer IPv4 header checksum (bytes 24-25) off by one.
    static func badChecksum(_ frame: [UInt8]) -> [UInt8] {
        var f = frame
        f[25] ^= 0x01
        return f
    }

    /// `frame` with four bytes of IPv4 options (NOPs) after the outer header, checksum and
    /// lengths right: such a frame takes the general receive path, not the fast one.
    static func withOptions(_ frame: [UInt8]) -> [UInt8] {
        var f = Array(frame[0..<34]) + [1, 1, 1, 1] + Array(frame[34...])
        f[14] = 0x46
        let total = (Int(f[16]) << 8 | Int(f[17])) + 4
        f[16] = UInt8(total >> 8); f[17] = UInt8(total & 0xFF)
        f[24] = 0; f[25] = 0
        let sum = f.withUnsafeBytes { Checksum.ipv4Header($0.baseAddress! + 14, headerLength: 24) }
        f[24] = UInt8(sum >> 8); f[25] = UInt8(sum & 0xFF)
        return f
    }

    @Test func aWrongOuterIPv4ChecksumIsDroppedOnBothPaths() throws {
        let n2 = try Net.node(2)
        let good = Net.gre(Self.inner, key: 0x2A)
        n2.receiveOnWire([Self.withOptions(good)])
        #expect(n2.transmitted("vm") == [Net.udp()], "options, checksum right: decapsulated")
        n2.receiveOnWire([Self.badChecksum(good), Self.badChecksum(Self.withOptions(good)),
                          Self.badChecksum(Net.gre(Self.inner, key: nil))])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("eth1", .underlayBadIPv4Checksum) == 3)
        #expect(n2.port("gre").stats.rxPackets == 1)
        #expect(n2.accountingHolds)
    }

    @Test func greForAnotherMACBroadcastOrMulticastIsNotOurs() throws {
        let n2 = try Net.node(2)
        let other = MACAddress("02:00:00:00:09:09")!
        n2.receiveOnWire([
            Net.gre(Self.inner, key: 0x2A, to: (other, Net.ip2)),                          // unicast to another host
            Net.gre(Self.inner, key: 0x2A, to: (MACAddress.broadcast, Net.ip2)),           // broadcast
            Net.gre(Self.inner, key: 0x2A, to: (MACAddress("01:00:5e:00:00:01")!, Net.ip2)),  // multicast
            Self.withOptions(Net.gre(Self.inner, key: 0x2A, to: (other, Net.ip2))),          // the general path too
        ])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("eth1", .underlayNotOurMAC) == 4)
        #expect(n2.port("eth1").stats.drops.values.reduce(0, +) == 4)
        // To our MAC it is taken.
        n2.receiveOnWire([Net.gre(Self.inner, key: 0x2A)])
        #expect(n2.transmitted("vm") == [Net.udp()])
        #expect(n2.accountingHolds)
    }

    @Test func dropReasonsHaveStatsNames() {
        #expect(DropReason.underlayBadIPv4Checksum.description == "underlay-bad-ipv4-checksum")
        #expect(DropReason.underlayNotOurMAC.description == "underlay-not-our-mac")
    }

    /// A `key=flow` port takes a packet without a key from its remote with `tun_id` 0, as
    /// Open vSwitch does: br-tun's flow for tun_id 0 lets it through, and one keyed 7 is not.
    @Test func keylessGREOnAKeyFlowPortArrivesWithTunIDZero() throws {
        let n2 = try TunnelNode(underlay: Net.underlay(2), gre: ["gre": GREOptions(remoteIP: Net.ip1, key: .flow)],
                                brTunFlows: ["table=0,priority=10,tun_id=0 actions=NORMAL",
                                             "table=0,priority=5,in_port=1 actions=NORMAL",
                                             "table=0,priority=0 actions=drop"])
        n2.receiveOnWire([Net.gre(Self.inner, key: nil)])
        #expect(n2.transmitted("vm") == [Net.udp()])
        n2.receiveOnWire([Net.gre(Self.inner, key: 7)])
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.drops("gre", .flowDrop) == 1)
        #expect(n2.drops("eth1", .tunnelNoPort) == 0)
        #expect(n2.accountingHolds)
    }

    /// Two ports to one remote, `key=flow` first in port order and a fixed key after it: a
    /// packet with the fixed key goes to the fixed-key port (exact keys are tried first),
    /// any other key to the flow port.
    @Test func anExactKeyPortWinsOverAKeyFlowPort() throws {
        let n2 = try TunnelNode(underlay: Net.underlay(2), gre: [
            "gre-a": GREOptions(remoteIP: Net.ip1, key: .flow),
            "gre-b": GREOptions(remoteIP: Net.ip1, key: .fixed(0x2A)),
        ])
        n2.receiveOnWire([Net.gre(Self.inner, key: 0x2A)])
        #expect(n2.port("gre-b").stats.rxPackets == 1 && n2.port("gre-a").stats.rxPackets == 0)
        n2.receiveOnWire([Net.gre(Self.inner, key: 0x2B)])
        #expect(n2.port("gre-a").stats.rxPackets == 1)
        n2.datapath.discardTransmitted()
        #expect(n2.accountingHolds)
    }
}
