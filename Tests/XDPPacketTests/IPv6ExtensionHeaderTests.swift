import Testing
@testable import XDPPacket

@Suite struct IPv6ExtensionHeaderTests {
    @Test func walkWithoutExtensionHeadersStopsAtUpperLayer() {
        withFrame(Fixtures.frame("ipv6_tcp")) { p, length in
            let walk = IPv6Header(p + 14).walkExtensionHeaders(length: length - 14)
            #expect(walk == IPv6ExtensionWalk(nextHeader: .tcp, offset: 40))
        }
    }

    @Test func walkStepsOverHopByHopRoutingDestOptsFragmentAndAH() throws {
        try withFrame(Fixtures.frame("ipv6_ext_chain")) { p, length in
            let ip = IPv6Header(p + 14)
            #expect(ip.nextHeader == .ipv6HopByHop)
            let walk = try #require(ip.walkExtensionHeaders(length: length - 14))
            // 40 + hop-by-hop 8 + routing 24 (one address) + dest opts 8 + fragment 8 + AH 24
            #expect(walk.nextHeader == .udp)
            #expect(walk.offset == 40 + 8 + 24 + 8 + 8 + 24)
            #expect(walk.fragmentHeaderOffset == 40 + 8 + 24 + 8)
            #expect(!walk.isLaterFragment)
            let fragment = IPv6FragmentHeader(ip.base + walk.fragmentHeaderOffset!)
            #expect(fragment.nextHeader == .ah && fragment.fragmentOffset == 0 && fragment.moreFragments)
            #expect(fragment.identification == 0xABCDEF)
            let udp = UDPHeader(ip.base + walk.offset)
            #expect(udp.sourcePort == 4000 && udp.destinationPort == 4001)
        }
    }

    @Test func walkStopsAtLaterFragment() throws {
        try withFrame(Fixtures.frame("ipv6_later_fragment")) { p, length in
            let walk = try #require(IPv6Header(p + 14).walkExtensionHeaders(length: length - 14))
            #expect(walk == IPv6ExtensionWalk(nextHeader: .udp, offset: 48, fragmentHeaderOffset: 40, isLaterFragment: true))
            let fragment = IPv6FragmentHeader(p + 54)
            #expect(fragment.fragmentOffset == 100 && !fragment.moreFragments && fragment.identification == 77)
        }
    }

    @Test func walkRefusesHopByHopAfterTheFirstHeader() {
        withFrame(Fixtures.frame("ipv6_hbh_not_first")) { p, length in
            #expect(IPv6Header(p + 14).walkExtensionHeaders(length: length - 14) == nil)
        }
    }

    @Test func walkRefusesEveryTruncationOfTheChain() {
        let frame = Fixtures.frame("ipv6_ext_chain")
        let full = frame.count - 14
        let headersEnd = 40 + 8 + 24 + 8 + 8 + 24
        withFrame(frame) { p, _ in
            let ip = IPv6Header(p + 14)
            // Cut anywhere inside the extension headers: nil. At or past their end: the UDP header.
            for length in 0..<headersEnd {
                #expect(ip.walkExtensionHeaders(length: length) == nil, "length \(length)")
            }
            for length in headersEnd...full {
                #expect(ip.walkExtensionHeaders(length: length)?.offset == headersEnd, "length \(length)")
            }
        }
    }

    @Test func walkRefusesLengthsThatRunPastThePacket() {
        withFrame(Fixtures.frame("ipv6_ext_chain")) { p, length in
            let ip = IPv6Header(p + 14)
            // Routing header (at 48) claims 255 × 8 more bytes.
            p.storeBE8(255, at: 14 + 48 + 1)
            #expect(ip.walkExtensionHeaders(length: length - 14) == nil)
        }
        withFrame(Fixtures.frame("ipv6_ext_chain")) { p, length in
            let ip = IPv6Header(p + 14)
            // AH (at 88) with payload length 0 would be 8 bytes, below its 12-byte minimum.
            p.storeBE8(0, at: 14 + 88 + 1)
            #expect(ip.walkExtensionHeaders(length: length - 14) == nil)
        }
    }

    @Test func walkEndsAtESPAndNoNextHeader() {
        withFrame(Fixtures.frame("ipv6_udp")) { p, length in
            let ip = IPv6Header(p + 14)
            ip.nextHeader = .esp
            #expect(ip.walkExtensionHeaders(length: length - 14) == IPv6ExtensionWalk(nextHeader: .esp, offset: 40))
            ip.nextHeader = .ipv6NoNextHeader
            #expect(ip.walkExtensionHeaders(length: length - 14) == IPv6ExtensionWalk(nextHeader: .ipv6NoNextHeader, offset: 40))
            #expect(ip.walkExtensionHeaders(length: 39) == nil)
        }
    }

    @Test func walkOfRandomBytesNeverReadsPastLength() {
        // Fuzz: random chains inside a buffer guarded by a canary region the walk must
        // never reach. A result, if any, is within the given length.
        var rng = SeededGenerator(seed: 8200)
        let kinds: [UInt8] = [0, 43, 44, 51, 60, 135, 6, 17, 58, 59]
        for _ in 0..<3000 {
            let length = Int.random(in: 40...160, using: &rng)
            var bytes = (0..<(length + 64)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[6] = kinds.randomElement(using: &rng)!
            var at = 40
            while at + 1 < length {
                bytes[at] = kinds.randomElement(using: &rng)!
                bytes[at + 1] = UInt8.random(in: 0...3, using: &rng)
                at += Int(bytes[at + 1] + 1) * 8
            }
            bytes.withUnsafeMutableBytes { raw in
                if let walk = IPv6Header(raw.baseAddress!).walkExtensionHeaders(length: length) {
                    #expect(walk.offset <= length && walk.offset >= 40)
                    #expect(!walk.nextHeader.isIPv6ExtensionHeader || walk.isLaterFragment)
                }
            }
        }
    }

    @Test func fragmentHeaderWritesEveryField() {
        let written = writing(8) { p in
            let fragment = IPv6FragmentHeader(p)
            fragment.nextHeader = .udp
            fragment.fragmentOffset = 100
            fragment.moreFragments = true
            fragment.identification = 77
            #expect(fragment.fragmentOffset == 100 && fragment.moreFragments)
            fragment.moreFragments = false
            #expect(fragment.fragmentOffset == 100)
            fragment.moreFragments = true
        }
        #expect(written == [17, 0, 0x03, 0x21, 0, 0, 0, 77])
    }
}
