import Testing
import XDPDatapath
import XDPPacket

/// Our VXLAN framing against scapy's, byte for byte. Scripts/vxlan_fixtures.py printed these
/// with scapy (`Ether()/IP(flags='DF',ttl=64,id=0)/UDP(sport=S,dport=4789,chksum=0)/VXLAN(vni=N)/inner`),
/// computing the outer UDP source port S from the inner bytes by its own implementation of
/// the documented flow hash and Linux's `udp_flow_src_port` scaling.
@Suite struct VXLANEncapsulationTests {
    struct Fixture {
        var inner: String, outer: String, hash: UInt32, sourcePort: UInt16, vni: UInt32
    }

    static let fixtures: [String: Fixture] = [
        "udp": Fixture(
            inner: "fa163e00000bfa163e00000a08004500002300010000401166b30a01000a0a01000b03e807d0000f22d27061796c6f6164",
            outer: "020000000202020000000101080045000055000040004011e274ac100001ac100002d25a12b5004100000800000000000200"
                + "fa163e00000bfa163e00000a08004500002300010000401166b30a01000a0a01000b03e807d0000f22d27061796c6f6164",
            hash: 0xd140_6e6c, sourcePort: 53850, vni: 2),
        "tcp": Fixture(
            inner: "fa163e00000bfa163e00000a08004500002800010000400666b90a01000a0a01000b9c400016000000000000000050022000df750000",
            outer: "02000000020202000000010108004500005a000040004011e26fac100001ac1000029f6d12b50046000008000000abcdef00"
                + "fa163e00000bfa163e00000a08004500002800010000400666b90a01000a0a01000b9c400016000000000000000050022000df750000",
            hash: 0xa4c3_ec36, sourcePort: 40813, vni: 0xABCDEF),
        "tagged": Fixture(
            inner: "fa163e00000bfa163e00000a8100000108004500002300010000401166b30a01000a0a01000b03e807d1000f22d17061796c6f6164",
            outer: "020000000202020000000101080045000059000040004011e270ac100001ac1000028bef12b5004500000800000000000200"
                + "fa163e00000bfa163e00000a8100000108004500002300010000401166b30a01000a0a01000b03e807d1000f22d17061796c6f6164",
            hash: 0x2043_3bf5, sourcePort: 35823, vni: 2),
        "ipv6": Fixture(
            inner: "fa163e00000bfa163e00000a86dd60000000000f1140fd00000000000000000000000000000afd00000000000000000000000000000b"
                + "03e807d0000f3cd27061796c6f6164",
            outer: "020000000202020000000101080045000069000040004011e260ac100001ac100002b7e312b5005500000800000000000200"
                + "fa163e00000bfa163e00000a86dd60000000000f1140fd00000000000000000000000000000afd00000000000000000000000000000b"
                + "03e807d0000f3cd27061796c6f6164",
            hash: 0xce62_4fdf, sourcePort: 47075, vni: 2),
        "arp": Fixture(
            inner: "fffffffffffffa163e00000a08060001080006040001fa163e00000a0a01000a0000000000000a01000b",
            outer: "02000000020202000000010108004500004e000040004011e27bac100001ac100002e9d912b5003a00000800000000000200"
                + "fffffffffffffa163e00000a08060001080006040001fa163e00000a0a01000a0000000000000a01000b",
            hash: 0x0e9a_fb2d, sourcePort: 59865, vni: 2),
    ]
    /// The "udp" frame sent to UDP port 8472 (Linux's own default).
    static let udpTo8472 = "020000000202020000000101080045000055000040004011e274ac100001ac100002d25a2118004100000800000000000200"
        + "fa163e00000bfa163e00000a08004500002300010000401166b30a01000a0a01000b03e807d0000f22d27061796c6f6164"

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
        return out
    }

    static let endpoint = GREEncapsulation.Endpoint(localMAC: MACAddress("02:00:00:00:01:01")!, nextHopMAC: MACAddress("02:00:00:00:02:02")!,
                                                   localIP: IPv4Address(172, 16, 0, 1), remoteIP: IPv4Address(172, 16, 0, 2))

    static func hash(_ frame: [UInt8]) -> UInt32 {
        var frame = frame
        return frame.withUnsafeMutableBytes { VXLANEncapsulation.flowHash($0.baseAddress!, length: $0.count) }
    }

    static func encapsulate(_ inner: [UInt8], vni: UInt32, destinationPort: UInt16 = 4789) -> [UInt8] {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256 + inner.count, alignment: 8)
        defer { buffer.deallocate() }
        let innerStart = buffer + 100
        inner.withUnsafeBytes { innerStart.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let port = VXLANEncapsulation.sourcePort(hash: VXLANEncapsulation.flowHash(innerStart, length: inner.count))
        let start = VXLANEncapsulation.encapsulate(inner: innerStart, innerLength: inner.count, vni: vni, sourcePort: port,
                                                   destinationPort: destinationPort, endpoint: endpoint)
        #expect(innerStart - start == VXLANEncapsulation.overhead)
        return Array(UnsafeRawBufferPointer(start: start, count: innerStart - start + inner.count))
    }

    @Test(arguments: ["udp", "tcp", "tagged", "ipv6", "arp"])
    func encapsulationMatchesScapy(_ name: String) throws {
        let f = try #require(Self.fixtures[name])
        let inner = Self.bytes(f.inner)
        #expect(Self.hash(inner) == f.hash, "the flow hash as the script computes it")
        #expect(VXLANEncapsulation.sourcePort(hash: f.hash) == f.sourcePort)
        #expect(Self.encapsulate(inner, vni: f.vni) == Self.bytes(f.outer))
    }

    @Test func otherDestinationPortAndVNIBeyond24BitsKeepsTheLowBits() throws {
        let inner = Self.bytes(Self.fixtures["udp"]!.inner)
        #expect(Self.encapsulate(inner, vni: 2, destinationPort: 8472) == Self.bytes(Self.udpTo8472))
        #expect(Self.encapsulate(inner, vni: 0x7F00_0002) == Self.bytes(Self.fixtures["udp"]!.outer), "tun_id 0x7f000002 → VNI 2")
    }

    /// FrameBuilder's `.vxlan` builds the same bytes as scapy (the tests build hostile variants with it).
    @Test func frameBuilderMatchesScapy() throws {
        let f = try #require(Self.fixtures["udp"])
        let built = FrameBuilder()
            .ethernet(source: Self.endpoint.localMAC, destination: Self.endpoint.nextHopMAC)
            .ipv4(source: Self.endpoint.localIP, destination: Self.endpoint.remoteIP, ttl: 64, identification: 0, dontFragment: true)
            .udp(sourcePort: f.sourcePort, destinationPort: 4789, checksum: false)
            .vxlan(vni: f.vni)
            .payload(Self.bytes(f.inner))
            .build()
        #expect(built == Self.bytes(f.outer))
    }

    /// Source ports stay in Linux's range and spread: 2,000 flows (one per UDP source port)
    /// land on many distinct ports; the same flow always on the same one.
    @Test func sourcePortsStayInRangeAndSpread() {
        var seen = Set<UInt16>()
        for sport in 0..<2000 {
            let frame = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:0a")!, destination: MACAddress("fa:16:3e:00:00:0b")!)
                .ipv4(source: IPv4Address(10, 1, 0, 10), destination: IPv4Address(10, 1, 0, 11))
                .udp(sourcePort: UInt16(10_000 + sport), destinationPort: 53).payload(count: 4).build()
            let port = VXLANEncapsulation.sourcePort(hash: Self.hash(frame))
            #expect((32768..<60999).contains(port))
            #expect(port == VXLANEncapsulation.sourcePort(hash: Self.hash(frame)))
            seen.insert(port)
        }
        #expect(seen.count > 1900, "\(seen.count) distinct ports for 2,000 flows")
        #expect(VXLANEncapsulation.sourcePort(hash: 0) == 32768 && VXLANEncapsulation.sourcePort(hash: 0xFFFF_FFFF) < 60999)
    }

    @Test func aFragmentHashesWithoutPorts() {
        let first = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:0a")!, destination: MACAddress("fa:16:3e:00:00:0b")!)
            .ipv4(source: IPv4Address(10, 1, 0, 10), destination: IPv4Address(10, 1, 0, 11), moreFragments: true)
            .udp(sourcePort: 1, destinationPort: 2).payload(count: 16).build()
        let later = FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:0a")!, destination: MACAddress("fa:16:3e:00:00:0b")!)
            .ipv4(source: IPv4Address(10, 1, 0, 10), destination: IPv4Address(10, 1, 0, 11), fragmentOffset: 3, protocolNumber: .udp)
            .payload(count: 16).build()
        #expect(Self.hash(first) == Self.hash(later), "every fragment of a datagram takes the same path")
    }

    func decapsulate(_ frame: [UInt8]) -> Result<VXLANEncapsulation.Decapsulated, VXLANEncapsulation.RefusalError>? {
        var frame = frame
        return frame.withUnsafeMutableBytes { raw -> Result<VXLANEncapsulation.Decapsulated, VXLANEncapsulation.RefusalError>? in
            var meta = PacketMetadata()
            guard PacketParser.parse(raw.baseAddress!, length: raw.count, into: &meta), meta.flags.contains(.udp) else { return nil }
            return VXLANEncapsulation.decapsulate(raw.baseAddress!, length: raw.count, meta: meta)
        }
    }

    @Test func decapsulationFindsVNIAndInnerFrame() throws {
        let f = try #require(Self.fixtures["tcp"])
        let d = try #require(decapsulate(Self.bytes(f.outer))).get()
        #expect(d.vni == 0xABCDEF && d.innerOffset == 50 && d.innerLength == Self.bytes(f.inner).count)
        #expect(d.remoteIP == IPv4Address(172, 16, 0, 1))
    }

    @Test func flagsAndReservedFieldsAreChecked() throws {
        let good = Self.bytes(Self.fixtures["udp"]!.outer)
        var noI = good; noI[42] = 0x00
        var otherFlag = good; otherFlag[42] = 0x0C
        var reservedFirst = good; reservedFirst[44] = 0x01
        var reservedLast = good; reservedLast[49] = 0x01
        for frame in [noI, otherFlag, reservedFirst, reservedLast] {
            #expect(try #require(decapsulate(frame)) == .failure(.init(.badFlags)))
        }
    }

    @Test func shortDatagramsAndBadChecksumsAreMalformed() throws {
        let inner = Self.bytes(Self.fixtures["udp"]!.inner)
        let build = { (payload: [UInt8], checksum: Bool) in
            FrameBuilder().ethernet(source: Self.endpoint.localMAC, destination: Self.endpoint.nextHopMAC)
                .ipv4(source: Self.endpoint.localIP, destination: Self.endpoint.remoteIP, dontFragment: true)
                .udp(sourcePort: 40000, destinationPort: 4789, checksum: checksum).vxlan(vni: 2).payload(payload).build()
        }
        #expect(try #require(decapsulate(build(Array(inner[0..<13]), false))) == .failure(.init(.malformed)), "inner Ethernet cut")
        let checked = build(inner, true)
        #expect(try #require(decapsulate(checked)).map(\.vni) == .success(2), "a right UDP checksum is accepted")
        var wrong = checked; wrong[41] ^= 0x01
        #expect(try #require(decapsulate(wrong)) == .failure(.init(.malformed)))
        // A UDP length shorter than the VXLAN header (the parser accepts 8).
        var short = build(inner, false); short[38] = 0; short[39] = 12
        #expect(try #require(decapsulate(short)) == .failure(.init(.malformed)))
    }
}
