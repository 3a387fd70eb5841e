import Testing
@testable import XDPPacket

/// Each view reads every field of a scapy-made frame, and writing every field into zeroed
/// memory reproduces scapy's bytes.
@Suite struct HeaderViewTests {
    @Test func ethernetReadsAndWritesEveryField() {
        let frame = Fixtures.frame("ipv4_udp")
        withFrame(frame) { p, length in
            #expect(EthernetHeader.validate(length: length) && !EthernetHeader.validate(length: 13))
            let eth = EthernetHeader(p)
            #expect(eth.destination == macB)
            #expect(eth.source == macA)
            #expect(eth.etherType == .ipv4)
            #expect(eth.payload == p + 14)
        }
        let written = writing(14) { p in
            let eth = EthernetHeader(p)
            eth.destination = macB
            eth.source = macA
            eth.etherType = .ipv4
        }
        #expect(written == Array(frame[0..<14]))
        #expect(EthernetHeader.minimumLength == 14)
    }

    @Test func vlanTagReadsPCPDEIAndVID() {
        let frame = Fixtures.frame("vlan_ipv4_udp")  // Dot1Q(vlan=100, prio=5, id=1)
        withFrame(frame) { p, _ in
            let eth = EthernetHeader(p)
            #expect(eth.etherType == .vlan)
            let tag = VLANTag(eth.payload)
            #expect(tag.pcp == 5)
            #expect(tag.dei)
            #expect(tag.vid == 100)
            #expect(tag.tci == VLANTag.tci(pcp: 5, dei: true, vid: 100))
            #expect(tag.encapsulatedType == .ipv4)
            #expect(IPv4Header(tag.payload).version == 4)
        }
        let written = writing(4) { p in
            let tag = VLANTag(p)
            tag.vid = 100
            tag.pcp = 5
            tag.dei = true
            tag.encapsulatedType = .ipv4
        }
        #expect(written == Array(frame[14..<18]))
    }

    @Test func vlanTagFieldsDoNotDisturbEachOther() {
        _ = writing(4) { p in
            let tag = VLANTag(p)
            tag.tci = 0xFFFF
            tag.vid = 0
            #expect(tag.tci == 0xF000)
            tag.pcp = 0
            #expect(tag.tci == 0x1000)
            tag.dei = false
            #expect(tag.tci == 0)
            tag.vid = 0xFFFF  // masked to 12 bits
            #expect(tag.tci == 0x0FFF && tag.pcp == 0 && !tag.dei)
            tag.pcp = 0xFF  // masked to 3 bits
            #expect(tag.tci == 0xEFFF)
        }
    }

    @Test func qinqTagsChainThroughEncapsulatedType() {
        withFrame(Fixtures.frame("qinq_ipv4_icmp")) { p, _ in  // Dot1AD(vlan=200, prio=3) / Dot1Q(vlan=10)
            let eth = EthernetHeader(p)
            #expect(eth.etherType == .qinq)
            let outer = VLANTag(eth.payload)
            #expect(outer.vid == 200 && outer.pcp == 3 && !outer.dei)
            #expect(outer.encapsulatedType == .vlan)
            let inner = VLANTag(outer.payload)
            #expect(inner.vid == 10 && inner.pcp == 0)
            #expect(inner.encapsulatedType == .ipv4)
            #expect(IPv4Header(inner.payload).protocolNumber == .icmp)
        }
    }

    @Test func arpReadsAndWritesEveryField() {
        let request = Fixtures.frame("arp_request")
        withFrame(request) { p, length in
            #expect(ARPHeader.validate(p + 14, length: length - 14))
            #expect(!ARPHeader.validate(p + 14, length: 27))
            let arp = ARPHeader(p + 14)
            #expect(arp.hardwareType == 1 && arp.protocolType == .ipv4)
            #expect(arp.hardwareLength == 6 && arp.protocolLength == 4)
            #expect(arp.operation == .request)
            #expect(arp.senderHardwareAddress == macA && arp.senderProtocolAddress == ipA)
            #expect(arp.targetHardwareAddress == .zero && arp.targetProtocolAddress == ipB)
            #expect(!arp.isGratuitous)
            arp.protocolLength = 16
            #expect(!ARPHeader.validate(p + 14, length: 28))
        }
        let reply = Fixtures.frame("arp_reply")
        let written = writing(28) { p in
            let arp = ARPHeader(p)
            arp.hardwareType = 1
            arp.protocolType = .ipv4
            arp.hardwareLength = 6
            arp.protocolLength = 4
            arp.operation = .reply
            arp.senderHardwareAddress = macB
            arp.senderProtocolAddress = ipB
            arp.targetHardwareAddress = macA
            arp.targetProtocolAddress = ipA
        }
        #expect(written == Array(reply[14...]))
    }

    @Test func ipv4ReadsEveryField() {
        withFrame(Fixtures.frame("ipv4_udp")) { p, length in  // id 0x1234, DF, tos 0xb8, ttl 64
            #expect(IPv4Header.validate(p + 14, length: length - 14) == .none)
            let ip = IPv4Header(p + 14)
            #expect(ip.version == 4 && ip.ihl == 5 && ip.headerLength == 20)
            #expect(ip.tos == 0xB8 && ip.dscp == 46 && ip.ecn == 0)
            #expect(ip.totalLength == 33)
            #expect(ip.identification == 0x1234)
            #expect(ip.dontFragment && !ip.moreFragments && !ip.reservedFlag)
            #expect(ip.fragmentOffset == 0 && !ip.isFragment)
            #expect(ip.ttl == 64 && ip.protocolNumber == .udp)
            #expect(ip.headerChecksum == 0x13DE)
            #expect(ip.isChecksumValid)
            #expect(ip.source == ipA && ip.destination == ipB)
            #expect(ip.options.count == 0)
            #expect(ip.payload == p + 34)
        }
        withFrame(Fixtures.frame("ipv4_fragment")) { p, _ in  // MF, frag 185
            let ip = IPv4Header(p + 14)
            #expect(ip.moreFragments && !ip.dontFragment && ip.fragmentOffset == 185 && ip.isFragment)
            #expect(ip.flagsAndFragmentOffset == 0x2000 | 185)
        }
    }

    @Test func ipv4WithOptionsReadsAndWrites() {
        let frame = Fixtures.frame("ipv4_options")  // Router Alert, ttl 1
        withFrame(frame) { p, length in
            #expect(IPv4Header.validate(p + 14, length: length - 14) == .none)
            let ip = IPv4Header(p + 14)
            #expect(ip.ihl == 6 && ip.headerLength == 24)
            #expect(Array(UnsafeRawBufferPointer(ip.options)) == [0x94, 0x04, 0x00, 0x00])
            #expect(ip.isChecksumValid)
            #expect(UDPHeader(ip.payload).destinationPort == 9)
        }
        let header = Array(frame[14..<38])
        let written = writing(24) { p in
            let ip = IPv4Header(p)
            ip.version = 4
            ip.ihl = 6
            ip.totalLength = 0x22
            ip.identification = 9
            ip.ttl = 1
            ip.protocolNumber = .udp
            ip.source = ipA
            ip.destination = ipB
            ip.options.copyBytes(from: [0x94, 0x04, 0x00, 0x00])
            ip.updateChecksum()
        }
        #expect(written == header)
    }

    @Test func ipv4WritesEveryFieldLikeScapy() {
        let frame = Fixtures.frame("ipv4_udp")
        let written = writing(20) { p in
            let ip = IPv4Header(p)
            ip.version = 4
            ip.ihl = 5
            ip.dscp = 46
            ip.ecn = 0
            ip.totalLength = 33
            ip.identification = 0x1234
            ip.dontFragment = true
            ip.moreFragments = false
            ip.fragmentOffset = 0
            ip.ttl = 64
            ip.protocolNumber = .udp
            ip.source = ipA
            ip.destination = ipB
            #expect(!ip.isChecksumValid)
            ip.updateChecksum()
            #expect(ip.isChecksumValid)
        }
        #expect(written == Array(frame[14..<34]))
    }

    @Test func ipv4SubByteFieldsAreIsolated() {
        _ = writing(20) { p in
            let ip = IPv4Header(p)
            ip.version = 4
            ip.ihl = 15
            #expect(p.loadBE8(at: 0) == 0x4F)
            ip.version = 6
            #expect(ip.ihl == 15 && p.loadBE8(at: 0) == 0x6F)
            ip.dscp = 0x3F
            ip.ecn = 1
            #expect(ip.tos == 0xFD)
            ip.dscp = 0
            #expect(ip.ecn == 1)
            ip.fragmentOffset = 0xFFFF
            #expect(ip.flagsAndFragmentOffset == 0x1FFF && !ip.dontFragment && !ip.moreFragments)
            ip.dontFragment = true
            ip.moreFragments = true
            ip.reservedFlag = true
            #expect(ip.flagsAndFragmentOffset == 0xFFFF)
            ip.dontFragment = false
            #expect(ip.flagsAndFragmentOffset == 0xBFFF && ip.fragmentOffset == 0x1FFF)
            ip.fragmentOffset = 0
            #expect(ip.flagsAndFragmentOffset == 0xA000)
        }
    }

    @Test func ipv4ValidateRefusesLyingHeaders() {
        let frame = Fixtures.frame("ipv4_udp")
        withFrame(frame) { p, length in
            let ip = IPv4Header(p + 14)
            let l3 = length - 14
            #expect(IPv4Header.validate(p + 14, length: 19) == .badIPv4Header)
            #expect(IPv4Header.validate(p + 14, length: 32) == .badIPv4Length)  // total 33 > 32
            ip.ihl = 4
            #expect(IPv4Header.validate(p + 14, length: l3) == .badIPv4Header)
            ip.ihl = 15  // 60 bytes > 33
            #expect(IPv4Header.validate(p + 14, length: l3) == .badIPv4Header)
            ip.ihl = 5
            ip.version = 6
            #expect(IPv4Header.validate(p + 14, length: l3) == .badIPv4Header)
            ip.version = 4
            ip.totalLength = 19
            #expect(IPv4Header.validate(p + 14, length: l3) == .badIPv4Length)
            ip.totalLength = 33
            #expect(IPv4Header.validate(p + 14, length: l3) == .none)
        }
    }

    @Test func ipv4DecrementTTLPatchesChecksum() {
        withFrame(Fixtures.frame("ipv4_tcp")) { p, _ in  // ttl 63
            let ip = IPv4Header(p + 14)
            for expected in stride(from: 62, through: 1, by: -1) {
                #expect(ip.decrementTTL())
                #expect(ip.ttl == UInt8(expected))
                #expect(ip.isChecksumValid)
                #expect(ip.headerChecksum == Checksum.ipv4Header(ip.base, headerLength: 20))
            }
            let before = ip.headerChecksum
            #expect(!ip.decrementTTL())  // TTL 1: not forwarded, nothing changes
            #expect(ip.ttl == 1 && ip.headerChecksum == before)
        }
    }

    @Test func ipv6ReadsAndWritesEveryField() {
        let frame = Fixtures.frame("ipv6_udp")  // tc 0x28, fl 0x12345, hlim 64
        withFrame(frame) { p, length in
            #expect(IPv6Header.validate(p + 14, length: length - 14))
            #expect(!IPv6Header.validate(p + 14, length: length - 15))
            let ip = IPv6Header(p + 14)
            #expect(ip.version == 6)
            #expect(ip.trafficClass == 0x28)
            #expect(ip.flowLabel == 0x12345)
            #expect(ip.payloadLength == 14)
            #expect(ip.nextHeader == .udp)
            #expect(ip.hopLimit == 64)
            #expect(ip.source == ip6A && ip.destination == ip6B)
            #expect(UDPHeader(ip.payload).sourcePort == 5353)
            ip.version = 4
            #expect(!IPv6Header.validate(p + 14, length: length - 14))
        }
        let written = writing(40) { p in
            let ip = IPv6Header(p)
            ip.version = 6
            ip.trafficClass = 0x28
            ip.flowLabel = 0x12345
            ip.payloadLength = 14
            ip.nextHeader = .udp
            ip.hopLimit = 64
            ip.source = ip6A
            ip.destination = ip6B
        }
        #expect(written == Array(frame[14..<54]))
        _ = writing(40) { p in
            let ip = IPv6Header(p)
            ip.versionClassFlow = 0xFFFF_FFFF
            ip.trafficClass = 0
            #expect(ip.versionClassFlow == 0xF00F_FFFF)
            ip.flowLabel = 0
            #expect(ip.versionClassFlow == 0xF000_0000)
            ip.version = 6
            ip.flowLabel = 0xFFFF_FFFF  // masked to 20 bits
            #expect(ip.versionClassFlow == 0x600F_FFFF)
        }
    }

    @Test func tcpReadsAndWritesEveryField() {
        let frame = Fixtures.frame("ipv4_tcp")  // seq 0x01020304, ack 0x0a0b0c0d, PA, window 29200
        withFrame(frame) { p, length in
            let ip = IPv4Header(p + 14)
            #expect(TCPHeader.validate(ip.payload, length: length - 34))
            let tcp = TCPHeader(ip.payload)
            #expect(tcp.sourcePort == 40000 && tcp.destinationPort == 80)
            #expect(tcp.sequenceNumber == 0x0102_0304 && tcp.acknowledgmentNumber == 0x0A0B_0C0D)
            #expect(tcp.dataOffset == 5 && tcp.headerLength == 20 && tcp.options.count == 0)
            #expect(tcp.flags == [.psh, .ack])
            #expect(tcp.window == 29200 && tcp.urgentPointer == 0)
            #expect(tcp.checksum == 0x9459)
            #expect(Array(UnsafeRawBufferPointer(start: tcp.payload, count: 4)) == Array("GET ".utf8))
        }
        let written = writing(20) { p in
            let tcp = TCPHeader(p)
            tcp.sourcePort = 40000
            tcp.destinationPort = 80
            tcp.sequenceNumber = 0x0102_0304
            tcp.acknowledgmentNumber = 0x0A0B_0C0D
            tcp.dataOffset = 5
            tcp.flags = [.psh, .ack]
            tcp.window = 29200
            tcp.checksum = 0x9459
            tcp.urgentPointer = 0
        }
        #expect(written == Array(frame[34..<54]))
    }

    @Test func tcpReadsOptionsAndAllFlags() {
        withFrame(Fixtures.frame("ipv4_tcp_options")) { p, length in
            let tcp = TCPHeader(p + 34)
            #expect(TCPHeader.validate(tcp.base, length: length - 34))
            #expect(!TCPHeader.validate(tcp.base, length: 27))  // data offset 7 needs 28
            #expect(tcp.dataOffset == 7 && tcp.headerLength == 28)
            #expect(Array(UnsafeRawBufferPointer(tcp.options)) == [2, 4, 0x05, 0xB4, 1, 3, 3, 7])
            #expect(tcp.flags == .syn && tcp.window == 65535)
        }
        withFrame(Fixtures.frame("ipv4_tcp_allflags")) { p, _ in  // FSRPAUEC, urgptr 0xbeef
            let tcp = TCPHeader(p + 34)
            #expect(tcp.flags == [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr])
            #expect(!tcp.flags.contains(.ns))
            #expect(tcp.sequenceNumber == 0xFFFF_FFFF && tcp.acknowledgmentNumber == 0x8000_0000)
            #expect(tcp.urgentPointer == 0xBEEF && tcp.window == 1)
            tcp.flags = .ns
            #expect(tcp.dataOffset == 5 && p.loadBE16(at: 34 + 12) == 0x5100)
            tcp.dataOffset = 15
            #expect(tcp.flags == .ns)
        }
        withFrame(Fixtures.frame("ipv4_tcp")) { p, _ in
            p.storeBE8(0x40, at: 34 + 12)  // data offset 4: impossible
            #expect(!TCPHeader.validate(p + 34, length: 100))
        }
    }

    @Test func udpReadsAndWritesEveryField() {
        let frame = Fixtures.frame("ipv4_udp")
        withFrame(frame) { p, length in
            #expect(UDPHeader.validate(p + 34, length: length - 34))
            #expect(!UDPHeader.validate(p + 34, length: length - 35))  // udp length 13 > 12
            let udp = UDPHeader(p + 34)
            #expect(udp.sourcePort == 5000 && udp.destinationPort == 53)
            #expect(udp.length == 13 && udp.checksum == 0x9442)
            #expect(udp.payload.loadBE8(at: 0) == UInt8(ascii: "h"))
            udp.length = 7
            #expect(!UDPHeader.validate(p + 34, length: length - 34))
        }
        let written = writing(8) { p in
            let udp = UDPHeader(p)
            udp.sourcePort = 5000
            udp.destinationPort = 53
            udp.length = 13
            udp.checksum = 0x9442
        }
        #expect(written == Array(frame[34..<42]))
    }

    @Test func icmpReadsEchoAndFragmentationNeeded() {
        let frame = Fixtures.frame("ipv4_icmp_echo")  // id 0x4242, seq 7
        withFrame(frame) { p, length in
            let icmp = ICMPHeader(p + 34)
            #expect(ICMPHeader.validate(length: length - 34) && !ICMPHeader.validate(length: 7))
            #expect(icmp.type == .echo && icmp.code == 0)
            #expect(icmp.identifier == 0x4242 && icmp.sequenceNumber == 7)
            #expect(icmp.restOfHeader == 0x4242_0007)
            #expect(icmp.checksum == 0x2421)
            #expect(icmp.payload.loadBE8(at: 0) == UInt8(ascii: "a"))
        }
        withFrame(Fixtures.frame("ipv4_icmp_fragneeded")) { p, _ in
            let icmp = ICMPHeader(p + 34)
            #expect(icmp.type == .destinationUnreachable && icmp.code == ICMPType.Code.fragmentationNeeded)
            #expect(icmp.nextHopMTU == 1400)
            #expect(IPv4Header(icmp.payload).destination == IPv4Address(10, 9, 9, 9))
        }
        let written = writing(16) { p in
            let icmp = ICMPHeader(p)
            icmp.type = .echo
            icmp.code = 0
            icmp.identifier = 0x4242
            icmp.sequenceNumber = 7
            icmp.payload.copyMemory(from: Array("abcdefgh".utf8), byteCount: 8)
            icmp.updateChecksum(length: 16)
        }
        #expect(written == Array(frame[34...]))
    }

    @Test func icmpv6ReadsEchoAndPacketTooBig() {
        let frame = Fixtures.frame("ipv6_icmpv6_echo")  // id 0x1001, seq 3
        withFrame(frame) { p, length in
            #expect(ICMPv6Header.validate(length: length - 54) && !ICMPv6Header.validate(length: 7))
            let icmp = ICMPv6Header(p + 54)
            #expect(icmp.type == .echo && icmp.code == 0)
            #expect(icmp.identifier == 0x1001 && icmp.sequenceNumber == 3)
            #expect(icmp.restOfHeader == 0x1001_0003)
            #expect(icmp.payload.loadBE8(at: 0) == UInt8(ascii: "p"))
            let stored = icmp.checksum
            icmp.checksum = 0
            #expect(Checksum.icmpv6(source: ip6A, destination: ip6B, message: icmp.base, length: length - 54) == stored)
        }
        withFrame(Fixtures.frame("ipv6_icmpv6_toobig")) { p, _ in
            let icmp = ICMPv6Header(p + 54)
            #expect(icmp.type == .packetTooBig && icmp.mtu == 1280)
            #expect(IPv6Header(icmp.payload).destination == IPv6Address("2001:db8::9"))
        }
        let written = writing(8) { p in
            let icmp = ICMPv6Header(p)
            icmp.type = .packetTooBig
            icmp.code = 0
            icmp.checksum = 0xABCD
            icmp.mtu = 1280
        }
        #expect(written == [2, 0, 0xAB, 0xCD, 0, 0, 5, 0])
    }

    @Test func minimumLengthsMatchTheRFCs() {
        #expect(VLANTag.minimumLength == 4 && ARPHeader.minimumLength == 28)
        #expect(IPv4Header.minimumLength == 20 && IPv6Header.minimumLength == 40)
        #expect(TCPHeader.minimumLength == 20 && UDPHeader.minimumLength == 8)
        #expect(ICMPHeader.minimumLength == 8 && ICMPv6Header.minimumLength == 8)
        #expect(GREHeader.minimumLength == 4 && IPv6FragmentHeader.minimumLength == 8)
    }
}
