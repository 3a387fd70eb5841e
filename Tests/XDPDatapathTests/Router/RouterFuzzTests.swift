import Testing
import XDPDatapath
import XDPPacket

/// Hostile input is normal input: mutated frames on both interfaces, time moving on.
@Suite struct RouterFuzzTests {
    typealias H = RouterHarness

    @Test func mutatedFramesNeverLoseAFrameOrEmitABadHeader() throws {
        let h = try H(H.reference { $0.pendingLimit = 4; $0.pendingTotalLimit = 32; $0.neighbourCapacity = 16 })
        var rng = SystemRandomNumberGenerator()
        let seeds: [([UInt8], Int)] = [
            (H.vmUDP(), H.qr), (H.vmUDP(ttl: 1), H.qr), (H.vmPing(to: H.qrIP), H.qr), (H.vmPing(to: H.qgIP), H.qr),
            (H.vmUDP(to: IPv4Address(10, 1, 0, 9)), H.qr),
            (FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), H.qr),
            (FrameBuilder.arpReply(senderMAC: H.gatewayMAC, senderIP: H.gatewayIP, targetMAC: H.qgMAC, targetIP: H.qgIP), H.qg),
            (FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC).ipv4(source: H.outside, destination: H.vmIP)
                .tcp(sourcePort: 80, destinationPort: 5000).build(), H.qg),
            (FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
                .ipv4(source: H.outside, destination: IPv4Address(10, 1, 0, 77), options: [0x94, 4, 0, 0])
                .udp(sourcePort: 1, destinationPort: 2).payload(count: 100).build(), H.qg),
        ]
        var emitted = 0
        for round in 0..<3000 {
            var (frame, interface) = seeds.randomElement(using: &rng)!
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: break  // intact
            case 1:  // flip a few bytes anywhere
                for _ in 0..<Int.random(in: 1...4, using: &rng) { frame[Int.random(in: 0..<frame.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            case 2: frame = Array(frame.prefix(Int.random(in: 0...frame.count, using: &rng)))  // cut
            default:  // vary a header field and fix the IPv4 checksum, so it gets past the check
                if frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00 {
                    frame[Int.random(in: 14..<34, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    frame[24] = 0; frame[25] = 0
                    let ihl = Int(frame[14] & 0x0F) * 4
                    if ihl >= 20, 14 + ihl <= frame.count {
                        let c = frame.withUnsafeBytes { Checksum.ipv4Header($0.baseAddress! + 14, headerLength: ihl) }
                        frame[24] = UInt8(c >> 8); frame[25] = UInt8(c & 0xFF)
                    }
                }
            }
            if frame.isEmpty { frame = [0] }
            h.now += UInt64.random(in: 0...300_000_000, using: &rng)
            h.send(frame, on: interface)
            for out in [H.qr, H.qg] {
                for sent in h.sent(out) {
                    emitted += 1
                    #expect(sent.count >= 42, "round \(round)")
                    if sent.count >= 34, sent[12] == 0x08, sent[13] == 0x00 {
                        let ihl = Int(sent[14] & 0x0F) * 4
                        let ok = sent.withUnsafeBytes { Checksum.verifyIPv4Header($0.baseAddress! + 14, headerLength: ihl) }
                        #expect(ok, "round \(round): emitted a bad IPv4 header checksum")
                        #expect(Array(sent[6..<12]) == H.macBytes(out == H.qr ? H.qrMAC : H.qgMAC))
                    }
                }
            }
            if !h.accountingHolds { Issue.record("round \(round): a frame went missing"); return }
        }
        #expect(emitted > 0)
        h.now += 10_000_000_000
        for _ in 0..<4 { h.now += 1_000_000_000; h.router.service(now: DatapathInstant(nanoseconds: h.now)) }
        _ = h.sent(H.qr); _ = h.sent(H.qg)
        #expect(h.router.pendingCount == 0)  // everything waiting was answered or given up
        #expect(h.pool.freeCount == h.pool.frameCount)
    }
}
