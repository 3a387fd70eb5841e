import Testing
@testable import XDPPacket

@Suite struct GREHeaderTests {
    static let combinations: [(Bool, Bool, Bool)] = [
        (false, false, false), (false, false, true), (false, true, false), (false, true, true),
        (true, false, false), (true, false, true), (true, true, false), (true, true, true),
    ]

    @Test(arguments: combinations)
    func readsEveryFlagCombinationFromScapy(c: Bool, k: Bool, s: Bool) {
        let name = "gre_c\(c ? 1 : 0)_k\(k ? 1 : 0)_s\(s ? 1 : 0)"
        withFrame(Fixtures.frame(name)) { p, length in
            let ip = IPv4Header(p + 14)
            #expect(ip.protocolNumber == .gre)
            let gre = GREHeader(ip.payload)
            let greLength = length - 34
            #expect(GREHeader.validate(gre.base, length: greLength))
            #expect(gre.checksumPresent == c && gre.keyPresent == k && gre.sequencePresent == s)
            #expect(gre.version == 0 && gre.reservedBits == 0 && gre.isSupported)
            #expect(gre.protocolType == .transparentEthernetBridging)
            let expectedLength = 4 + (c ? 4 : 0) + (k ? 4 : 0) + (s ? 4 : 0)
            #expect(gre.headerLength == expectedLength)
            #expect(!GREHeader.validate(gre.base, length: expectedLength - 1))
            #expect(gre.keyIfPresent == (k ? 0x00AB_CDEF : nil))
            #expect(gre.sequenceNumberIfPresent == (s ? 0x0102_0304 : nil))
            if k { #expect(gre.key == 0x00AB_CDEF) }
            if s { #expect(gre.sequenceNumber == 0x0102_0304) }
            if c {
                #expect(gre.reserved1 == 0)
                #expect(Checksum.verify(gre.base, length: greLength))
            }
            // The payload is the inner Ethernet frame.
            let inner = EthernetHeader(gre.payload)
            #expect(inner.source == MACAddress("02:00:00:00:00:0a"))
            #expect(inner.etherType == .ipv4)
            let innerIP = IPv4Header(inner.payload)
            #expect(innerIP.source == IPv4Address(192, 168, 1, 10) && innerIP.isChecksumValid)
        }
    }

    @Test(arguments: combinations)
    func writesEveryFlagCombinationLikeScapy(c: Bool, k: Bool, s: Bool) {
        let name = "gre_c\(c ? 1 : 0)_k\(k ? 1 : 0)_s\(s ? 1 : 0)"
        let frame = Fixtures.frame(name)
        let greBytes = Array(frame[34...])
        let headerLength = GREHeader.headerLength(flags: (c ? 0x8000 : 0) | (k ? 0x2000 : 0) | (s ? 0x1000 : 0))
        var written = [UInt8](repeating: 0, count: headerLength) + Array(greBytes[headerLength...])
        written.withUnsafeMutableBytes { raw in
            let gre = GREHeader(raw.baseAddress!)
            gre.checksumPresent = c
            gre.keyPresent = k
            gre.sequencePresent = s
            gre.protocolType = .transparentEthernetBridging
            if k { gre.key = 0x00AB_CDEF }
            if s { gre.sequenceNumber = 0x0102_0304 }
            if c { gre.updateChecksum(length: raw.count) }
        }
        #expect(written == greBytes)
    }

    @Test func carriesIPv4WithKeyAndChecksum() {
        withFrame(Fixtures.frame("gre_ipv4_payload")) { p, _ in
            let gre = GREHeader(p + 34)
            #expect(gre.protocolType == .ipv4 && gre.key == 5 && gre.checksumPresent && !gre.sequencePresent)
            #expect(gre.keyOffset == 8 && gre.sequenceOffset == 12 && gre.headerLength == 12)
            #expect(IPv4Header(gre.payload).protocolNumber == .icmp)
        }
    }

    @Test func detectsReservedBitsAndUnknownVersions() {
        // Every single bit of the flags word, one at a time.
        for bit in 0..<16 {
            let word = UInt16(0x8000) >> UInt16(bit)
            let bytes: [UInt8] = [UInt8(word >> 8), UInt8(word & 0xFF), 0x65, 0x58] + [UInt8](repeating: 0, count: 12)
            withFrame(bytes) { p, _ in
                let gre = GREHeader(p)
                let known = bit == 0 || bit == 2 || bit == 3  // C, K, S
                let isVersion = bit >= 13
                #expect(gre.isSupported == known, "bit \(bit)")
                #expect((gre.reservedBits != 0) == (!known && !isVersion), "bit \(bit)")
                #expect((gre.version != 0) == isVersion, "bit \(bit)")
            }
        }
        let written = writing(4) { p in
            let gre = GREHeader(p)
            gre.version = 1  // PPTP enhanced GRE
            gre.reservedBits = 0xFFFF  // masked to the reserved positions
            #expect(!gre.isSupported && gre.version == 1)
            #expect(!gre.checksumPresent && !gre.keyPresent && !gre.sequencePresent)
            gre.reservedBits = 0
            gre.version = 0
            #expect(gre.isSupported)
            gre.version = 0xFF
        }
        #expect(written == [0, 0x07, 0, 0])
    }

    @Test func optionalFieldOffsetsFollowTheFlags() {
        _ = writing(16) { p in
            let gre = GREHeader(p)
            gre.keyPresent = true
            gre.sequencePresent = true
            gre.key = 0x1111_1111
            gre.sequenceNumber = 0x2222_2222
            #expect(p.loadBE32(at: 4) == 0x1111_1111 && p.loadBE32(at: 8) == 0x2222_2222)
            gre.keyPresent = false
            #expect(gre.sequenceOffset == 4 && gre.headerLength == 8)
            gre.checksumPresent = true
            gre.keyPresent = true
            #expect(gre.keyOffset == 8 && gre.sequenceOffset == 12 && gre.headerLength == 16)
            #expect(gre.payload == p + 16)
        }
    }
}
