import Testing
import XDPDatapath
import XDPPacket

/// Mutated DHCP frames (bit flips, truncation, growth, option bytes and length fields set to
/// hostile values, some with checksums made right again so the mutation reaches the BOOTP
/// parser): the responder never crashes, never loses a frame, and everything it sends is a
/// well-formed reply with correct checksums.
@Suite struct DHCPFuzzTests {
    typealias H = DHCPHarness
    typealias Message = DHCPClientMessage

    /// SplitMix64: reproducible without Foundation.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D4_9EB3_22EB_D133
            return z ^ (z >> 31)
        }
    }

    static let seeds: [[UInt8]] = [
        Message().frame,
        Message(flags: 0x8000, clientID: [1, 0xfa, 0x16, 0x3e, 0xaa, 0x00, 0x05]).frame,
        Message(type: .request, requested: H.vmIP, serverID: H.serverIP).frame,
        Message(type: .request, ciaddr: H.vmIP, source: H.vmIP, destination: H.serverIP, ethernetDestination: H.serverMAC).frame,
        Message(type: .inform, ciaddr: H.vmIP, source: H.vmIP).frame,
        Message(type: .release, ciaddr: H.vmIP, serverID: H.serverIP).frame,
        FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.serverIP),
    ]

    static func mutate(_ seed: [UInt8], _ g: inout Generator) -> [UInt8] {
        var f = seed
        let fixChecksums = Bool.random(using: &g)
        for _ in 0..<Int.random(in: 1...4, using: &g) {
            switch f.isEmpty ? 2 : Int.random(in: 0..<7, using: &g) {
            case 0:  // flip bits anywhere
                let i = Int.random(in: 0..<f.count, using: &g)
                f[i] ^= UInt8.random(in: 1...255, using: &g)
            case 1:  // truncate
                f = Array(f[..<Int.random(in: 0..<f.count, using: &g)])
            case 2:  // grow with junk
                f += (0..<Int.random(in: 1...64, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            case 3:  // an option length byte set to something hostile
                if f.count > 283 { f[Int.random(in: 283..<f.count, using: &g)] = [0, 1, 4, 200, 255].randomElement(using: &g)! }
            case 4:  // IPv4 total length or UDP length
                if f.count > 40 {
                    let at = Bool.random(using: &g) ? 16 : 38
                    let v = UInt16.random(in: 0...1600, using: &g)
                    f[at] = UInt8(v >> 8); f[at + 1] = UInt8(v & 0xFF)
                }
            case 5:  // the options area rewritten
                if f.count > 282 { for i in 282..<f.count where Int.random(in: 0..<4, using: &g) == 0 { f[i] = UInt8.random(in: 0...255, using: &g) } }
            default:  // a fixed-header field (op, htype, hlen, giaddr, cookie, chaddr)
                if f.count > 290 {
                    let at = [42, 43, 44, 66, 70, 75, 278, 281].randomElement(using: &g)!
                    f[at] = UInt8.random(in: 0...255, using: &g)
                }
            }
        }
        if fixChecksums, f.count >= 42, f[12] == 0x08, f[13] == 0x00, f[14] == 0x45, f[23] == 17 {
            DHCPMalformedTests.fixChecksums(&f)
        }
        return f
    }

    @Test func mutatedFramesNeverLoseAFrameOrSendGarbage() throws {
        let h = try H(pool: FramePool(frameCount: 512))
        var g = Generator(state: 0xD4C9_2026)
        var replies = 0
        for round in 0..<500 {
            var frames: [[UInt8]] = []
            for _ in 0..<32 { frames.append(Self.mutate(Self.seeds.randomElement(using: &g)!, &g)) }
            for frame in frames {
                let start = h.pool.allocate()!
                let address = start + UInt64(h.pool.headroom)
                frame.withUnsafeBytes { if $0.count > 0 { h.pool.pointer(address).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                h.batch.append(address: address, length: UInt32(frame.count))
            }
            h.server.process(h.batch)
            #expect(h.accountingHolds, "round \(round)")
            for out in h.sent() {
                replies += 1
                if out[12] == 0x08, out[13] == 0x06 { #expect(out.count == 60); continue }  // an ARP answer
                let reply = DHCPReply(frame: out)
                #expect(reply.checksumsHold, "round \(round)")
                #expect(reply.op == 2)
                #expect(reply.ethernetSource == H.serverMAC)
                #expect([UInt8(2), 5, 6].contains(reply.messageType ?? 0))
                #expect(reply.option(54) == [10, 1, 0, 3])
                #expect(out.count - 42 <= 548 && out.count - 42 >= 300)
                #expect(reply.ethernetDestination == .broadcast || reply.ethernetDestination.rawValue == UInt64(reply.chaddr[0..<6].reduce(0) { $0 << 8 | UInt64($1) }))
            }
        }
        let s = h.server.stats
        #expect(s.received == 500 * 32)
        #expect(s.sent == UInt64(replies))
        #expect(replies > 100)  // mutations that keep the frame valid are still answered
        #expect(s.totalDrops > 5000)
        #expect(h.pool.freeCount == h.pool.frameCount)
    }
}
