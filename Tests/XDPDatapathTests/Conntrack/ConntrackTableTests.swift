import Testing
import XDPDatapath
import XDPPacket

/// Limits, zones, expiry, marks, dump and flush, and the steady state.
@Suite struct ConntrackTableTests {
    typealias H = ConntrackHarness
    static let a = H.a, b = H.b

    static func establish(_ h: H, sport: UInt16, zone: UInt16 = 0) {
        h.track(H.tcp(a, b, sport, 80, seq: 100, flags: .syn), zone: zone)
        h.track(H.tcp(b, a, 80, sport, seq: 900, ack: 101, flags: [.syn, .ack]), zone: zone)
        h.track(H.tcp(a, b, sport, 80, seq: 101, ack: 901, flags: .ack), zone: zone)
    }

    @Test func globalLimitRefusesNewConnectionsWhileEstablishedOnesContinue() {
        let h = H()
        h.ct.limit = 3
        Self.establish(h, sport: 1)
        h.track(H.udp(Self.a, Self.b, 2, 53))
        h.track(H.ping(Self.a, Self.b, id: 3))
        let refused = h.track(H.tcp(Self.a, Self.b, 4, 80, seq: 1, flags: .syn))
        #expect(refused.disposition == .drop && refused.reason == .globalLimit && refused.state == .trkNew)
        #expect(h.ct.connectionCount == 3 && h.ct.count(.globalLimit) == 1)
        // Existing connections go on in both directions.
        #expect(h.track(H.tcp(Self.a, Self.b, 1, 80, seq: 101, ack: 901, flags: [.psh, .ack], payload: 10)).state == .trkEst)
        #expect(h.track(H.udp(Self.b, Self.a, 53, 2)).state == .trkEstRpl)
        // An uncommitted lookup is not refused: nothing would be stored.
        #expect(h.track(H.tcp(Self.a, Self.b, 4, 80, seq: 1, flags: .syn), commit: false).disposition == .forward)
    }

    @Test func synFloodOfTenTimesTheLimitLeavesAnEstablishedTransferRunning() {
        let h = H { $0.capacity = 200 }
        h.ct.limit = 100
        Self.establish(h, sport: 40000)
        var seq: UInt32 = 101
        var refused = 0
        for i in 0..<1000 {
            let r = h.track(H.tcp(IPv4Address(rawValue: 0x0B00_0000 + UInt32(i)), Self.b, UInt16(1024 + i), 80, seq: 7, flags: .syn))
            if r.disposition == .drop { refused += 1 }
            if i % 10 == 0 {
                let data = h.track(H.tcp(Self.a, Self.b, 40000, 80, seq: seq, ack: 901, flags: [.psh, .ack], payload: 100))
                #expect(data.state == .trkEst)
                seq &+= 100
                #expect(h.track(H.tcp(Self.b, Self.a, 80, 40000, seq: 901, ack: seq, flags: .ack)).state == .trkEstRpl)
            }
        }
        #expect(refused == 901 && h.ct.connectionCount == 100)
        // The half-open flood times out after SYN_SENT's 30 s; then new connections fit again.
        h.advance(seconds: 31)
        #expect(h.track(H.tcp(Self.a, Self.b, 40001, 80, seq: 7, flags: .syn)).disposition == .forward)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 2)  // the transfer (ESTABLISHED, 24 h) and the new one
        #expect(h.track(H.tcp(Self.a, Self.b, 40000, 80, seq: seq, ack: 901, flags: .ack)).state == .trkEst)
    }

    @Test func zoneLimitsAreSeparateFromEachOtherAndFromTheDefault() {
        let h = H { $0.defaultZoneLimit = 3; $0.zoneLimits = [7: 1] }
        h.ct.setZoneLimit(2, zone: 5)
        #expect(h.track(H.udp(Self.a, Self.b, 1, 53), zone: 5).disposition == .forward)
        #expect(h.track(H.udp(Self.a, Self.b, 2, 53), zone: 5).disposition == .forward)
        let refused = h.track(H.udp(Self.a, Self.b, 3, 53), zone: 5)
        #expect(refused.disposition == .drop && refused.reason == .zoneLimit)
        #expect(h.track(H.udp(Self.b, Self.a, 53, 1), zone: 5).state == .trkEstRpl)  // established continues
        #expect(h.track(H.udp(Self.a, Self.b, 1, 53), zone: 7).disposition == .forward)
        #expect(h.track(H.udp(Self.a, Self.b, 2, 53), zone: 7).reason == .zoneLimit)
        for port in 1...3 { #expect(h.track(H.udp(Self.a, Self.b, UInt16(port), 53), zone: 8).disposition == .forward) }
        #expect(h.track(H.udp(Self.a, Self.b, 4, 53), zone: 8).reason == .zoneLimit)
        #expect(h.ct.count(zone: 5) == 2 && h.ct.count(zone: 7) == 1 && h.ct.count(zone: 8) == 3)
        #expect(h.ct.zoneCountList().map { "\($0.zone):\($0.count)" } == ["5:2", "7:1", "8:3"])
        #expect(["default limit=\(h.ct.defaultZoneLimit)"] + h.ct.zoneLimitList().map(\.description)
                == ["default limit=3", "zone=5,limit=2,count=2", "zone=7,limit=1,count=1", "zone=8,limit=3,count=3"])
        #expect(h.ct.zoneLimitList().first == ConntrackZoneLimit(zone: 5, limit: 2, count: 2))
        // Back to the default, and unlimited.
        h.ct.setZoneLimit(nil, zone: 5)
        #expect(h.ct.limit(zone: 5) == 3)
        h.ct.setZoneLimit(0, zone: 7)
        #expect(h.track(H.udp(Self.a, Self.b, 2, 53), zone: 7).disposition == .forward)
        // Expiry makes room.
        h.advance(seconds: 31)
        #expect(h.track(H.udp(Self.a, Self.b, 9, 53), zone: 8).disposition == .forward)
    }

    @Test func zonesIsolateIdenticalTuples() {
        let h = H()
        Self.establish(h, sport: 1000, zone: 1)
        // The same SYN in zone 2 is a different connection.
        #expect(h.track(H.tcp(Self.a, Self.b, 1000, 80, seq: 100, flags: .syn), zone: 2).state == .trkNew)
        // A reply in zone 3 belongs to nothing.
        #expect(h.track(H.tcp(Self.b, Self.a, 80, 1000, seq: 901, ack: 101, flags: .ack), zone: 3).state == .trkInv)
        #expect(h.ct.count(zone: 1) == 1 && h.ct.count(zone: 2) == 1 && h.ct.connectionCount == 2)
        #expect(h.ct.sortedConnections(zone: 2).map(\.description) == ["tcp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=1000,dport=80),reply=(src=10.1.0.3,dst=10.1.0.2,sport=80,dport=1000),zone=2,protoinfo=(state=SYN_SENT)"])
    }

    @Test func timeoutsPerState() {
        let h = H()
        let t = h.ct
        #expect(t.timeout(.tcpSynSent) == .seconds(30) && t.timeout(.tcpEstablished) == .seconds(86_400))
        #expect(t.timeout(.tcpFinWait) == .seconds(30) && t.timeout(.tcpTimeWait) == .seconds(120))
        #expect(t.timeout(.udpFirst) == .seconds(30) && t.timeout(.udpMultiple) == .seconds(180))
        #expect(t.timeout(.icmpFirst) == .seconds(30))
        // A lone SYN is forgotten after 30 s; an established connection survives an idle hour.
        h.track(H.tcp(Self.a, Self.b, 1, 80, seq: 1, flags: .syn))
        Self.establish(h, sport: 2)
        h.advance(seconds: 31)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 1)
        h.advance(seconds: 3600)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 1)
        // Half closed: FIN_WAIT's 30 s.
        h.track(H.tcp(Self.a, Self.b, 2, 80, seq: 101, ack: 901, flags: [.fin, .ack]))
        h.advance(seconds: 29)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 1)
        h.advance(seconds: 2)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 0)
        // Configured timeouts.
        let custom = H { $0.timeouts.udpFirst = .seconds(5) }
        custom.track(H.udp(Self.a, Self.b, 1, 2))
        custom.advance(seconds: 6)
        custom.ct.expire(now: DatapathInstant(nanoseconds: custom.now))
        #expect(custom.ct.connectionCount == 0)
    }

    @Test func expiryIsIncrementalAndBounded() {
        let h = H { $0.expiryBudget = 4 }
        for port in 0..<100 { h.track(H.udp(Self.a, Self.b, UInt16(port), 53)) }
        #expect(h.ct.connectionCount == 100)
        h.advance(seconds: 31)
        // Each packet frees at most the budget; traffic keeps flowing meanwhile.
        var previous = 100
        for _ in 0..<30 {
            #expect(h.track(H.ping(Self.a, Self.b, id: 1), commit: false).state == .trkNew)
            #expect(previous - h.ct.connectionCount <= 4)
            previous = h.ct.connectionCount
        }
        #expect(h.ct.connectionCount < 100)
        #expect(h.ct.expire(now: DatapathInstant(nanoseconds: h.now), budget: 10) == 10)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.connectionCount == 0 && h.ct.count(.expired) == 100)
    }

    @Test func marksAreSetOnCommitAndKept() {
        let h = H()
        let first = h.track(H.udp(Self.a, Self.b, 1, 53), zone: 2, mark: 5, markMask: 0xFFFF_FFFF)
        #expect(first.mark == 5)
        #expect(h.track(H.udp(Self.b, Self.a, 53, 1), zone: 2).mark == 5)
        // Only the masked bits change, and only on commit.
        #expect(h.track(H.udp(Self.a, Self.b, 1, 53), zone: 2, commit: false, mark: 0xF0, markMask: 0xF0).mark == 5)
        #expect(h.track(H.udp(Self.a, Self.b, 1, 53), zone: 2, mark: 0xF0, markMask: 0xF0).mark == 0xF5)
        h.ct.setMark(1, connection: first.connection)
        #expect(h.ct.sortedConnections().map(\.description) == ["udp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=1,dport=53),reply=(src=10.1.0.3,dst=10.1.0.2,sport=53,dport=1),zone=2,mark=1"])
    }

    @Test func flushAllByZoneAndByTuple() {
        let h = H()
        Self.establish(h, sport: 1, zone: 1)
        Self.establish(h, sport: 2, zone: 1)
        h.track(H.udp(Self.a, Self.b, 3, 53), zone: 2)
        h.track(H.ping(Self.a, Self.b, id: 4), zone: 2)
        #expect(h.ct.connectionCount == 4)
        // By tuple, given in the reply direction.
        let reply = ConntrackKey.ipv4(zone: 1, source: Self.b, destination: Self.a, proto: 6, sourcePort: 80, destinationPort: 2)
        #expect(h.ct.flush(key: reply) == 1)
        #expect(h.ct.flush(key: reply) == 0)
        #expect(h.ct.count(zone: 1) == 1)
        #expect(h.track(H.tcp(Self.a, Self.b, 2, 80, seq: 101, ack: 901, flags: .ack), zone: 1).state == .trkInv)
        #expect(h.ct.flush(zone: 2) == 2)
        #expect(h.ct.sortedConnections().map(\.description).count == 1 && h.ct.count(zone: 2) == 0)
        #expect(h.ct.flush() == 1)
        #expect(h.ct.connectionCount == 0 && h.ct.count(.flushed) == 4)
        // A flushed table works as new.
        Self.establish(h, sport: 1, zone: 1)
        #expect(h.ct.sortedConnections(zone: 1).map(\.description).count == 1)
    }

    @Test func flushWherePredicateSelects() {
        let h = H()
        h.track(H.udp(Self.a, Self.b, 1, 53))
        h.track(H.udp(Self.a, IPv4Address(10, 9, 9, 9), 1, 53))
        #expect(h.ct.flush { $0.original.dstLo == UInt64(Self.b.rawValue) } == 1)
        #expect(h.ct.connectionCount == 1)
    }

    @Test func tenThousandEstablishedPacketsUseNoNewStorage() {
        let h = H()
        Self.establish(h, sport: 5555)
        // Frames prepared once; each tracked packet then must not change the table's shape.
        var fwd = H.tcp(Self.a, Self.b, 5555, 80, seq: 101, ack: 901, flags: .ack)
        var rev = H.tcp(Self.b, Self.a, 80, 5555, seq: 901, ack: 101, flags: .ack)
        var fwdMeta = PacketMetadata(), revMeta = PacketMetadata()
        let created = h.ct.count(.created)
        var established = 0
        fwd.withUnsafeMutableBytes { f in
            rev.withUnsafeMutableBytes { r in
                PacketParser.parse(f.baseAddress!, length: f.count, into: &fwdMeta)
                PacketParser.parse(r.baseAddress!, length: r.count, into: &revMeta)
                for i in 0..<10_000 {
                    let result = i & 1 == 0
                        ? h.ct.track(frame: f.baseAddress!, length: f.count, meta: fwdMeta, zone: 0, commit: true, now: DatapathInstant(nanoseconds: h.now))
                        : h.ct.track(frame: r.baseAddress!, length: r.count, meta: revMeta, zone: 0, commit: true, now: DatapathInstant(nanoseconds: h.now))
                    if result.state.contains(.established) { established += 1 }
                    h.now += 1000
                }
            }
        }
        #expect(established == 10_000)
        #expect(h.ct.connectionCount == 1 && h.ct.count(.created) == created && h.ct.capacity == 1024)
        #expect(h.ct.pendingDatagrams == 0 && h.ct.fragmentBytesHeld == 0)
    }
}
