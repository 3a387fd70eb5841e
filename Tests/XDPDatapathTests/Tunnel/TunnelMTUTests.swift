import Testing
import XDPDatapath
import XDPPacket

/// Frames too big for the underlay once encapsulated: counted, and answered with ICMP
/// fragmentation-needed (IPv4 with DF) or ICMPv6 packet-too-big, built as if the
/// destination had sent it and delivered to the sender through the bridges.
@Suite struct TunnelMTUTests {
    /// Underlay 1500, keyed GRE (28) and a tagged inner frame (18): an inner IP packet may
    /// be 1500 - 28 - 18 = 1454 bytes.
    static let innerMTU: UInt32 = 1454

    /// A UDP packet of exactly `ipLength` IPv4 bytes from A to B.
    static func udp(ipLength: Int, dontFragment: Bool = true) -> [UInt8] {
        Net.udp(payload: ipLength - 28, dontFragment: dontFragment)
    }

    /// What the switch must send back to A for the too-big `frame` (untagged at A's port).
    static func fragmentationNeeded(for frame: [UInt8], mtu: UInt32 = innerMTU) -> [UInt8] {
        let ip = Array(frame[14...])
        return FrameBuilder()
            .ethernet(source: Net.vmB, destination: Net.vmA)
            .ipv4(source: Net.ipB, destination: Net.ipA, ttl: 64, identification: 0, dontFragment: true)
            .icmp(type: .destinationUnreachable, code: ICMPType.Code.fragmentationNeeded, rest: mtu)
            .payload(Array(ip[0..<min(ip.count, 548)]))
            .build()
    }

    @Test func largestFittingFramePasses() throws {
        let n1 = try Net.node(1), n2 = try Net.node(2)
        let frame = Self.udp(ipLength: Int(Self.innerMTU))
        n1.send(frame)
        let wire = n1.carry(to: n2)
        #expect(wire.first?.count == 1514, "a full-size underlay frame")
        #expect(n2.transmitted("vm") == [frame])
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 0)
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func tooBigWithDFIsAnsweredWithFragmentationNeeded() throws {
        let n1 = try Net.node(1)
        let frame = Self.udp(ipLength: Int(Self.innerMTU) + 1)
        n1.send(frame)
        #expect(n1.wireOut().isEmpty)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        let back = n1.transmitted("vm")
        #expect(back == [Self.fragmentationNeeded(for: frame)])
        #expect(back.first?.count == 14 + 576, "the error is 576 bytes of IPv4")
        #expect(n1.underlay.pathMTUErrors == 1)
        // It entered br-tun as if received on the gre port: B's MAC is now learned there.
        #expect(n1.port("gre").stats.rxPackets == 1)
        #expect(n1.port("patch-tun").stats.rxPackets == 1)
        #expect(n1.accountingHolds)
    }

    @Test func errorQuotesWholeSmallDatagramsAndVerifies() throws {
        // Underlay MTU 576: a 540-byte IP packet does not fit (540 + 46 > 576); quoted whole.
        let n1 = try Net.node(1, mtu: 576)
        let frame = Self.udp(ipLength: 540)
        n1.send(frame)
        let back = try #require(n1.transmitted("vm").first)
        #expect(back == Self.fragmentationNeeded(for: frame, mtu: 576 - 28 - 18))
        back.withUnsafeBytes { raw in
            var meta = PacketMetadata()
            let p = UnsafeMutableRawPointer(mutating: raw.baseAddress!)
            #expect(PacketParser.parse(p, length: raw.count, into: &meta))
            #expect(meta.flags.contains(.icmp) && meta.tpSrc == 3 && meta.tpDst == 4)
            #expect(Checksum.verifyIPv4Header(p + 14, headerLength: 20))
            #expect(Checksum.verify(p + 34, length: raw.count - 34))
        }
        #expect(n1.accountingHolds)
    }

    @Test func tooBigWithoutDFIsOnlyCounted() throws {
        let n1 = try Net.node(1)
        n1.send(Self.udp(ipLength: 1480, dontFragment: false))
        #expect(n1.wireOut().isEmpty && n1.transmitted("vm").isEmpty)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        #expect(n1.underlay.pathMTUErrors == 0)
        #expect(n1.accountingHolds)
    }

    @Test func icmpErrorsAreNotAnsweredButEchoIs() throws {
        let n1 = try Net.node(1)
        let quote = [UInt8](repeating: 0x45, count: 1460)
        let error = FrameBuilder()
            .ethernet(source: Net.vmA, destination: Net.vmB)
            .ipv4(source: Net.ipA, destination: Net.ipB, dontFragment: true)
            .icmp(type: .destinationUnreachable, code: 3)
            .payload(quote)
            .build()
        n1.send(error)
        #expect(n1.transmitted("vm").isEmpty)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        let echo = FrameBuilder()
            .ethernet(source: Net.vmA, destination: Net.vmB)
            .ipv4(source: Net.ipA, destination: Net.ipB, dontFragment: true)
            .icmpEcho(identifier: 1, sequence: 1)
            .payload(quote)
            .build()
        n1.send(echo)
        #expect(n1.transmitted("vm") == [Self.fragmentationNeeded(for: echo)])
        #expect(n1.accountingHolds)
    }

    @Test func broadcastSourcesGetNoError() throws {
        let n1 = try Net.node(1)
        let frame = FrameBuilder()
            .ethernet(source: Net.vmA, destination: .broadcast)
            .ipv4(source: Net.ipA, destination: IPv4Address(255, 255, 255, 255), dontFragment: true)
            .udp(sourcePort: 1, destinationPort: 2)
            .payload(count: 1460)
            .build()
        n1.send(frame)
        #expect(n1.transmitted("vm").isEmpty)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        #expect(n1.accountingHolds)
    }

    @Test func ipv6TooBigIsAnsweredWithPacketTooBig() throws {
        let n1 = try Net.node(1)
        let frame = FrameBuilder()
            .ethernet(source: Net.vmA, destination: Net.vmB)
            .ipv6(source: Net.ip6A, destination: Net.ip6B)
            .udp(sourcePort: 1000, destinationPort: 2000)
            .payload(count: 1455 - 48)
            .build()
        n1.send(frame)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        let ip = Array(frame[14...])
        let expected = FrameBuilder()
            .ethernet(source: Net.vmB, destination: Net.vmA)
            .ipv6(source: Net.ip6B, destination: Net.ip6A, hopLimit: 64)
            .icmpv6(type: .packetTooBig, code: 0, rest: Self.innerMTU)
            .payload(Array(ip[0..<1232]))
            .build()
        #expect(n1.transmitted("vm") == [expected])
        #expect(n1.accountingHolds)
    }

    @Test func ipv6BelowTheMinimumMTUGetsNoError() throws {
        let n1 = try Net.node(1, mtu: 1300)
        let frame = FrameBuilder()
            .ethernet(source: Net.vmA, destination: Net.vmB)
            .ipv6(source: Net.ip6A, destination: Net.ip6B)
            .udp(sourcePort: 1000, destinationPort: 2000)
            .payload(count: 1300)
            .build()
        n1.send(frame)
        #expect(n1.drops("gre", .tunnelMTUExceeded) == 1)
        #expect(n1.transmitted("vm").isEmpty)
        #expect(n1.accountingHolds)
    }

    @Test func errorReachesASenderOnAnotherLocalVLAN() throws {
        // The VM's port is on local VLAN 7: the error travels br-tun → br-int in VLAN 7.
        let node = try TunnelNode(underlay: Net.underlay(1), gre: ["gre": GREOptions(remoteIP: Net.ip2, key: .fixed(1))], vmTag: 7)
        let frame = Self.udp(ipLength: 1480)
        node.send(frame)
        #expect(node.transmitted("vm") == [Self.fragmentationNeeded(for: frame)])
        #expect(node.accountingHolds)
    }

    @Test func poolExhaustionSendsNoErrorButStillCounts() throws {
        let node = try TunnelNode(underlay: Net.underlay(1), gre: ["gre": GREOptions(remoteIP: Net.ip2, key: .fixed(1))], frames: 1)
        node.send(Self.udp(ipLength: 1480))
        #expect(node.transmitted("vm").isEmpty)
        #expect(node.drops("gre", .tunnelMTUExceeded) == 1)
        #expect(node.drops("gre", .noBuffer) == 1)
        #expect(node.accountingHolds)
    }
}
