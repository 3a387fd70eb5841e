import Testing
@testable import XDPPacket

/// The straightforward RFC 1071 sum, 16 bits at a time, to check the fast one against.
func referenceSum(_ bytes: [UInt8]) -> UInt16 {
    var acc: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count {
        acc += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
        acc = (acc & 0xFFFF) + (acc >> 16)
        i += 2
    }
    if i < bytes.count {
        acc += UInt32(bytes[i]) << 8
        acc = (acc & 0xFFFF) + (acc >> 16)
    }
    return UInt16(acc)
}

@Suite struct ChecksumTests {
    @Test func rfc1071ExampleSum() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d).
        let bytes: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        bytes.withUnsafeBytes { raw in
            #expect(Checksum.sum(raw.baseAddress!, count: 8) == 0xDDF2)
            #expect(Checksum.internetChecksum(raw.baseAddress!, count: 8) == 0x220D)
            // Byte-order independence (§2(B)): the sum of pieces continues.
            let head = Checksum.sum(raw.baseAddress!, count: 4)
            #expect(Checksum.sum(raw.baseAddress! + 4, count: 4, initial: head) == 0xDDF2)
        }
        #expect(Checksum.add(0xFFFF, 0x0001) == 0x0001)
        #expect(Checksum.add(0x8000, 0x8000) == 0x0001)
        #expect(Checksum.fold(0xFFFF_FFFF_FFFF_FFFF) == 0xFFFF)
        #expect(Checksum.fold(0x0001_0000_0000_0000) == 0x0001)
    }

    @Test func fastSumMatchesReferenceForEveryLengthAndAlignment() {
        var rng = SeededGenerator(seed: 1071)
        for length in 0...300 {
            let storage = (0..<(length + 8)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for alignment in 0..<8 {
                let slice = Array(storage[alignment..<(alignment + length)])
                let fast = storage.withUnsafeBytes { Checksum.sum($0.baseAddress! + alignment, count: length) }
                #expect(fast == referenceSum(slice), "length \(length) alignment \(alignment)")
            }
        }
        // All 0xff: every 64-bit add carries.
        let ones = [UInt8](repeating: 0xFF, count: 4096)
        #expect(ones.withUnsafeBytes { Checksum.sum($0.baseAddress!, count: 4096) } == 0xFFFF)
        #expect(ones.withUnsafeBytes { Checksum.sum($0.baseAddress!, count: 4095) } == referenceSum(Array(ones[0..<4095])))
    }

    @Test(arguments: ["ipv4_udp", "ipv4_tcp", "ipv4_options", "ipv4_icmp_echo", "vlan_ipv4_udp", "gre_c1_k1_s1"])
    func ipv4HeaderChecksumMatchesScapy(name: String) {
        withFrame(Fixtures.frame(name)) { p, _ in
            let l3 = EthernetHeader(p).etherType == .vlan ? 18 : 14
            let ip = IPv4Header(p + l3)
            let stored = ip.headerChecksum
            #expect(Checksum.ipv4Header(ip.base, headerLength: ip.headerLength) == stored)
            #expect(Checksum.verifyIPv4Header(ip.base, headerLength: ip.headerLength))
            ip.headerChecksum = stored ^ 0x0100
            #expect(!Checksum.verifyIPv4Header(ip.base, headerLength: ip.headerLength))
            // Computed as if the field were zero, whatever it holds now.
            #expect(Checksum.ipv4Header(ip.base, headerLength: ip.headerLength) == stored)
        }
    }

    @Test(arguments: ["ipv4_tcp", "ipv4_tcp_options", "ipv4_tcp_allflags"])
    func tcpOverIPv4ChecksumMatchesScapy(name: String) {
        withFrame(Fixtures.frame(name)) { p, length in
            let ip = IPv4Header(p + 14)
            let tcp = TCPHeader(ip.payload)
            let segment = Int(ip.totalLength) - ip.headerLength
            #expect(Checksum.tcp(source: ip.source, destination: ip.destination, segment: tcp.base, length: segment) == tcp.checksum)
            let pseudo = Checksum.pseudoHeaderSum(source: ip.source, destination: ip.destination, protocol: .tcp, length: segment)
            #expect(Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: tcp.base, length: segment))
            // Flip a payload byte only when there is one: a segment without payload ends at
            // the frame's end, and writing there is past the buffer (AddressSanitizer found it).
            if segment > tcp.headerLength {
                tcp.payload.storeBE8(tcp.payload.loadBE8(at: 0) ^ 1, at: 0)
                #expect(!Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: tcp.base, length: segment))
            }
        }
    }

    @Test(arguments: ["ipv4_udp", "vlan_ipv4_udp", "ipv4_options"])
    func udpOverIPv4ChecksumMatchesScapy(name: String) {
        withFrame(Fixtures.frame(name)) { p, _ in
            let l3 = EthernetHeader(p).etherType == .vlan ? 18 : 14
            let ip = IPv4Header(p + l3)
            let udp = UDPHeader(ip.payload)
            #expect(Checksum.udp(source: ip.source, destination: ip.destination, datagram: udp.base, length: Int(udp.length)) == udp.checksum)
        }
    }

    @Test func ipv6TransportChecksumsMatchScapy() {
        withFrame(Fixtures.frame("ipv6_udp")) { p, _ in
            let ip = IPv6Header(p + 14)
            let udp = UDPHeader(ip.payload)
            #expect(Checksum.udp(source: ip.source, destination: ip.destination, datagram: udp.base, length: Int(udp.length)) == udp.checksum)
        }
        withFrame(Fixtures.frame("ipv6_tcp")) { p, _ in
            let ip = IPv6Header(p + 14)
            let tcp = TCPHeader(ip.payload)
            #expect(Checksum.tcp(source: ip.source, destination: ip.destination, segment: tcp.base, length: Int(ip.payloadLength)) == tcp.checksum)
        }
        for name in ["ipv6_icmpv6_echo", "ipv6_icmpv6_toobig"] {
            withFrame(Fixtures.frame(name)) { p, _ in
                let ip = IPv6Header(p + 14)
                let icmp = ICMPv6Header(ip.payload)
                #expect(Checksum.icmpv6(source: ip.source, destination: ip.destination, message: icmp.base,
                                        length: Int(ip.payloadLength)) == icmp.checksum, "\(name)")
                let pseudo = Checksum.pseudoHeaderSum(source: ip.source, destination: ip.destination, nextHeader: .icmpv6,
                                                      length: Int(ip.payloadLength))
                #expect(Checksum.verifyTransport(pseudoHeaderSum: pseudo, segment: icmp.base, length: Int(ip.payloadLength)))
            }
        }
        // Behind a routing header the pseudo-header carries the final destination (RFC 8200 §8.1),
        // the routing header's last address.
        withFrame(Fixtures.frame("ipv6_ext_chain")) { p, length in
            let ip = IPv6Header(p + 14)
            let walk = ip.walkExtensionHeaders(length: length - 14)!
            let udp = UDPHeader(ip.base + walk.offset)
            #expect(Checksum.udp(source: ip.source, destination: IPv6Address("2001:db8::99")!, datagram: udp.base,
                                 length: Int(udp.length)) == udp.checksum)
        }
    }

    @Test func icmpv4ChecksumMatchesScapy() {
        for name in ["ipv4_icmp_echo", "ipv4_icmp_fragneeded", "qinq_ipv4_icmp"] {
            withFrame(Fixtures.frame(name)) { p, length in
                let l3 = name.hasPrefix("qinq") ? 22 : 14
                let ip = IPv4Header(p + l3)
                let icmp = ICMPHeader(ip.payload)
                let messageLength = Int(ip.totalLength) - ip.headerLength
                #expect(Checksum.icmpv4(icmp.base, length: messageLength) == icmp.checksum, "\(name)")
                #expect(Checksum.verify(icmp.base, length: messageLength))
            }
        }
        // All-zero data: the checksum is 0xffff, exactly as a fresh computation gives.
        let zeros = writing(8) { p in ICMPHeader(p).updateChecksum(length: 8) }
        #expect(zeros == [0, 0, 0xFF, 0xFF, 0, 0, 0, 0])
    }

    @Test(arguments: ["gre_c1_k0_s0", "gre_c1_k0_s1", "gre_c1_k1_s0", "gre_c1_k1_s1", "gre_ipv4_payload"])
    func greChecksumMatchesScapy(name: String) {
        withFrame(Fixtures.frame(name)) { p, _ in
            let ip = IPv4Header(p + 14)
            let gre = GREHeader(ip.payload)
            let greLength = Int(ip.totalLength) - ip.headerLength
            #expect(gre.checksumPresent)
            #expect(Checksum.gre(gre.base, length: greLength) == gre.checksum)
            #expect(Checksum.verify(gre.base, length: greLength))
        }
    }

    @Test func udpZeroChecksumRules() {
        // A datagram whose checksum comes out as 0 must carry 0xffff. Find such a payload
        // by choosing its last word so the sum is all ones.
        var bytes = [UInt8](repeating: 0, count: 10)
        bytes.withUnsafeMutableBytes { raw in
            let udp = UDPHeader(raw.baseAddress!)
            udp.sourcePort = 1000
            udp.destinationPort = 2000
            udp.length = 10
            let pseudo = Checksum.pseudoHeaderSum(source: ipA, destination: ipB, protocol: .udp, length: 10)
            let partial = Checksum.sum(raw.baseAddress!, count: 10, initial: pseudo)
            raw.baseAddress!.storeBE16(~partial, at: 8)  // now the full sum is 0xffff: checksum 0
            #expect(Checksum.transport(pseudoHeaderSum: pseudo, segment: raw.baseAddress!, length: 10, checksumOffset: 6) == 0)
            #expect(Checksum.udp(source: ipA, destination: ipB, datagram: raw.baseAddress!, length: 10) == 0xFFFF)
        }
        #expect(Checksum.updateUDP(0, old: UInt32(1), new: UInt32(2)) == 0)  // absent stays absent
        #expect(Checksum.updateUDP(0, old: UInt16(1), new: UInt16(2)) == 0)
        // scapy wrote chksum=0: "no checksum" is visible as such.
        withFrame(Fixtures.frame("ipv4_udp_nochecksum")) { p, _ in
            #expect(UDPHeader(p + 34).checksum == 0)
        }
    }

    @Test func incrementalUpdateEqualsRecomputeRandomized() {
        var rng = SeededGenerator(seed: 1624)
        for _ in 0..<2000 {
            let length = Int.random(in: 2...64, using: &rng) * 2
            var data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) {  // many zeros: probes the 0 / 0xffff edge
                for i in 0..<length where Int.random(in: 0...9, using: &rng) > 0 { data[i] = 0 }
            }
            let before = data.withUnsafeBytes { Checksum.internetChecksum($0.baseAddress!, count: length) }
            if Bool.random(using: &rng) {
                let offset = Int.random(in: 0..<(length / 2), using: &rng) * 2
                let old = UInt16(data[offset]) << 8 | UInt16(data[offset + 1])
                let new = Bool.random(using: &rng) ? UInt16.random(in: 0...UInt16.max, using: &rng) : 0
                data[offset] = UInt8(new >> 8)
                data[offset + 1] = UInt8(new & 0xFF)
                let after = data.withUnsafeBytes { Checksum.internetChecksum($0.baseAddress!, count: length) }
                expectIncremental(Checksum.update(before, old: old, new: new), equals: after, data: data)
            } else if length >= 4 {
                let offset = Int.random(in: 0..<(length / 2 - 1), using: &rng) * 2
                let old = data.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!).loadBE32(at: offset) }
                let new = UInt32.random(in: 0...UInt32.max, using: &rng)
                data.withUnsafeMutableBytes { $0.baseAddress!.storeBE32(new, at: offset) }
                let after = data.withUnsafeBytes { Checksum.internetChecksum($0.baseAddress!, count: length) }
                expectIncremental(Checksum.update(before, old: old, new: new), equals: after, data: data)
            }
        }
    }

    /// RFC 1624 §3 eqn. 3 gives the same bits as a recomputation except when the covered
    /// data is entirely zero (recomputation: +0 → 0xffff, update: −0 → 0x0000), which no
    /// real header can be: IPv4 has its version, pseudo-headers their protocol.
    func expectIncremental(_ incremental: UInt16, equals recomputed: UInt16, data: [UInt8]) {
        if data.allSatisfy({ $0 == 0 }) {
            #expect(recomputed == 0xFFFF && incremental == 0)
        } else {
            #expect(incremental == recomputed)
        }
    }

    @Test func natRewriteUpdatesIPv4AndTCPChecksumsIncrementally() {
        var rng = SeededGenerator(seed: 3022)
        for _ in 0..<200 {
            withFrame(Fixtures.frame("ipv4_tcp")) { p, _ in
                let ip = IPv4Header(p + 14)
                let tcp = TCPHeader(ip.payload)
                let segment = Int(ip.totalLength) - 20
                // SNAT: new source address and port.
                let newSource = IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng))
                let newPort = UInt16.random(in: 0...UInt16.max, using: &rng)
                ip.headerChecksum = Checksum.update(ip.headerChecksum, old: ip.source.rawValue, new: newSource.rawValue)
                tcp.checksum = Checksum.update(tcp.checksum, old: ip.source.rawValue, new: newSource.rawValue)
                tcp.checksum = Checksum.update(tcp.checksum, old: tcp.sourcePort, new: newPort)
                ip.source = newSource
                tcp.sourcePort = newPort
                #expect(ip.isChecksumValid)
                #expect(ip.headerChecksum == Checksum.ipv4Header(ip.base, headerLength: 20))
                #expect(tcp.checksum == Checksum.tcp(source: ip.source, destination: ip.destination, segment: tcp.base, length: segment))
            }
        }
    }

    @Test func ipv6AddressRewriteUpdatesUDPChecksumIncrementally() {
        var rng = SeededGenerator(seed: 6296)
        for _ in 0..<200 {
            withFrame(Fixtures.frame("ipv6_udp")) { p, _ in
                let ip = IPv6Header(p + 14)
                let udp = UDPHeader(ip.payload)
                let newDestination = IPv6Address(high: UInt64.random(in: 0...UInt64.max, using: &rng),
                                                 low: UInt64.random(in: 0...UInt64.max, using: &rng))
                var c = Checksum.update(udp.checksum, old: ip.destination, new: newDestination)
                if c == 0 { c = 0xFFFF }
                udp.checksum = c
                ip.destination = newDestination
                #expect(udp.checksum == Checksum.udp(source: ip.source, destination: ip.destination, datagram: udp.base,
                                                     length: Int(udp.length)))
            }
        }
    }
}
