import Testing
import XDPPacket

private let src = MACAddress("fa:16:3e:00:00:01")!
private let dst = MACAddress("fa:16:3e:00:00:02")!
private let ip1 = IPv4Address(10, 0, 0, 1), ip2 = IPv4Address(10, 0, 0, 2)
private let v6a = IPv6Address("2001:db8::1")!, v6b = IPv6Address("2001:db8::2")!

/// The kinds of frame the parser walks into, each well formed.
private let frames: [(String, [UInt8])] = {
    let eth = FrameBuilder().ethernet(source: src, destination: dst)
    return [
        ("arp request", FrameBuilder.arpRequest(senderMAC: src, senderIP: ip1, targetIP: ip2)),
        ("arp reply", FrameBuilder.arpReply(senderMAC: dst, senderIP: ip2, targetMAC: src, targetIP: ip1)),
        ("tcp syn", eth.ipv4(source: ip1, destination: ip2).tcp(sourcePort: 5000, destinationPort: 80).build()),
        ("tcp options", eth.ipv4(source: ip1, destination: ip2, options: [1, 1, 1, 0])
            .tcp(sourcePort: 1000, destinationPort: 22, flags: [.psh, .ack], options: [2, 4, 5, 0xb4]).payload(count: 9).build()),
        ("udp", eth.ipv4(source: ip1, destination: ip2).udp(sourcePort: 68, destinationPort: 67).payload(count: 20).build()),
        ("icmp", eth.ipv4(source: ip1, destination: ip2).icmpEcho(identifier: 1, sequence: 1).payload(count: 8).build()),
        ("first fragment", eth.ipv4(source: ip1, destination: ip2, moreFragments: true)
            .udp(sourcePort: 9, destinationPort: 10).payload(count: 16).build()),
        ("later fragment", eth.ipv4(source: ip1, destination: ip2, fragmentOffset: 8, protocolNumber: .udp)
            .payload(count: 16).build()),
        ("vlan udp", eth.vlan(vid: 100, pcp: 3).ipv4(source: ip1, destination: ip2)
            .udp(sourcePort: 1, destinationPort: 2).build()),
        ("qinq tcp", eth.qinq(outerVID: 7, innerVID: 9).ipv4(source: ip1, destination: ip2)
            .tcp(sourcePort: 3, destinationPort: 4).build()),
        ("ipv6 udp", eth.ipv6(source: v6a, destination: v6b).udp(sourcePort: 546, destinationPort: 547).payload(count: 4).build()),
        ("ipv6 hop-by-hop udp", eth.ipv6(source: v6a, destination: v6b, nextHeader: IPProtocol(rawValue: 0))
            .payload([17, 0, 1, 4, 0, 0, 0, 0, 0x04, 0x00, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]).build()),
        ("icmpv6", eth.ipv6(source: v6a, destination: v6b).icmpv6Echo(identifier: 3, sequence: 4).build()),
        ("gre", eth.ipv4(source: ip1, destination: ip2).gre(key: 2, checksum: true, sequence: 9)
            .ethernet(source: src, destination: dst).payload(count: 10).build()),
        ("unknown ethertype", FrameBuilder().ethernet(source: src, destination: dst, type: EtherType(rawValue: 0x88B5))
            .payload(count: 46).build()),
        ("three tags", eth.vlan(vid: 1).vlan(vid: 2).vlan(vid: 3).ipv4(source: ip1, destination: ip2)
            .udp(sourcePort: 1, destinationPort: 2).build()),
    ]
}()

/// The datapath's parse, over a copy of `bytes` in mutable memory.
private func mutableParse(_ bytes: [UInt8]) -> PacketMetadata {
    var meta = PacketMetadata()
    var copy = bytes + [0]  // never empty, so there is always a pointer to give
    copy.withUnsafeMutableBytes { _ = PacketParser.parse($0.baseAddress!, length: bytes.count, into: &meta) }
    return meta
}

/// Every frame of `frames`, cut at every length, and with each byte set to 0x00 and to
/// 0xff in turn: lengths that lie, IHLs below 5, versions that are wrong, tags cut off.
private func hostileVariants() -> [[UInt8]] {
    var out: [[UInt8]] = []
    for (_, frame) in frames {
        for length in 0...frame.count { out.append(Array(frame[0..<length])) }
        for index in frame.indices {
            for value: UInt8 in [0x00, 0xFF, frame[index] ^ 0x0F] {
                var bad = frame
                bad[index] = value
                out.append(bad)
            }
        }
    }
    return out
}

@Suite struct ReadOnlyParseTests {
    @Test func readOnlyEntriesAgreeWithTheDatapathsParseOnEveryHostileFrame() {
        let variants = hostileVariants()
        #expect(variants.count > 3_000)
        var errors = Set<ParseError>()
        for bytes in variants {
            let expected = mutableParse(bytes)
            errors.insert(expected.error)
            let fromBuffer = bytes.withUnsafeBytes { PacketParser.parse($0) }
            #expect(fromBuffer == expected, "\(bytes)")
            #expect(PacketParser.parse(bytes) == expected)
            #expect(PacketParser.parse(bytes[...]) == expected, "a slice is contiguous")
            #expect(PacketParser.parse(bytes.lazy.map { $0 }) == expected, "a non-contiguous collection is copied")
        }
        // The variants reach every error the parser has, so the comparison covers each path.
        #expect(errors == Set(ParseError.allCases))
    }

    @Test func readOnlyParseLeavesTheBytesAlone() {
        for (_, frame) in frames {
            let before = frame
            _ = frame.withUnsafeBytes { PacketParser.parse($0) }
            #expect(frame == before)
        }
    }

    @Test func hostileFramesGiveTheirParseErrors() {
        let udp = frames.first { $0.0 == "udp" }!.1
        #expect(PacketParser.parse([UInt8]()).error == .truncatedEthernet)
        #expect(PacketParser.parse(Array(udp[0..<13])).error == .truncatedEthernet)
        var longTotal = udp
        longTotal[16] = 0x05; longTotal[17] = 0xDC  // total length 1500 in a frame of 62 bytes
        #expect(PacketParser.parse(longTotal).error == .badIPv4Length)
        var shortIHL = udp
        shortIHL[14] = 0x44
        #expect(PacketParser.parse(shortIHL).error == .badIPv4Header)
        #expect(PacketParser.parse(Array(udp[0..<(14 + 20 + 4)])).error == .badIPv4Length)
        let tcp = frames.first { $0.0 == "tcp syn" }!.1
        var tcpCut = tcp
        tcpCut[16] = 0; tcpCut[17] = 30  // IPv4 total length leaves 10 bytes of TCP header
        #expect(PacketParser.parse(tcpCut).error == .truncatedL4)
        let tags = frames.first { $0.0 == "three tags" }!.1
        #expect(PacketParser.parse(tags).error == .tooManyVLANTags)
        #expect(PacketParser.parse(tags).isMalformed)
    }

    @Test func typedAccessorsReadTheFields() {
        let vlanUDP = PacketParser.parse(frames.first { $0.0 == "vlan udp" }!.1)
        #expect(vlanUDP.sourceMAC == src && vlanUDP.destinationMAC == dst)
        #expect(vlanUDP.outerVLAN == PacketMetadata.VLAN(tci: 3 << 13 | 100))
        #expect(vlanUDP.outerVLAN?.id == 100 && vlanUDP.outerVLAN?.priority == 3 && vlanUDP.outerVLAN?.dropEligible == false)
        #expect(vlanUDP.taggedVLANID == 100 && vlanUDP.innerVLAN == nil && vlanUDP.outerVLANType == .vlan)
        #expect(vlanUDP.payloadType == .ipv4)
        #expect(vlanUDP.ipv4Source == ip1 && vlanUDP.ipv4Destination == ip2)
        #expect(vlanUDP.ipv6Source == nil && vlanUDP.arpSenderIP == nil)
        #expect(vlanUDP.ipProtocol == .udp && vlanUDP.ttl == 64)
        #expect(vlanUDP.sourcePort == 1 && vlanUDP.destinationPort == 2)
        #expect(vlanUDP.tcpControlFlags == nil && vlanUDP.icmpType == nil)

        let qinq = PacketParser.parse(frames.first { $0.0 == "qinq tcp" }!.1)
        #expect(qinq.outerVLANType == .qinq && qinq.outerVLAN?.id == 7 && qinq.innerVLAN?.id == 9)
        #expect(qinq.tcpControlFlags == .syn)

        let untagged = PacketParser.parse(frames.first { $0.0 == "tcp options" }!.1)
        #expect(untagged.outerVLAN == nil && untagged.taggedVLANID == nil && untagged.vlanID == 0)
        #expect(untagged.tcpControlFlags == [.psh, .ack])

        let v6 = PacketParser.parse(frames.first { $0.0 == "ipv6 hop-by-hop udp" }!.1)
        #expect(v6.ipv6Source == v6a && v6.ipv6Destination == v6b && v6.ipv4Source == nil)
        #expect(v6.ipProtocol == .udp && v6.sourcePort == 1024 && v6.destinationPort == 53)

        let icmp = PacketParser.parse(frames.first { $0.0 == "icmp" }!.1)
        #expect(icmp.icmpType == 8 && icmp.icmpCode == 0 && icmp.sourcePort == nil)

        let arp = PacketParser.parse(frames.first { $0.0 == "arp request" }!.1)
        #expect(arp.arpOperation == 1 && arp.arpSenderIP == ip1 && arp.arpTargetIP == ip2)
        #expect(arp.ipv4Source == nil && arp.ipProtocol == nil && arp.payloadType == .arp)

        let later = PacketParser.parse(frames.first { $0.0 == "later fragment" }!.1)
        #expect(later.ipProtocol == .udp && later.sourcePort == nil)

        #expect(PacketParser.parse([1, 2, 3]).payloadType == nil)
    }

    @Test(arguments: [
        ("arp request", "fa:16:3e:00:00:01 > ff:ff:ff:ff:ff:ff, ARP request who-has 10.0.0.2 tell 10.0.0.1"),
        ("arp reply", "fa:16:3e:00:00:02 > fa:16:3e:00:00:01, ARP reply 10.0.0.2 to 10.0.0.1"),
        ("tcp syn", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1.5000 > 10.0.0.2.80 TCP [S]"),
        ("tcp options", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1.1000 > 10.0.0.2.22 TCP [P.]"),
        ("udp", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1.68 > 10.0.0.2.67 UDP"),
        ("icmp", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1 > 10.0.0.2 ICMP type 8 code 0"),
        ("first fragment", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1.9 > 10.0.0.2.10 UDP (first fragment)"),
        ("later fragment", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1 > 10.0.0.2 udp (fragment)"),
        ("vlan udp", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, vlan 100 p 3, IPv4 10.0.0.1.1 > 10.0.0.2.2 UDP"),
        ("qinq tcp", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, qinq vlan 7, vlan 9, IPv4 10.0.0.1.3 > 10.0.0.2.4 TCP [S]"),
        ("ipv6 udp", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv6 2001:db8::1.546 > 2001:db8::2.547 UDP"),
        ("icmpv6", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv6 2001:db8::1 > 2001:db8::2 ICMPv6 type 128 code 0"),
        ("gre", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, IPv4 10.0.0.1 > 10.0.0.2 gre"),
        ("unknown ethertype", "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, ethertype 0x88b5"),
    ])
    func descriptionReadsLikeTcpdump(kind: String, expected: String) {
        let meta = PacketParser.parse(frames.first { $0.0 == kind }!.1)
        #expect(meta.description == expected)
    }

    @Test func malformedFramesSayWhy() {
        let udp = frames.first { $0.0 == "udp" }!.1
        var shortIHL = udp
        shortIHL[14] = 0x44
        #expect(PacketParser.parse(shortIHL).description
                == "fa:16:3e:00:00:01 > fa:16:3e:00:00:02, ethertype ipv4, malformed: bad-ipv4-header")
        #expect(PacketParser.parse(Array(udp[0..<10])).description
                == "00:00:00:00:00:00 > 00:00:00:00:00:00, malformed: truncated-ethernet")
    }
}
