import Testing
@testable import XDPPacket

private let innerMACA = MACAddress("02:00:00:00:00:0a")!
private let innerMACB = MACAddress("02:00:00:00:00:0b")!
private let tunnelA = IPv4Address(172, 16, 0, 1)
private let tunnelB = IPv4Address(172, 16, 0, 2)
private let innerA = IPv4Address(192, 168, 1, 10)
private let innerB = IPv4Address(192, 168, 1, 20)

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func greFrame(c: Bool, k: Bool, s: Bool) -> FrameBuilder {
    FrameBuilder()
        .ethernet(source: macA, destination: macB)
        .ipv4(source: tunnelA, destination: tunnelB, identification: 0x77)
        .gre(key: k ? 0x00AB_CDEF : nil, checksum: c, sequence: s ? 0x0102_0304 : nil)
        .ethernet(source: innerMACA, destination: innerMACB)
        .ipv4(source: innerA, destination: innerB, ttl: 63, identification: 7)
        .udp(sourcePort: 1111, destinationPort: 2222)
        .payload(bytes("inner"))
}

/// The same frames make_fixtures.py builds with scapy, field for field.
private let sameAsScapy: [(String, FrameBuilder)] = {
    let eth = FrameBuilder().ethernet(source: macA, destination: macB)
    var cases: [(String, FrameBuilder)] = [
        ("ipv4_udp", eth.ipv4(source: ipA, destination: ipB, ttl: 64, identification: 0x1234, tos: 0xB8, dontFragment: true)
            .udp(sourcePort: 5000, destinationPort: 53).payload(bytes("hello"))),
        ("ipv4_tcp", eth.ipv4(source: ipA, destination: ipB, ttl: 63, identification: 0x0101)
            .tcp(sourcePort: 40000, destinationPort: 80, sequence: 0x0102_0304, acknowledgment: 0x0A0B_0C0D,
                 flags: [.psh, .ack], window: 29200)
            .payload(bytes("GET / HTTP/1.0\r\n\r\n"))),
        ("ipv4_tcp_options", eth.ipv4(source: ipA, destination: ipB, identification: 2)
            .tcp(sourcePort: 1234, destinationPort: 443, sequence: 1000, flags: .syn, window: 65535,
                 options: [2, 4, 0x05, 0xB4, 1, 3, 3, 7])),
        ("ipv4_tcp_allflags", eth.ipv4(source: ipA, destination: ipB, identification: 3)
            .tcp(sourcePort: 1, destinationPort: 2, sequence: 0xFFFF_FFFF, acknowledgment: 0x8000_0000,
                 flags: [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr], window: 1, urgentPointer: 0xBEEF)),
        ("ipv4_icmp_echo", eth.ipv4(source: ipA, destination: ipB, identification: 0x4321)
            .icmpEcho(identifier: 0x4242, sequence: 7).payload(bytes("abcdefgh"))),
        ("ipv4_options", eth.ipv4(source: ipA, destination: ipB, ttl: 1, identification: 9, options: [0x94, 0x04, 0, 0])
            .udp(sourcePort: 7, destinationPort: 9).payload(bytes("ra"))),
        ("ipv4_fragment", eth.ipv4(source: ipA, destination: ipB, identification: 99, moreFragments: true,
                                   fragmentOffset: 185, protocolNumber: .udp)
            .payload([UInt8](repeating: UInt8(ascii: "x"), count: 16))),
        ("ipv4_udp_nochecksum", eth.ipv4(source: ipA, destination: ipB)
            .udp(sourcePort: 68, destinationPort: 67, checksum: false).payload(bytes("dhcp"))),
        ("vlan_ipv4_udp", eth.vlan(vid: 100, pcp: 5, dei: true).ipv4(source: ipA, destination: ipB)
            .udp(sourcePort: 5000, destinationPort: 5001).payload(bytes("tagged"))),
        ("qinq_ipv4_icmp", eth.qinq(outerVID: 200, innerVID: 10, outerPCP: 3).ipv4(source: ipA, destination: ipB)
            .icmpEcho(identifier: 1, sequence: 1)),
        ("ipv6_udp", eth.ipv6(source: ip6A, destination: ip6B, trafficClass: 0x28, flowLabel: 0x12345)
            .udp(sourcePort: 5353, destinationPort: 5353).payload(bytes("v6 udp"))),
        ("ipv6_tcp", eth.ipv6(source: ip6A, destination: ip6B)
            .tcp(sourcePort: 50000, destinationPort: 22, sequence: 42, acknowledgment: 43, flags: .ack, window: 500)
            .payload(bytes("ssh"))),
        ("ipv6_icmpv6_echo", eth.ipv6(source: ip6A, destination: ip6B, hopLimit: 255)
            .icmpv6Echo(identifier: 0x1001, sequence: 3).payload(bytes("ping6"))),
        ("gre_ipv4_payload", eth.ipv4(source: tunnelA, destination: tunnelB, identification: 0x78)
            .gre(key: 5, checksum: true)
            .ipv4(source: innerA, destination: innerB, identification: 8).icmpEcho(identifier: 2, sequence: 2)),
    ]
    for c in [false, true] {
        for k in [false, true] {
            for s in [false, true] {
                cases.append(("gre_c\(c ? 1 : 0)_k\(k ? 1 : 0)_s\(s ? 1 : 0)", greFrame(c: c, k: k, s: s)))
            }
        }
    }
    return cases
}()

@Suite struct FrameBuilderTests {
    @Test(arguments: sameAsScapy)
    func builtFrameEqualsScapyBytes(name: String, builder: FrameBuilder) {
        let built = builder.build()
        let expected = Fixtures.frame(name)
        #expect(built == expected, "\(name)")
    }

    @Test func arpHelpersEqualScapyBytes() {
        #expect(FrameBuilder.arpRequest(senderMAC: macA, senderIP: ipA, targetIP: ipB) == Fixtures.frame("arp_request"))
        #expect(FrameBuilder.arpReply(senderMAC: macB, senderIP: ipB, targetMAC: macA, targetIP: ipA)
                == Fixtures.frame("arp_reply"))
    }

    @Test func qinqTCPFrameReadsBackThroughTheViews() {
        let frame = FrameBuilder()
            .ethernet(source: macA, destination: macB)
            .qinq(outerVID: 4000, innerVID: 42, outerPCP: 7, innerPCP: 1)
            .ipv4(source: ipA, destination: ipB, ttl: 9, identification: 0xBEEF, tos: 0x10, dontFragment: true,
                  options: [1, 1, 1])  // three NOPs, padded to 4
            .tcp(sourcePort: 7, destinationPort: 8, sequence: 9, acknowledgment: 10, flags: [.ack, .fin], window: 11,
                 options: [1])
            .payload(count: 33)
            .build()
        withFrame(frame) { p, length in
            let eth = EthernetHeader(p)
            #expect(eth.source == macA && eth.destination == macB && eth.etherType == .qinq)
            let outer = VLANTag(eth.payload)
            #expect(outer.vid == 4000 && outer.pcp == 7 && outer.encapsulatedType == .vlan)
            let inner = VLANTag(outer.payload)
            #expect(inner.vid == 42 && inner.pcp == 1 && inner.encapsulatedType == .ipv4)
            let ip = IPv4Header(inner.payload)
            #expect(IPv4Header.validate(ip.base, length: length - 22) == .none)
            #expect(ip.headerLength == 24 && Array(UnsafeRawBufferPointer(ip.options)) == [1, 1, 1, 0])
            #expect(ip.ttl == 9 && ip.identification == 0xBEEF && ip.tos == 0x10 && ip.dontFragment)
            #expect(Int(ip.totalLength) == length - 22 && ip.isChecksumValid)
            let tcp = TCPHeader(ip.payload)
            #expect(tcp.headerLength == 24 && tcp.flags == [.ack, .fin] && tcp.window == 11)
            #expect(tcp.sequenceNumber == 9 && tcp.acknowledgmentNumber == 10)
            let segment = Int(ip.totalLength) - 24
            #expect(segment == 24 + 33)
            #expect(tcp.checksum == Checksum.tcp(source: ipA, destination: ipB, segment: tcp.base, length: segment))
            #expect(tcp.payload.loadBE8(at: 32) == 32)
        }
    }

    @Test func ipv6UDPFrameReadsBackThroughTheViews() {
        let frame = FrameBuilder()
            .ethernet(source: macA, destination: macB)
            .vlan(vid: 7)
            .ipv6(source: ip6A, destination: ip6B, hopLimit: 3, trafficClass: 0xE0, flowLabel: 0xFFFFF)
            .udp(sourcePort: 546, destinationPort: 547)
            .payload(count: 100)
            .build()
        withFrame(frame) { p, length in
            let tag = VLANTag(p + 14)
            #expect(tag.vid == 7 && tag.encapsulatedType == .ipv6)
            let ip = IPv6Header(tag.payload)
            #expect(IPv6Header.validate(ip.base, length: length - 18))
            #expect(ip.hopLimit == 3 && ip.trafficClass == 0xE0 && ip.flowLabel == 0xFFFFF)
            #expect(ip.payloadLength == 108 && ip.nextHeader == .udp)
            let udp = UDPHeader(ip.payload)
            #expect(udp.length == 108 && udp.sourcePort == 546)
            #expect(Checksum.verifyTransport(pseudoHeaderSum: Checksum.pseudoHeaderSum(source: ip6A, destination: ip6B,
                                                                                       nextHeader: .udp, length: 108),
                                             segment: udp.base, length: 108))
        }
    }

    @Test func greBuilderWritesNonConformingFlagsOnRequest() {
        let frame = FrameBuilder().gre(key: 1, protocolType: .ipv4, reservedBits: 0x0800, version: 1).payload([1]).build()
        withFrame(frame) { p, _ in
            let gre = GREHeader(p)
            #expect(!gre.isSupported && gre.version == 1 && gre.reservedBits == 0x0800 && gre.key == 1)
            #expect(gre.protocolType == .ipv4 && gre.headerLength == 8)
        }
    }

    @Test func buildIntoBufferWritesOrRefuses() {
        let builder = FrameBuilder().ethernet(source: macA, destination: macB)
            .ipv4(source: ipA, destination: ipB).udp(sourcePort: 1, destinationPort: 2).payload(count: 10)
        let expected = builder.build()
        var buffer = [UInt8](repeating: 0xEE, count: 128)
        let written = buffer.withUnsafeMutableBytes { builder.build(into: $0) }
        #expect(written == expected.count)
        #expect(Array(buffer[0..<expected.count]) == expected && buffer[expected.count] == 0xEE)
        var small = [UInt8](repeating: 0xEE, count: expected.count - 1)
        #expect(small.withUnsafeMutableBytes { builder.build(into: $0) } == nil)
        #expect(small.allSatisfy { $0 == 0xEE })
    }

    @Test func builderIsAValue() {
        let base = FrameBuilder().ethernet(source: macA, destination: macB).ipv4(source: ipA, destination: ipB)
        let udp = base.udp(sourcePort: 1, destinationPort: 2).build()
        let tcp = base.tcp(sourcePort: 1, destinationPort: 2).build()
        #expect(udp[23] == 17 && tcp[23] == 6)
        #expect(base.build().count == 34)
    }
}
