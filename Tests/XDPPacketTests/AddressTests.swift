import Testing
@testable import XDPPacket

@Suite struct AddressTests {
    @Test func protocolNumbersHaveTheirRegistryValues() {
        #expect(EtherType.ipv4.rawValue == 0x0800)
        #expect(EtherType.arp.rawValue == 0x0806)
        #expect(EtherType.vlan.rawValue == 0x8100)
        #expect(EtherType.qinq.rawValue == 0x88A8)
        #expect(EtherType.ipv6.rawValue == 0x86DD)
        #expect(EtherType.transparentEthernetBridging.rawValue == 0x6558)
        #expect(EtherType.vlan.isVLANTPID && EtherType.qinq.isVLANTPID && !EtherType.ipv4.isVLANTPID)
        #expect(EtherType(rawValue: 0x1234).description == "0x1234")
        #expect([IPProtocol.icmp, .tcp, .udp, .gre, .icmpv6].map(\.rawValue) == [1, 6, 17, 47, 58])
        #expect([IPProtocol.ipv6HopByHop, .ipv6Routing, .ipv6Fragment, .esp, .ah, .ipv6NoNextHeader,
                 .ipv6DestinationOptions].map(\.rawValue) == [0, 43, 44, 50, 51, 59, 60])
        #expect(IPProtocol.ah.isIPv6ExtensionHeader && !IPProtocol.esp.isIPv6ExtensionHeader
                && !IPProtocol.udp.isIPv6ExtensionHeader)
        #expect(ICMPType.echo.rawValue == 8 && ICMPType.echoReply.rawValue == 0)
        #expect(ICMPType.destUnreachable.rawValue == 3 && ICMPType.timeExceeded.rawValue == 11)
        #expect(ICMPType.Code.fragNeeded == 4)
        #expect(ICMPType.destinationUnreachable.isError && !ICMPType.echo.isError)
        #expect(ICMPv6Type.echo.rawValue == 128 && ICMPv6Type.echoReply.rawValue == 129)
        #expect(ICMPv6Type.packetTooBig.rawValue == 2 && ICMPv6Type.neighborSolicitation.rawValue == 135)
        #expect(ICMPv6Type.timeExceeded.isError && !ICMPv6Type.echo.isError)
    }

    @Test func ipv4AddressParsesAndPrintsDottedQuad() {
        #expect(IPv4Address("10.0.0.1")?.rawValue == 0x0A00_0001)
        #expect(IPv4Address("255.255.255.255") == .broadcast)
        #expect(IPv4Address("0.0.0.0") == .any)
        #expect(IPv4Address(192, 0, 2, 33).description == "192.0.2.33")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "1.2.3.", ".1.2.3", "01.2.3.4",
                    "1.2.3.4 ", "a.b.c.d", "1.2.3.1000", "-1.2.3.4"] {
            #expect(IPv4Address(bad) == nil, "accepted \(bad)")
        }
        #expect(IPv4Address("0.10.100.200")?.description == "0.10.100.200")
        #expect(IPv4Address(224, 0, 0, 5).isMulticast && !ipA.isMulticast)
        #expect(IPv4Address(127, 1, 2, 3).isLoopback)
        #expect(ipA < ipB)
    }

    @Test func ipv4PrefixMasksAndContains() {
        let p = IPv4Prefix("10.1.2.3/24")!
        #expect(p.address == IPv4Address(10, 1, 2, 0))
        #expect(p.length == 24)
        #expect(p.netmask == IPv4Address(255, 255, 255, 0))
        #expect(p.broadcast == IPv4Address(10, 1, 2, 255))
        #expect(p.contains(IPv4Address(10, 1, 2, 200)))
        #expect(!p.contains(IPv4Address(10, 1, 3, 0)))
        #expect(p.description == "10.1.2.0/24")
        #expect(IPv4Prefix("0.0.0.0/0")!.contains(IPv4Address(8, 8, 8, 8)))
        #expect(IPv4Prefix("8.8.8.8")!.length == 32)
        #expect(IPv4Prefix.mask(length: 0) == 0 && IPv4Prefix.mask(length: 32) == 0xFFFF_FFFF)
        #expect(IPv4Prefix.mask(length: 1) == 0x8000_0000)
        #expect(IPv4Prefix("1.2.3.4/33") == nil && IPv4Prefix("1.2.3.4/") == nil && IPv4Prefix("1.2.3.4/-1") == nil)
    }

    @Test(arguments: [
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // RFC 5952 §4.2.3: first of equal runs
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),       // longest run wins
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // §4.2.2: one zero group stays
        ("2001:DB8::A", "2001:db8::a"),                // §4.3: lower case
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("fe80::1", "fe80::1"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),       // §5: mapped addresses as dotted quad
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
        ("0:0:0:0:0:0:0:0", "::"),
    ])
    func ipv6AddressPrintsRFC5952Form(input: String, canonical: String) throws {
        let address = try #require(IPv6Address(input))
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
    }

    @Test func ipv6AddressRefusesMalformedText() {
        for bad in [":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::", ":1", "1:",
                    "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "1.2.3.4::", "fe80::1%eth0", ""] {
            #expect(IPv6Address(bad) == nil, "accepted \(bad)")
        }
    }

    @Test func ipv6AddressTextMatchesPythonForRandomAddresses() {
        let vectors = Fixtures.lines("ipv6_text")
        #expect(vectors.count > 150)
        for (value, text) in vectors {
            let bytes = hex(value)
            let address = bytes.withUnsafeBytes { IPv6Address(loadingFrom: UnsafeMutableRawPointer(mutating: $0.baseAddress!), at: 0) }
            #expect(address.description == text, "\(value)")
            #expect(IPv6Address(text) == address, "\(text)")
        }
    }

    @Test func ipv6AddressGroupsAndClassification() {
        let a = IPv6Address(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
        #expect(a == ip6A)
        #expect(a.high == 0x2001_0DB8_0000_0000 && a.low == 1)
        #expect((0..<8).map { a.group($0) } == [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])
        #expect(IPv6Address("ff02::1")!.isMulticast && !a.isMulticast)
        #expect(IPv6Address("fe80::1")!.isLinkLocal && IPv6Address("febf::1")!.isLinkLocal && !IPv6Address("fec0::1")!.isLinkLocal)
        #expect(IPv6Address("::ffff:1.2.3.4")!.isIPv4Mapped)
        #expect(ip6A < ip6B && IPv6Address.loopback == IPv6Address("::1"))
        let stored = writing(16) { a.store(to: $0, at: 0) }
        #expect(stored == hex("20010db8000000000000000000000001"))
    }
}
