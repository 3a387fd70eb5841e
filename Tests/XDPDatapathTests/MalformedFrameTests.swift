import Testing
import XDPDatapath
import XDPPacket

/// Hostile input is normal input: every malformed frame is counted and dropped, never
/// a crash, and no frame is lost from the pool.
@Suite struct MalformedFrameTests {
    static let a = MACAddress("fa:16:3e:00:00:0a")!
    static let ip1 = IPv4Address(10, 1, 0, 1), ip2 = IPv4Address(10, 1, 0, 2)
    static let v6a = IPv6Address("2001:db8::1")!, v6b = IPv6Address("2001:db8::2")!

    /// Well-formed frames of every kind the parser walks into.
    static let wellFormed: [(String, [UInt8])] = [
        ("udp", FrameBuilder().ethernet(source: a, destination: .broadcast).ipv4(source: ip1, destination: ip2)
            .udp(sourcePort: 68, destinationPort: 67).payload(count: 20).build()),
        ("tcp+options", FrameBuilder().ethernet(source: a, destination: .broadcast)
            .ipv4(source: ip1, destination: ip2, options: [1, 1, 1, 0])
            .tcp(sourcePort: 1000, destinationPort: 22, options: [2, 4, 5, 0xb4]).build()),
        ("icmp tagged", FrameBuilder().ethernet(source: a, destination: .broadcast).vlan(vid: 7)
            .ipv4(source: ip1, destination: ip2).icmpEcho(identifier: 1, sequence: 1).payload(count: 8).build()),
        ("qinq udp", FrameBuilder().ethernet(source: a, destination: .broadcast).qinq(outerVID: 7, innerVID: 9)
            .ipv4(source: ip1, destination: ip2).udp(sourcePort: 1, destinationPort: 2).build()),
        ("arp", FrameBuilder.arpRequest(senderMAC: a, senderIP: ip1, targetIP: ip2)),
        ("ipv6 hop-by-hop udp", FrameBuilder().ethernet(source: a, destination: .broadcast)
            .ipv6(source: v6a, destination: v6b, nextHeader: IPProtocol(rawValue: 0))
            .payload([17, 0, 1, 4, 0, 0, 0, 0, 0x04, 0x00, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]).build()),
        ("icmpv6", FrameBuilder().ethernet(source: a, destination: .broadcast).ipv6(source: v6a, destination: v6b)
            .icmpv6Echo(identifier: 3, sequence: 4).build()),
        ("gre", FrameBuilder().ethernet(source: a, destination: .broadcast).ipv4(source: ip1, destination: ip2)
            .gre(key: 2, checksum: true, sequence: 9)
            .ethernet(source: a, destination: .broadcast).payload(count: 10).build()),
    ]

    func harness() throws -> Harness {
        try Harness([BridgeConfiguration(name: "br", ports: [
            PortConfiguration(name: "in"), PortConfiguration(name: "out")])], frames: 64)
    }

    @Test(arguments: wellFormed.map(\.0))
    func truncatedAtEveryOffsetIsDroppedWithAReason(kind: String) throws {
        let frame = try #require(Self.wellFormed.first { $0.0 == kind }?.1)
        let h = try harness()
        h.send(frame, on: "in")
        #expect(h.collect()["out"] == [frame], "the whole frame is forwarded")
        for length in 0..<frame.count {
            h.send(Array(frame[0..<length]), on: "in")
            let out = h.collect()
            #expect(out.isEmpty, "\(kind) cut at \(length) bytes was forwarded")
        }
        let stats = h.port("in").stats
        #expect(stats.rxPackets == UInt64(frame.count + 1))
        #expect(stats.totalDrops == UInt64(frame.count), "every truncation counted once")
        let parseReasons: Set<DropReason> = [.truncatedEthernet, .tooManyVLANTags, .badIPv4Header, .badIPv4Length,
                                             .badIPv6Header, .truncatedL4, .badARP]
        #expect(Set(stats.drops.keys).isSubset(of: parseReasons))
        #expect(h.pool.freeCount == h.pool.frameCount)
    }

    /// Mutates byte `offset` of the UDP frame to `value` and reports the drop reason.
    func reason(patching offset: Int, with value: UInt8, in frame: [UInt8]? = nil) throws -> DropReason? {
        var bytes = frame ?? Self.wellFormed[0].1
        bytes[offset] = value
        let h = try harness()
        h.send(bytes, on: "in")
        _ = h.collect()
        #expect(h.pool.freeCount == h.pool.frameCount)
        return h.port("in").stats.drops.keys.first
    }

    @Test func badIHLIsDropped() throws {
        #expect(try reason(patching: 14, with: 0x44) == .badIPv4Header)  // IHL 4 < 5
        #expect(try reason(patching: 14, with: 0x4F) == .badIPv4Header)  // IHL 15: 60 bytes, past the 62-byte frame
        #expect(try reason(patching: 14, with: 0x65) == .badIPv4Header)  // version 6 in an IPv4 EtherType
    }

    @Test func badLengthsAreDropped() throws {
        #expect(try reason(patching: 16, with: 0xFF) == .badIPv4Length)  // total length past the frame
        #expect(try reason(patching: 17, with: 0x01) == .badIPv4Length)  // (0x00,0x01): total length < header
        #expect(try reason(patching: 38, with: 0xFF) == .truncatedL4)    // UDP length past the packet
        var udp = Self.wellFormed[0].1
        udp[38] = 0; udp[39] = 4                                          // UDP length 4 < 8
        #expect(try reason(patching: 39, with: 4, in: udp) == .truncatedL4)
        let tcp = Self.wellFormed[1].1
        // TCP data offset 4 (16 bytes) after 24 bytes of IPv4 with options: byte 14+24+12.
        #expect(try reason(patching: 50, with: 0x40, in: tcp) == .truncatedL4)
    }

    @Test func tooManyTagsAndShortTagsAreDropped() throws {
        var triple = Self.wellFormed[3].1
        triple.insert(contentsOf: [0x81, 0x00, 0x00, 0x05], at: 12)
        let h = try harness()
        h.send(triple, on: "in")
        #expect(h.collect().isEmpty)
        #expect(h.port("in").stats.drops[.tooManyVLANTags] == 1)
    }

    @Test func randomBytesNeverCrashOrLeakFrames() throws {
        var generator = SystemRandomNumberGenerator()
        let h = try harness()
        var frames: [[UInt8]] = []
        for _ in 0..<2000 {
            var bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Steer half of them into the IP parsers.
            if bytes.count > 14 && Bool.random(using: &generator) {
                let types: [[UInt8]] = [[0x08, 0x00], [0x86, 0xDD], [0x08, 0x06], [0x81, 0x00], [0x88, 0xA8]]
                let type = types.randomElement(using: &generator)!
                bytes[12] = type[0]; bytes[13] = type[1]
                if type == [0x08, 0x00] { bytes[14] = 0x40 | (bytes[14] & 0x0F) }
            }
            frames.append(bytes)
        }
        h.datapath.inject(frames, into: h.port("in"), now: DatapathInstant(nanoseconds: h.now))
        _ = h.collect()
        #expect(h.port("in").stats.rxPackets == 2000)
        #expect(h.pool.freeCount == h.pool.frameCount)
    }
}
