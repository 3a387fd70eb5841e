import Testing
import XDPDatapath
import XDPPacket

/// Hostile and broken requests: each is counted under its reason, answered by nothing,
/// and leaves every frame back in the pool.
@Suite struct DHCPMalformedTests {
    typealias H = DHCPHarness
    typealias Message = DHCPClientMessage

    /// Recomputes the IPv4 header and UDP checksums of an untagged frame after an edit, from
    /// the lengths the frame claims (clamped to the bytes there are).
    static func fixChecksums(_ f: inout [UInt8]) {
        f[24] = 0; f[25] = 0
        let headerLength = Int(f[14] & 0x0F) * 4
        f.withUnsafeMutableBytes { raw in
            let ip = raw.baseAddress! + 14
            let c = Checksum.ipv4Header(ip, headerLength: headerLength)
            ip.storeBE16(c, at: 10)
            let udp = ip + headerLength
            let udpLength = min(Int(udp.loadBE16(at: 4)), raw.count - 14 - headerLength)
            udp.storeBE16(0, at: 6)
            let source = IPv4Address(rawValue: ip.loadBE32(at: 12)), destination = IPv4Address(rawValue: ip.loadBE32(at: 16))
            udp.storeBE16(Checksum.udp(source: source, destination: destination, datagram: udp, length: udpLength), at: 6)
        }
    }

    /// A valid DISCOVER edited by `edit`, checksums recomputed unless `keepChecksums`.
    static func edited(_ message: Message = Message(), keepChecksums: Bool = false, _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var f = message.frame
        edit(&f)
        if !keepChecksums { fixChecksums(&f) }
        return f
    }

    static func expectDropped(_ frame: [UInt8], as reason: DHCPDropReason, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let h = try H()
        h.send(frame)
        #expect(h.sent().isEmpty, "answered a frame that should be dropped as \(reason)", sourceLocation: sourceLocation)
        #expect(h.drops(reason) == 1, "drops: \(h.server.stats.drops)", sourceLocation: sourceLocation)
        #expect(h.server.stats.totalDrops == 1, sourceLocation: sourceLocation)
        #expect(h.pool.freeCount == h.pool.frameCount, sourceLocation: sourceLocation)
    }

    /// The valid frame the edits start from is answered (so each drop below is the edit's doing).
    @Test func baselineIsAnswered() throws {
        let h = try H()
        #expect(h.exchange(Self.edited { _ in }).map(DHCPReply.init)?.messageType == 2)
    }

    @Test func truncatedFrames() throws {
        let f = Message().frame
        try Self.expectDropped(Array(f[..<10]), as: .badFrame)
        try Self.expectDropped(Array(f[..<30]), as: .badIPv4)           // IPv4 header cut off
        try Self.expectDropped(Array(f[..<38]), as: .badIPv4)           // total length past the end
        try Self.expectDropped(Array(f[..<200]), as: .badIPv4)
    }

    @Test func lengthsThatLie() throws {
        // IPv4 total length larger than the frame.
        try Self.expectDropped(Self.edited { $0[16] = 0x05; $0[17] = 0xDC }, as: .badIPv4)
        // IHL below 5.
        try Self.expectDropped(Self.edited(keepChecksums: true) { $0[14] = 0x44 }, as: .badIPv4)
        // UDP length larger than the IPv4 payload.
        try Self.expectDropped(Self.edited { $0[38] = 0x05; $0[39] = 0xDC }, as: .badUDP)
        // UDP length below 8.
        try Self.expectDropped(Self.edited { $0[38] = 0; $0[39] = 4 }, as: .badUDP)
        // UDP length shorter than the payload: the message it delimits is too short for BOOTP.
        try Self.expectDropped(Self.edited { $0[38] = 0; $0[39] = 108 }, as: .truncatedMessage)
        // IPv4 and UDP agree on a datagram that stops inside the BOOTP header.
        var short = Array(Message().frame[..<(42 + 100)])
        short[16] = 0; short[17] = 128; short[38] = 0; short[39] = 108
        Self.fixChecksums(&short)
        try Self.expectDropped(short, as: .truncatedMessage)
    }

    @Test func badChecksums() throws {
        try Self.expectDropped(Self.edited(keepChecksums: true) { $0[24] ^= 0x01 }, as: .badIPv4Checksum)
        try Self.expectDropped(Self.edited(keepChecksums: true) { $0[40] ^= 0x01 }, as: .badUDPChecksum)
        try Self.expectDropped(Self.edited(keepChecksums: true) { $0[42 + 4] ^= 0x80 }, as: .badUDPChecksum)  // xid changed in flight
    }

    @Test func notBOOTPRequests() throws {
        try Self.expectDropped(Message(op: 2).frame, as: .notBootRequest)
        try Self.expectDropped(Message(htype: 6).frame, as: .badHardwareType)
        try Self.expectDropped(Message(hlen: 16).frame, as: .badHardwareType)
        try Self.expectDropped(Message(cookie: 0x6382_5364).frame, as: .badMagicCookie)
        try Self.expectDropped(Message(giaddr: IPv4Address(10, 0, 0, 1)).frame, as: .relayed)
    }

    @Test func badOptions() throws {
        // An option whose length runs past the message.
        try Self.expectDropped(Message(extraOptions: [12, 200, 65, 65], end: false).frame, as: .badOption)
        // A length byte missing at the very end.
        try Self.expectDropped(Message(extraOptions: [12], end: false).frame, as: .badOption)
        // Options 53, 50 and 54 with the wrong length.
        try Self.expectDropped(Message(type: nil, extraOptions: [53, 2, 1, 1]).frame, as: .badOption)
        try Self.expectDropped(Message(type: .request, extraOptions: [50, 3, 10, 1, 0]).frame, as: .badOption)
        try Self.expectDropped(Message(type: .request, extraOptions: [54, 5, 10, 1, 0, 3, 0]).frame, as: .badOption)
        try Self.expectDropped(Message(type: nil, extraOptions: [53, 1, 0]).frame, as: .badOption)
    }

    @Test func missingOrUnexpectedMessageType() throws {
        try Self.expectDropped(Message(type: nil).frame, as: .missingMessageType)
        try Self.expectDropped(Message(type: nil, extraOptions: [255, 53, 1, 1]).frame, as: .missingMessageType)  // after the end
        for type in [DHCPMessageType.offer, .ack, .nak] {
            try Self.expectDropped(Message(type: type).frame, as: .unexpectedMessageType)
        }
        try Self.expectDropped(Message(type: nil, extraOptions: [53, 1, 42]).frame, as: .unexpectedMessageType)
    }

    @Test func padsAndAMissingEndAreTolerated() throws {
        let h = try H()
        #expect(h.exchange(Message(type: nil, extraOptions: [0, 0, 53, 1, 1, 0], end: false).frame).map(DHCPReply.init)?.messageType == 2)
    }

    @Test func framesThatAreNotDHCPForUs() throws {
        try Self.expectDropped(Message(destinationPort: 68).frame, as: .notDHCP)
        try Self.expectDropped(Message(sourcePort: 67).frame, as: .notDHCP)
        try Self.expectDropped(Message(destinationPort: 53).frame, as: .notDHCP)
        try Self.expectDropped(FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast)
            .ipv6(source: IPv6Address("fe80::1")!, destination: IPv6Address("ff02::1:2")!)
            .udp(sourcePort: 546, destinationPort: 547).payload(count: 40).build(), as: .notDHCP)
        try Self.expectDropped(FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast, type: EtherType(rawValue: 0x88B5))
            .payload(count: 60).build(), as: .notDHCP)
        try Self.expectDropped(FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast)
            .ipv4(source: H.vmIP, destination: IPv4Address(255, 255, 255, 255)).tcp(sourcePort: 68, destinationPort: 67).build(), as: .notDHCP)
        try Self.expectDropped(Message(destination: IPv4Address(10, 1, 0, 4)).frame, as: .notForServer)
        try Self.expectDropped(Message(ethernetDestination: MACAddress("fa:16:3e:00:00:99")!).frame, as: .notForServer)
        try Self.expectDropped(Message(destination: IPv4Address(10, 1, 0, 255)).frame, as: .notForServer)
    }

    @Test func taggedAndFragmentedFrames() throws {
        let tagged = FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast).vlan(vid: 1)
            .ipv4(source: .any, destination: IPv4Address(255, 255, 255, 255)).udp(sourcePort: 68, destinationPort: 67)
            .payload(Message().payload).build()
        try Self.expectDropped(tagged, as: .vlanTagged)
        let first = FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast)
            .ipv4(source: .any, destination: IPv4Address(255, 255, 255, 255), moreFragments: true)
            .udp(sourcePort: 68, destinationPort: 67).payload(Message().payload).build()
        try Self.expectDropped(first, as: .fragment)
        let later = FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast)
            .ipv4(source: .any, destination: IPv4Address(255, 255, 255, 255), fragmentOffset: 100, protocolNumber: .udp)
            .payload(count: 100).build()
        try Self.expectDropped(later, as: .fragment)
    }
}
