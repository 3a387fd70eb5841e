import Testing
import XDPDatapath
import XDPPacket

/// UDP, ICMP and other protocols: new until a reply, established after; and the ICMP
/// errors that are RELATED to a tracked connection.
@Suite struct ConntrackPseudoStateTests {
    typealias H = ConntrackHarness
    static let a = H.a, b = H.b, r = H.r

    @Test func udpIsNewUntilAReplyThenEstablished() {
        let h = H()
        #expect(h.track(H.udp(Self.a, Self.b, 5353, 53)).state == .trkNew)
        #expect(h.track(H.udp(Self.a, Self.b, 5353, 53)).state == .trkNew)  // still no reply
        let key = ConntrackKey.ipv4(source: Self.a, destination: Self.b, proto: 17, sourcePort: 5353, destinationPort: 53)
        #expect(h.ct.lookup(key)?.timeoutClass == .udpFirst)
        #expect(h.track(H.udp(Self.b, Self.a, 53, 5353)).state == .trkEstRpl)
        #expect(h.track(H.udp(Self.a, Self.b, 5353, 53)).state == .trkEst)
        #expect(h.ct.lookup(key)?.timeoutClass == .udpMultiple)
        #expect(h.ct.lookup(key.reversed())?.original == key)  // either direction finds it
        #expect(h.ct.count(.created) == 1)
        #expect(h.ct.sortedConnections().map(\.description) == ["udp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=5353,dport=53),reply=(src=10.1.0.3,dst=10.1.0.2,sport=53,dport=5353)"])
    }

    @Test func udpTimeoutsFirstAndMultiple() {
        let h = H()
        h.track(H.udp(Self.a, Self.b, 1000, 2000))
        h.advance(seconds: 29)
        #expect(h.track(H.udp(Self.a, Self.b, 1000, 2000)).state == .trkNew)  // refreshed: 30 s more
        h.advance(seconds: 31)
        // Gone (found expired on lookup): a new connection again.
        #expect(h.track(H.udp(Self.b, Self.a, 2000, 1000), commit: false).state == .trkNew)
        #expect(h.ct.count(.expired) == 1)
        h.track(H.udp(Self.a, Self.b, 1000, 2000))
        #expect(h.track(H.udp(Self.b, Self.a, 2000, 1000)).state == .trkEstRpl)
        h.advance(seconds: 179)
        #expect(h.track(H.udp(Self.a, Self.b, 1000, 2000)).state == .trkEst)
        h.advance(seconds: 181)
        #expect(h.track(H.udp(Self.a, Self.b, 1000, 2000)).state == .trkNew)
        #expect(h.ct.count(.expired) == 2)
    }

    @Test func udpOverIPv6() {
        let h = H()
        #expect(h.track(H.udp6(H.a6, H.b6, 546, 547)).state == .trkNew)
        #expect(h.track(H.udp6(H.b6, H.a6, 547, 546)).state == .trkEstRpl)
        #expect(h.ct.sortedConnections().map(\.description) == ["udp,orig=(src=fd00::2,dst=fd00::3,sport=546,dport=547),reply=(src=fd00::3,dst=fd00::2,sport=547,dport=546)"])
    }

    @Test func icmpEchoPairsRequestAndReplyById() {
        let h = H()
        #expect(h.track(H.ping(Self.a, Self.b, id: 7)).state == .trkNew)
        #expect(h.track(H.ping(Self.b, Self.a, id: 7, reply: true)).state == .trkEstRpl)
        #expect(h.track(H.ping(Self.a, Self.b, id: 7, seq: 2)).state == .trkEst)
        // Another id is another connection; a reply nobody asked for is invalid.
        #expect(h.track(H.ping(Self.a, Self.b, id: 8)).state == .trkNew)
        let stray = h.track(H.ping(Self.b, Self.a, id: 99, reply: true))
        #expect(stray.state == .trkInv && stray.reason == .icmpReplyWithoutConnection)
        #expect(h.ct.sortedConnections(zone: 0).map(\.description).contains("icmp,orig=(src=10.1.0.2,dst=10.1.0.3,id=7,type=8,code=0),reply=(src=10.1.0.3,dst=10.1.0.2,id=7,type=0,code=0)"))
        let key = ConntrackKey.icmp(source: Self.a, destination: Self.b, id: 7)
        #expect(h.ct.lookup(key)?.timeoutClass == .icmpReply)
        h.advance(seconds: 31)
        #expect(h.track(H.ping(Self.b, Self.a, id: 7, reply: true)).state == .trkInv)  // expired
    }

    @Test func icmpv6EchoAndUnsupportedTypes() {
        let h = H()
        #expect(h.track(H.ping6(H.a6, H.b6, id: 9)).state == .trkNew)
        #expect(h.track(H.ping6(H.b6, H.a6, id: 9, reply: true)).state == .trkEstRpl)
        #expect(h.ct.sortedConnections().map(\.description) == ["icmpv6,orig=(src=fd00::2,dst=fd00::3,id=9,type=128,code=0),reply=(src=fd00::3,dst=fd00::2,id=9,type=129,code=0)"])
        let ns = H.eth(true).ipv6(source: H.a6, destination: H.b6).icmpv6(type: .neighborSolicitation, code: 0)
            .payload(count: 16).build()
        #expect(h.track(ns).reason == .icmpUnsupportedType)
    }

    @Test func otherProtocolsAreTrackedByAddressPair() {
        let h = H()
        let gre = H.eth(true).ipv4(source: Self.a, destination: Self.b).gre(key: 5).payload(count: 20).build()
        let back = H.eth(false).ipv4(source: Self.b, destination: Self.a).gre(key: 6).payload(count: 20).build()
        #expect(h.track(gre).state == .trkNew)
        #expect(h.track(back).state == .trkEstRpl)
        let esp = H.eth(true).ipv4(source: Self.a, destination: Self.b, protocolNumber: IPProtocol(rawValue: 50))
            .payload(count: 30).build()
        #expect(h.track(esp).state == .trkNew)
        #expect(h.ct.sortedConnections().map(\.description) == [
            "47,orig=(src=10.1.0.2,dst=10.1.0.3,sport=0,dport=0),reply=(src=10.1.0.3,dst=10.1.0.2,sport=0,dport=0)",
            "50,orig=(src=10.1.0.2,dst=10.1.0.3,sport=0,dport=0),reply=(src=10.1.0.3,dst=10.1.0.2,sport=0,dport=0)",
        ])
        let key = ConntrackKey.ipv4(source: Self.a, destination: Self.b, proto: 47)
        #expect(h.ct.lookup(key)?.timeoutClass == .otherMultiple)
    }

    @Test func nonIPAndMalformedFramesAreInvalid() {
        let h = H()
        let arp = FrameBuilder.arpRequest(senderMAC: H.macA, senderIP: Self.a, targetIP: Self.b)
        #expect(h.track(arp).reason == .notIP)
        var cut = H.tcp(Self.a, Self.b, 1, 2, seq: 1, flags: .syn)
        cut.removeLast(10)
        #expect(h.track(cut).state == .trkInv)
        #expect(h.ct.count(.malformed) == 1 && h.ct.count(.notIP) == 1)
    }

    // MARK: RELATED

    /// An established TCP connection A:5000 → B:80.
    @discardableResult
    static func tcpConnection(_ h: H) -> [UInt8] {
        let syn = H.tcp(a, b, 5000, 80, seq: 100, flags: .syn)
        h.track(syn)
        h.track(H.tcp(b, a, 80, 5000, seq: 900, ack: 101, flags: [.syn, .ack]))
        h.track(H.tcp(a, b, 5000, 80, seq: 101, ack: 901, flags: .ack))
        return H.tcp(a, b, 5000, 80, seq: 101, ack: 901, flags: [.psh, .ack], payload: 1400)
    }

    @Test func fragmentationNeededFromARouterIsRelatedReply() {
        let h = H()
        let data = Self.tcpConnection(h)
        let error = H.icmpError(Self.r, Self.a, type: .destinationUnreachable, code: ICMPType.Code.fragmentationNeeded,
                                rest: 1400, quoting: H.quote(data))
        let result = h.track(error)
        #expect(result.state == .trkRelRpl, "\(result.state.ctText)")
        #expect(h.ct.connectionCount == 1)  // related packets create nothing
        // The whole quoted packet (as much as fits) works too.
        #expect(h.track(H.icmpError(Self.r, Self.a, type: .destinationUnreachable, code: 4, quoting: H.quote(data, count: 548))).state == .trkRelRpl)
    }

    @Test func errorsAboutReplyDirectionPacketsAreRelatedWithoutReply() {
        let h = H()
        Self.tcpConnection(h)
        let fromB = H.tcp(Self.b, Self.a, 80, 5000, seq: 901, ack: 101, flags: [.psh, .ack], payload: 10)
        // Time exceeded on the way to A, sent back to B: travels in the original direction.
        let error = H.icmpError(Self.r, Self.b, type: .timeExceeded, code: 0, quoting: H.quote(fromB))
        #expect(h.track(error).state == .trkRel)
    }

    @Test func portUnreachableForUDPAndTimeExceededForPingAreRelated() {
        let h = H()
        let query = H.udp(Self.a, Self.b, 4444, 53)
        h.track(query)
        #expect(h.track(H.icmpError(Self.b, Self.a, type: .destinationUnreachable, code: 3, quoting: H.quote(query))).state == .trkRelRpl)
        let ping = H.ping(Self.a, Self.b, id: 3)
        h.track(ping)
        #expect(h.track(H.icmpError(Self.r, Self.a, type: .timeExceeded, code: 0, quoting: H.quote(ping))).state == .trkRelRpl)
    }

    @Test func relatedCarriesTheConnectionsMark() {
        let h = H()
        let query = H.udp(Self.a, Self.b, 4444, 53)
        h.track(query, mark: 0x2a, markMask: 0xFFFF_FFFF)
        let r = h.track(H.icmpError(Self.b, Self.a, type: .destinationUnreachable, code: 3, quoting: H.quote(query)))
        #expect(r.mark == 0x2a)
    }

    @Test func strayAndForgedErrorsAreInvalid() {
        let h = H()
        let data = Self.tcpConnection(h)
        // About a connection nobody tracks.
        let other = H.tcp(Self.a, Self.b, 5001, 80, seq: 1, flags: .syn)
        let stray = h.track(H.icmpError(Self.r, Self.a, type: .destinationUnreachable, code: 4, quoting: H.quote(other)))
        #expect(stray.state == .trkInv && stray.reason == .icmpErrorWithoutConnection)
        // Quoting A's packet but sent to B: forged.
        let forged = h.track(H.icmpError(Self.r, Self.b, type: .destinationUnreachable, code: 4, quoting: H.quote(data)))
        #expect(forged.state == .trkInv && forged.reason == .icmpErrorMalformed)
        // Quoted header cut short.
        let short = h.track(H.icmpError(Self.r, Self.a, type: .destinationUnreachable, code: 4, quoting: H.quote(data, count: 24)))
        #expect(short.state == .trkInv && short.reason == .icmpErrorMalformed)
        // In another zone the connection does not exist.
        #expect(h.track(H.icmpError(Self.r, Self.a, type: .destinationUnreachable, code: 4, quoting: H.quote(data)), zone: 9).state == .trkInv)
        // After the connection expires the same error is stray.
        h.advance(seconds: 86_401)
        #expect(h.track(H.icmpError(Self.r, Self.a, type: .destinationUnreachable, code: 4, quoting: H.quote(data))).state == .trkInv)
    }

    @Test func packetTooBigOverIPv6IsRelated() {
        let h = H()
        h.track(H.tcp6(H.a6, H.b6, 40000, 443, seq: 7, flags: .syn))
        h.track(H.tcp6(H.b6, H.a6, 443, 40000, seq: 70, ack: 8, flags: [.syn, .ack]))
        let data = H.tcp6(H.a6, H.b6, 40000, 443, seq: 8, ack: 71, flags: .ack, payload: 1400)
        let quoted = H.quote(data, count: 48)
        #expect(h.track(H.icmp6Error(H.r6, H.a6, type: .packetTooBig, code: 0, rest: 1280, quoting: quoted)).state == .trkRelRpl)
        let other = H.quote(H.tcp6(H.a6, H.b6, 40001, 443, seq: 7, flags: .syn), count: 48)
        #expect(h.track(H.icmp6Error(H.r6, H.a6, type: .destinationUnreachable, code: 4, quoting: other)).state == .trkInv)
    }
}
