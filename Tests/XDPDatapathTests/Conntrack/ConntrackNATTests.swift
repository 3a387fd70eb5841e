import Testing
import XDPDatapath
import XDPPacket

/// NAT in the connection tracker: allocation of translated tuples, exhaustion, rewriting
/// in both directions, ICMP errors translated back. Every rewritten frame is compared
/// byte for byte with the frame the packet layer builds with the translated addresses
/// (its checksums are computed in full), so every incremental checksum is verified.
extension ConntrackHarness {
    /// Tracks `frame` with `nat` and returns the result and the frame as it leaves.
    func trackNAT(_ frame: [UInt8], nat: ConntrackNAT, commit: Bool = true, zone: UInt16 = 0) -> (TrackResult, [UInt8]) {
        var bytes = frame
        let r = bytes.withUnsafeMutableBytes { raw in
            var meta = PacketMetadata()
            PacketParser.parse(raw.baseAddress!, length: raw.count, into: &meta)
            return ct.track(frame: raw.baseAddress!, length: raw.count, meta: meta, zone: zone, commit: commit,
                            now: DatapathInstant(nanoseconds: now), nat: nat)
        }
        return (r, bytes)
    }
}

@Suite("Conntrack NAT")
struct ConntrackNATTests {
    typealias H = ConntrackHarness
    static let gw = IPv4Address(172, 24, 4, 227)
    static let fip = IPv4Address(172, 24, 4, 228)
    static let ext = IPv4Address(192, 0, 2, 9)
    static let c = IPv4Address(10, 1, 0, 9)

    static func udp(_ s: IPv4Address, _ d: IPv4Address, _ sp: UInt16, _ dp: UInt16, checksum: Bool = true) -> [UInt8] {
        H.eth(true).ipv4(source: s, destination: d).udp(sourcePort: sp, destinationPort: dp, checksum: checksum)
            .payload(count: 21).build()
    }

    static func tcp(_ s: IPv4Address, _ d: IPv4Address, _ sp: UInt16, _ dp: UInt16, seq: UInt32, ack: UInt32 = 0,
                    flags: TCPFlags, payload: Int = 0) -> [UInt8] {
        H.eth(true).ipv4(source: s, destination: d)
            .tcp(sourcePort: sp, destinationPort: dp, sequence: seq, acknowledgment: ack, flags: flags, window: 8192)
            .payload(count: payload).build()
    }

    static func ping(_ s: IPv4Address, _ d: IPv4Address, id: UInt16, reply: Bool = false) -> [UInt8] {
        H.eth(true).ipv4(source: s, destination: d).icmpEcho(identifier: id, sequence: 3, reply: reply)
            .payload(count: 16).build()
    }

    static func error(_ s: IPv4Address, _ d: IPv4Address, type: ICMPType = .destinationUnreachable, code: UInt8 = 3,
                      quoting frame: [UInt8], count: Int = 28) -> [UInt8] {
        H.eth(true).ipv4(source: s, destination: d).icmp(type: type, code: code).payload(H.quote(frame, count: count)).build()
    }

    static let snat = ConntrackNAT.source(gw, ports: 1024...65535)

    @Test func snatRewritesBothDirectionsAndDumpShowsTheTranslatedReply() {
        let h = H()
        let (out, outBytes) = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53), nat: Self.snat)
        #expect(out.state == [.tracked, .new, .snat])
        #expect(outBytes == Self.udp(Self.gw, Self.ext, 5000, 53))  // own port kept: in range and free
        let (back, backBytes) = h.trackNAT(Self.udp(Self.ext, Self.gw, 53, 5000), nat: .existing)
        #expect(back.state == [.tracked, .established, .reply, .snat])
        #expect(backBytes == Self.udp(Self.ext, H.a, 53, 5000))
        let (again, againBytes) = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53), nat: .existing)
        #expect(again.state == [.tracked, .established, .snat])
        #expect(againBytes == Self.udp(Self.gw, Self.ext, 5000, 53))
        #expect(h.ct.sortedConnections().map(\.description) == [
            "udp,orig=(src=10.1.0.2,dst=192.0.2.9,sport=5000,dport=53),reply=(src=192.0.2.9,dst=172.24.4.227,sport=53,dport=5000)",
        ])
        #expect(h.ct.count(.natTranslated) == 3)
    }

    @Test func withoutNATTheConnectionIsFoundButNotRewritten() {
        let h = H()
        _ = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53), nat: Self.snat)
        let reply = Self.udp(Self.ext, Self.gw, 53, 5000)
        let (r, bytes) = h.trackNAT(reply, nat: .none)
        #expect(r.state == .trkEstRpl)
        #expect(bytes == reply)
    }

    @Test func clashingSourcePortsGetDistinctTranslatedPorts() {
        let h = H()
        let (_, first) = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53), nat: Self.snat)
        let (second, secondBytes) = h.trackNAT(Self.udp(Self.c, Self.ext, 5000, 53), nat: Self.snat)
        #expect(second.disposition == .forward)
        let port = secondBytes.routerBE16(34)
        #expect(port != 5000 && port >= 1024)
        #expect(secondBytes == Self.udp(Self.gw, Self.ext, port, 53))
        #expect(first == Self.udp(Self.gw, Self.ext, 5000, 53))
        // Each reply finds its own originator.
        #expect(h.trackNAT(Self.udp(Self.ext, Self.gw, 53, port), nat: .existing).1 == Self.udp(Self.ext, Self.c, 53, 5000))
        #expect(h.trackNAT(Self.udp(Self.ext, Self.gw, 53, 5000), nat: .existing).1 == Self.udp(Self.ext, H.a, 53, 5000))
    }

    @Test func portsOutsideTheRangeAreMovedIntoIt() {
        let h = H()
        let nat = ConntrackNAT.source(Self.gw, ports: 2000...2001)
        let (_, bytes) = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53), nat: nat)
        let port = bytes.routerBE16(34)
        #expect((2000...2001).contains(port))
        #expect(bytes == Self.udp(Self.gw, Self.ext, port, 53))
    }

    @Test func exhaustionRefusesAndNeverReusesALiveTuple() {
        let h = H()
        let nat = ConntrackNAT.source(Self.gw, ports: 3000...3001)
        var ports: Set<UInt16> = []
        for sp in [UInt16(7001), 7002] {
            let (r, bytes) = h.trackNAT(Self.udp(H.a, Self.ext, sp, 53), nat: nat)
            #expect(r.disposition == .forward)
            ports.insert(bytes.routerBE16(34))
        }
        #expect(ports == [3000, 3001])
        let third = Self.udp(H.a, Self.ext, 7003, 53)
        let (refused, untouched) = h.trackNAT(third, nat: nat)
        #expect(refused.disposition == .drop && refused.reason == .natExhausted)
        #expect(untouched == third)
        #expect(h.ct.count(.natExhausted) == 1)
        #expect(h.ct.connectionCount == 2)
        // Once a connection has expired its tuple is free again.
        h.advance(seconds: 31)
        let (later, bytes) = h.trackNAT(third, nat: nat)
        #expect(later.disposition == .forward)
        #expect((3000...3001).contains(bytes.routerBE16(34)))
    }

    /// Sources keep their own ports while they can; a run of them taken one after another
    /// (a client opening connections from consecutive ports, ports below the range moved into
    /// it first) must not end the search for the next one: 20,000 connections to one
    /// destination through one address are all translated, to distinct tuples.
    @Test func aLongBlockOfTakenPortsDoesNotExhaustTheSearch() {
        let h = H { $0.capacity = 32768 }
        var taken: Set<UInt16> = []
        var refused = 0
        for sp in UInt16(1)...20000 {
            let (r, bytes) = h.trackNAT(Self.udp(H.a, Self.ext, sp, 53, checksum: false), nat: Self.snat)
            if r.disposition != .forward { refused += 1; continue }
            taken.insert(bytes.routerBE16(34))
        }
        #expect(refused == 0 && h.ct.count(.natExhausted) == 0)
        #expect(taken.count == 20000 && taken.allSatisfy { $0 >= 1024 })
    }

    @Test func severalSourceAddressesAreUsedWhenPortsRunOut() {
        let h = H()
        let nat = ConntrackNAT.source(IPv4Address(172, 24, 4, 230), IPv4Address(172, 24, 4, 231), ports: 4000...4000)
        var sources: Set<UInt32> = []
        for sp in [UInt16(1), 2] {
            let (r, bytes) = h.trackNAT(Self.udp(H.a, Self.ext, sp, 53), nat: nat)
            #expect(r.disposition == .forward)
            #expect(bytes.routerBE16(34) == 4000)
            sources.insert(UInt32(bytes.routerBE16(26)) << 16 | UInt32(bytes.routerBE16(28)))
        }
        #expect(sources == [IPv4Address(172, 24, 4, 230).rawValue, IPv4Address(172, 24, 4, 231).rawValue])
        #expect(h.trackNAT(Self.udp(H.a, Self.ext, 3, 53), nat: nat).0.reason == .natExhausted)
    }

    @Test func udpChecksumZeroStaysZero() {
        let h = H()
        let (_, bytes) = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53, checksum: false), nat: Self.snat)
        #expect(bytes == Self.udp(Self.gw, Self.ext, 5000, 53, checksum: false))
        #expect(bytes.routerBE16(40) == 0)
    }

    @Test func icmpEchoIdentifiersAreTranslated() {
        let h = H()
        _ = h.trackNAT(Self.ping(H.a, Self.ext, id: 77), nat: Self.snat)
        let (r, bytes) = h.trackNAT(Self.ping(Self.c, Self.ext, id: 77), nat: Self.snat)
        #expect(r.state == [.tracked, .new, .snat])
        let id = bytes.routerBE16(38)
        #expect(id != 77)
        #expect(bytes == Self.ping(Self.gw, Self.ext, id: id))
        let (back, backBytes) = h.trackNAT(Self.ping(Self.ext, Self.gw, id: id, reply: true), nat: .existing)
        #expect(back.state == [.tracked, .established, .reply, .snat])
        #expect(backBytes == Self.ping(Self.ext, Self.c, id: 77, reply: true))
    }

    @Test func dnatTCPThroughTheHandshakeWithWindowTracking() {
        let h = H()
        let nat = ConntrackNAT.destination(H.b)
        let (syn, synBytes) = h.trackNAT(Self.tcp(Self.ext, Self.fip, 40000, 22, seq: 1000, flags: .syn), nat: nat)
        #expect(syn.state == [.tracked, .new, .dnat])
        #expect(synBytes == Self.tcp(Self.ext, H.b, 40000, 22, seq: 1000, flags: .syn))
        let (synAck, synAckBytes) = h.trackNAT(Self.tcp(H.b, Self.ext, 22, 40000, seq: 5000, ack: 1001, flags: [.syn, .ack]),
                                               nat: .existing)
        #expect(synAck.state == [.tracked, .established, .reply, .dnat])
        #expect(synAckBytes == Self.tcp(Self.fip, Self.ext, 22, 40000, seq: 5000, ack: 1001, flags: [.syn, .ack]))
        let (ack, _) = h.trackNAT(Self.tcp(Self.ext, Self.fip, 40000, 22, seq: 1001, ack: 5001, flags: .ack), nat: .existing)
        #expect(ack.state == [.tracked, .established, .dnat])
        let (data, dataBytes) = h.trackNAT(Self.tcp(Self.ext, Self.fip, 40000, 22, seq: 1001, ack: 5001, flags: [.ack, .psh],
                                                    payload: 100), nat: .existing)
        #expect(data.state == [.tracked, .established, .dnat])
        #expect(dataBytes == Self.tcp(Self.ext, H.b, 40000, 22, seq: 1001, ack: 5001, flags: [.ack, .psh], payload: 100))
        // Far outside the window: +inv, and not rewritten.
        let wild = Self.tcp(Self.ext, Self.fip, 40000, 22, seq: 900_000_000, ack: 5001, flags: .ack, payload: 10)
        let (bad, badBytes) = h.trackNAT(wild, nat: .existing)
        #expect(bad.state.contains(.invalid))
        #expect(badBytes == wild)
        #expect(h.ct.count(.tcpOutOfWindow) == 1)
        #expect(h.ct.sortedConnections().map(\.description) == [
            "tcp,orig=(src=192.0.2.9,dst=172.24.4.228,sport=40000,dport=22),reply=(src=10.1.0.3,dst=192.0.2.9,sport=22,dport=40000),protoinfo=(state=ESTABLISHED)",
        ])
    }

    @Test func icmpErrorAboutASNATedDatagramIsTranslatedBack() {
        let h = H()
        let original = Self.udp(H.a, Self.ext, 5000, 53)
        let (_, translated) = h.trackNAT(original, nat: Self.snat)
        // A router past the NAT reports the translated datagram to the translated source.
        let hop = IPv4Address(198, 51, 100, 1)
        let (r, bytes) = h.trackNAT(Self.error(hop, Self.gw, type: .timeExceeded, code: 0, quoting: translated),
                                    nat: .existing)
        #expect(r.state == [.tracked, .related, .reply, .snat])
        #expect(bytes == Self.error(hop, H.a, type: .timeExceeded, code: 0, quoting: original))
        #expect(bytes.routerChecksumsVerify)
    }

    @Test func icmpErrorQuotingAWholeTCPHeaderGetsItsInnerChecksumFixed() {
        let h = H()
        let original = Self.tcp(H.a, Self.ext, 41000, 80, seq: 7, flags: .syn)
        let (_, translated) = h.trackNAT(original, nat: Self.snat)
        let (r, bytes) = h.trackNAT(Self.error(Self.ext, Self.gw, code: 3, quoting: translated, count: 40), nat: .existing)
        #expect(r.state == [.tracked, .related, .reply, .snat])
        #expect(bytes == Self.error(Self.ext, H.a, code: 3, quoting: original, count: 40))
    }

    @Test func icmpErrorFromInsideAboutADNATedReplyGoesOutTranslated() {
        let h = H()
        let nat = ConntrackNAT.destination(H.b)
        let syn = Self.tcp(Self.ext, Self.fip, 40000, 22, seq: 1000, flags: .syn)
        let (_, inside) = h.trackNAT(syn, nat: nat)
        // The fixed host answers the (translated) SYN with port unreachable.
        let (r, bytes) = h.trackNAT(Self.error(H.b, Self.ext, code: 3, quoting: inside, count: 40), nat: .existing)
        #expect(r.state == [.tracked, .related, .reply, .dnat])
        // As Linux does: the outer source becomes the floating address, the quote the SYN as sent.
        #expect(bytes == Self.error(Self.fip, Self.ext, code: 3, quoting: syn, count: 40))
    }

    @Test func icmpErrorAboutAnEchoTranslatesTheQuotedIdentifier() {
        let h = H()
        _ = h.trackNAT(Self.ping(H.a, Self.ext, id: 77), nat: Self.snat)
        let original = Self.ping(Self.c, Self.ext, id: 77)
        let (_, translated) = h.trackNAT(original, nat: Self.snat)
        let (r, bytes) = h.trackNAT(Self.error(Self.ext, Self.gw, code: 1, quoting: translated), nat: .existing)
        #expect(r.state.contains(.related))
        #expect(bytes == Self.error(Self.ext, Self.c, code: 1, quoting: original))
    }

    @Test func natRequestFromAFlowAction() {
        var action = NATAction(kind: .source)
        action.family = .ipv4
        action.ipv4Min = Self.gw.rawValue
        action.portMin = 5000
        action.portMax = 5001
        let h = H()
        let (_, bytes) = h.trackNAT(Self.udp(H.a, Self.ext, 9, 53), nat: ConntrackNAT(action))
        #expect(bytes.routerBE16(26) == 0xAC18 && bytes.routerBE16(28) == 0x04E3)
        #expect((5000...5001).contains(bytes.routerBE16(34)))
    }

    @Test func ipv6SourceNATAndAnICMPv6ErrorBack() {
        let h = H()
        let outside = IPv6Address("2001:db8::9")!, translatedSource = IPv6Address("2001:db8:1::1")!
        var action = NATAction(kind: .source)
        action.family = .ipv6
        action.ipv6MinHi = translatedSource.high
        action.ipv6MinLo = translatedSource.low
        func udp6(_ s: IPv6Address, _ d: IPv6Address, _ sp: UInt16, _ dp: UInt16) -> [UInt8] {
            H.eth(true).ipv6(source: s, destination: d).udp(sourcePort: sp, destinationPort: dp).payload(count: 13).build()
        }
        let original = udp6(H.a6, outside, 5000, 53)
        let (r, bytes) = h.trackNAT(original, nat: ConntrackNAT(action))
        #expect(r.state == [.tracked, .new, .snat])
        #expect(bytes == udp6(translatedSource, outside, 5000, 53))
        #expect(h.trackNAT(udp6(outside, translatedSource, 53, 5000), nat: .existing).1 == udp6(outside, H.a6, 53, 5000))
        // Packet too big about the translated datagram, back to the originator.
        func tooBig(_ d: IPv6Address, quoting frame: [UInt8]) -> [UInt8] {
            H.eth(true).ipv6(source: outside, destination: d).icmpv6(type: ICMPv6Type(rawValue: 2), code: 0, rest: 1280)
                .payload(Array(frame[14...])).build()
        }
        let (e, errorBytes) = h.trackNAT(tooBig(translatedSource, quoting: bytes), nat: .existing)
        #expect(e.state == [.tracked, .related, .reply, .snat])
        #expect(errorBytes == tooBig(H.a6, quoting: original))
    }

    @Test func fragmentsAreTranslatedTheCompletingOneByTrackTheHeldOneByTranslate() {
        let h = H()
        let segment = H.udpSegment(H.a, Self.ext, 5000, 53, payload: 60)
        let first = H.fragment4(H.a, Self.ext, id: 42, proto: .udp, l4: segment, offset: 0, count: 32)
        let second = H.fragment4(H.a, Self.ext, id: 42, proto: .udp, l4: segment, offset: 32, count: 64)
        var held = first
        let heldResult = held.withUnsafeMutableBytes { raw in
            var meta = PacketMetadata()
            PacketParser.parse(raw.baseAddress!, length: raw.count, into: &meta)
            return h.ct.track(frame: raw.baseAddress!, length: raw.count, meta: meta, zone: 0, commit: true, now: DatapathInstant(nanoseconds: h.now), nat: Self.snat)
        }
        #expect(heldResult.disposition == .held && held == first)
        let (done, completing) = h.trackNAT(second, nat: Self.snat)
        #expect(done.disposition == .forward && done.state == [.tracked, .new, .snat])
        let translatedSegment = H.udpSegment(Self.gw, Self.ext, 5000, 53, payload: 60)
        let expectFirst = H.fragment4(Self.gw, Self.ext, id: 42, proto: .udp, l4: translatedSegment, offset: 0, count: 32)
        let expectSecond = H.fragment4(Self.gw, Self.ext, id: 42, proto: .udp, l4: translatedSegment, offset: 32, count: 64)
        #expect(Array(completing[14...]) == Array(expectSecond[14...]))
        let applied = held.withUnsafeMutableBytes { raw in
            var meta = PacketMetadata()
            PacketParser.parse(raw.baseAddress!, length: raw.count, into: &meta)
            return h.ct.translate(frame: raw.baseAddress!, length: raw.count, meta: meta, result: done)
        }
        #expect(applied == [.snat])
        #expect(Array(held[14...]) == Array(expectFirst[14...]))
    }

    @Test func flushByPredicateRemovesTranslatedConnections() {
        let h = H()
        _ = h.trackNAT(Self.udp(H.a, Self.ext, 5000, 53), nat: Self.snat)
        _ = h.trackNAT(Self.udp(Self.c, Self.ext, 5000, 53), nat: Self.snat)
        #expect(h.ct.flush { $0.original.srcLo == UInt64(H.a.rawValue) } == 1)
        let stray = Self.udp(Self.ext, Self.gw, 53, 5000)
        let (r, bytes) = h.trackNAT(stray, nat: .existing, commit: false)
        #expect(!r.state.contains(.established))
        #expect(bytes == stray)
    }
}
