import Testing
import XDPDatapath
import XDPPacket

/// The TCP state machine and window tracking, packet by packet, with real frames.
@Suite struct ConntrackTCPTests {
    typealias H = ConntrackHarness
    static let a = H.a, b = H.b

    /// A (5000) → B (22): SYN, SYN-ACK, ACK, 100 bytes each way. Client ISN 1000, server 5000.
    static func handshake(_ h: H, zone: UInt16 = 0) {
        #expect(h.track(H.tcp(a, b, 5000, 22, seq: 1000, flags: .syn), zone: zone).state == .trkNew)
        #expect(h.track(H.tcp(b, a, 22, 5000, seq: 5000, ack: 1001, flags: [.syn, .ack]), zone: zone).state == .trkEstRpl)
        #expect(h.track(H.tcp(a, b, 5000, 22, seq: 1001, ack: 5001, flags: .ack), zone: zone).state == .trkEst)
        #expect(h.track(H.tcp(a, b, 5000, 22, seq: 1001, ack: 5001, flags: [.psh, .ack], payload: 100), zone: zone).state == .trkEst)
        #expect(h.track(H.tcp(b, a, 22, 5000, seq: 5001, ack: 1101, flags: [.psh, .ack], payload: 100), zone: zone).state == .trkEstRpl)
        #expect(h.track(H.tcp(a, b, 5000, 22, seq: 1101, ack: 5101, flags: .ack), zone: zone).state == .trkEst)
    }

    static let key = ConntrackKey.ipv4(source: a, destination: b, proto: 6, sourcePort: 5000, destinationPort: 22)

    @Test func handshakeGoesNewThenEstablishedBothWays() {
        let h = H()
        Self.handshake(h, zone: 1)
        #expect(h.ct.sortedConnections().map(\.description) == ["tcp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=5000,dport=22),reply=(src=10.1.0.3,dst=10.1.0.2,sport=22,dport=5000),zone=1,protoinfo=(state=ESTABLISHED)"])
        var k = Self.key; k.zone = 1
        let info = h.ct.lookup(k)
        #expect(info?.tcpStates?.original == .established && info?.tcpStates?.reply == .established)
        #expect(info?.timeoutClass == .tcpEstablished)
        #expect(h.ct.count(.created) == 1 && h.ct.connectionCount == 1)
    }

    @Test func synOnlyShowsSynSentAndRetransmittedSynStaysNew() {
        let h = H()
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1000, flags: .syn)).state == .trkNew)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1000, flags: .syn)).state == .trkNew)
        #expect(h.ct.sortedConnections().map(\.description) == ["tcp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=5000,dport=22),reply=(src=10.1.0.3,dst=10.1.0.2,sport=22,dport=5000),protoinfo=(state=SYN_SENT)"])
        #expect(h.ct.lookup(Self.key)?.timeoutClass == .tcpSynSent)
        #expect(h.ct.count(.created) == 1)
    }

    @Test func finTeardownReachesTimeWaitAndExpiresAfterItsTimeout() {
        let h = H()
        Self.handshake(h)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101, ack: 5101, flags: [.fin, .ack])).state == .trkEst)
        #expect(h.ct.lookup(Self.key)?.timeoutClass == .tcpFinWait)
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5101, ack: 1102, flags: .ack)).state == .trkEstRpl)
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5101, ack: 1102, flags: [.fin, .ack])).state == .trkEstRpl)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1102, ack: 5102, flags: .ack)).state == .trkEst)
        let info = h.ct.lookup(Self.key)
        #expect(info?.tcpStates?.original == .finWait2 && info?.tcpStates?.reply == .finWait2)
        #expect(info?.timeoutClass == .tcpTimeWait)
        #expect(h.ct.sortedConnections().map(\.description).first?.hasSuffix("protoinfo=(state=TIME_WAIT)") == true)
        h.advance(seconds: 119)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 1)
        h.advance(seconds: 2)
        #expect(h.ct.expire(now: DatapathInstant(nanoseconds: h.now)) == 1)
        #expect(h.ct.connectionCount == 0 && h.ct.count(.expired) == 1)
    }

    @Test func synAfterTimeWaitStartsANewConnection() {
        let h = H()
        Self.handshake(h)
        h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101, ack: 5101, flags: [.fin, .ack]))
        h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5101, ack: 1102, flags: [.fin, .ack]))
        h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1102, ack: 5102, flags: .ack))
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 900_000, flags: .syn)).state == .trkNew)
        #expect(h.ct.count(.recreated) == 1 && h.ct.count(.created) == 2 && h.ct.connectionCount == 1)
        #expect(h.ct.lookup(Self.key)?.tcpStates?.original == .synSent)
    }

    @Test func resetInWindowClosesAndOutOfWindowResetIsInvalid() {
        let h = H()
        Self.handshake(h)
        // A RST whose sequence number is not the expected one (blind reset attack).
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5101 + 3000, flags: .rst)).state == .trkInv)
        #expect(h.ct.count(.tcpOutOfWindow) == 1)
        #expect(h.ct.lookup(Self.key)?.timeoutClass == .tcpEstablished)
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5101, flags: .rst)).state == .trkEstRpl)
        let info = h.ct.lookup(Self.key)
        #expect(info?.tcpStates?.original == .timeWait && info?.tcpStates?.reply == .timeWait)
        #expect(info?.timeoutClass == .tcpTimeWait)
    }

    @Test func segmentsOutsideTheWindowAreInvalidAndChangeNothing() {
        let h = H()
        Self.handshake(h)
        // Server's window is 8192 from ack 1101: 100 000 bytes ahead is outside.
        let far = h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 101_101, ack: 5101, flags: [.psh, .ack], payload: 10))
        #expect(far.state == .trkInv && far.reason == .tcpOutOfWindow)
        // Acknowledging data the server never sent.
        let ackAhead = h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101, ack: 5101 + 200_000, flags: .ack))
        #expect(ackAhead.state == .trkInv)
        // An old retransmission far more than a window back.
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101 &- 100_000, ack: 5101, flags: [.psh, .ack], payload: 10)).state == .trkInv)
        #expect(h.ct.count(.tcpOutOfWindow) == 3)
        // The connection is untouched: the next in-order segment is fine.
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101, ack: 5101, flags: [.psh, .ack], payload: 50)).state == .trkEst)
        // Right at the window's edge: 8192 bytes from ack 1101 ends exactly at seqhi.
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1151, ack: 5101, flags: [.psh, .ack], payload: 8192 - 50)).state == .trkEst)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101 + 8192, ack: 5101, flags: [.psh, .ack], payload: 1)).state == .trkInv)
    }

    @Test func windowScalingWidensTheWindow() {
        let h = H()
        let ws7: [UInt8] = [1, 3, 3, 7]  // NOP, window scale 7
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1000, flags: .syn, window: 1000, options: ws7)).state == .trkNew)
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5000, ack: 1001, flags: [.syn, .ack], window: 1000, options: ws7)).state == .trkEstRpl)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1001, ack: 5001, flags: .ack, window: 2000)).state == .trkEst)
        // B acks with a scaled window of 2000 << 7 = 256 000 bytes.
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5001, ack: 1001, flags: .ack, window: 2000)).state == .trkEstRpl)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1001 + 200_000, ack: 5001, flags: [.psh, .ack], window: 2000, payload: 100)).state == .trkEst)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1001 + 300_000, ack: 5001, flags: [.psh, .ack], window: 2000, payload: 100)).state == .trkInv)
    }

    @Test(arguments: [
        ("SYN+FIN", TCPFlags([.syn, .fin])), ("SYN+RST", TCPFlags([.syn, .rst])), ("no flags", TCPFlags([])),
        ("FIN alone", TCPFlags.fin), ("PSH alone", TCPFlags.psh), ("URG alone", TCPFlags.urg),
        ("SYN+FIN+RST+ACK", TCPFlags([.syn, .fin, .rst, .ack])),
    ])
    func impossibleFlagsAreInvalidNewOrEstablished(name: String, flags: TCPFlags) {
        let h = H()
        let r = h.track(H.tcp(Self.a, Self.b, 6000, 22, seq: 1, flags: flags))
        #expect(r.state == .trkInv && r.reason == .tcpBadFlags, "\(name)")
        #expect(h.ct.connectionCount == 0)
        Self.handshake(h)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1101, ack: 5101, flags: flags)).state == .trkInv, "\(name)")
        #expect(h.ct.lookup(Self.key)?.timeoutClass == .tcpEstablished)
    }

    @Test func connectionsMustStartWithSynUnlessLoose() {
        let strict = H()
        let r = strict.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1001, ack: 5001, flags: .ack))
        #expect(r.state == .trkInv && r.reason == .tcpNoSYN && strict.ct.connectionCount == 0)
        #expect(strict.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5000, ack: 1001, flags: [.syn, .ack])).reason == .tcpSynAckWithoutConnection)

        let loose = H { $0.tcpLoose = true }
        #expect(loose.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1001, ack: 5001, flags: .ack)).state == .trkNew)
        #expect(loose.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5001, ack: 1001, flags: .ack)).state == .trkEstRpl)
        #expect(loose.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1001, ack: 5001, flags: [.psh, .ack], payload: 10)).state == .trkEst)
        // A SYN+ACK still cannot open a connection, loose or not.
        #expect(loose.track(H.tcp(Self.b, Self.a, 23, 5001, seq: 1, ack: 1, flags: [.syn, .ack])).state == .trkInv)
    }

    @Test func withoutWindowCheckingOnlyFlagsMatter() {
        let h = H { $0.tcpWindowChecking = false }
        Self.handshake(h)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 101_101, ack: 5101, flags: [.psh, .ack], payload: 10)).state == .trkEst)
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1, flags: [.syn, .fin])).state == .trkInv)
    }

    @Test func uncommittedPacketsLeaveNoState() {
        let h = H()
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1000, flags: .syn), commit: false).state == .trkNew)
        #expect(h.ct.connectionCount == 0 && h.ct.sortedConnections().map(\.description).isEmpty)
        // So the SYN-ACK has nothing to belong to.
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5000, ack: 1001, flags: [.syn, .ack]), commit: false).state == .trkInv)
        // Committed later (the security group accepted the retransmitted SYN): from there on it is tracked.
        #expect(h.track(H.tcp(Self.a, Self.b, 5000, 22, seq: 1000, flags: .syn), commit: true).state == .trkNew)
        #expect(h.track(H.tcp(Self.b, Self.a, 22, 5000, seq: 5000, ack: 1001, flags: [.syn, .ack]), commit: false).state == .trkEstRpl)
    }

    @Test func handshakeOverIPv6() {
        let h = H()
        let a = H.a6, b = H.b6
        #expect(h.track(H.tcp6(a, b, 40000, 443, seq: 7, flags: .syn)).state == .trkNew)
        #expect(h.track(H.tcp6(b, a, 443, 40000, seq: 70, ack: 8, flags: [.syn, .ack])).state == .trkEstRpl)
        #expect(h.track(H.tcp6(a, b, 40000, 443, seq: 8, ack: 71, flags: .ack, payload: 20)).state == .trkEst)
        #expect(h.track(H.tcp6(a, b, 40000, 443, seq: 8 + 50_000, ack: 71, flags: .ack, payload: 20)).state == .trkInv)
        #expect(h.ct.sortedConnections().map(\.description) == ["tcp,orig=(src=fd00::2,dst=fd00::3,sport=40000,dport=443),reply=(src=fd00::3,dst=fd00::2,sport=443,dport=40000),protoinfo=(state=ESTABLISHED)"])
    }
}
