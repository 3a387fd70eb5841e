import Testing
import XDPDatapath
import XDPPacket

/// Floods at every table a tenant can fill, frame by frame through the datapath: a MAC
/// flood past the MAC table, a UDP flood with random sources at the connection tracker's
/// limit, a SNAT flood past the router's ports, a DHCP DISCOVER flood from made-up
/// clients. (The ARP flood at a router: RouterARPTests; a SYN flood on veth:
/// SecurityGroupLiveTests.) Each checks that the traffic already established keeps
/// flowing *during* the flood, that the table stays inside its configured size, that
/// every refused frame is counted by its reason, and that no frame is lost track of.
@Suite struct FloodTests {
    /// A deterministic stream of pseudo-random numbers (the flood's sources).
    struct Sources: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    @Test func aMACFloodPastTheTableKeepsActiveHostsUnicast() throws {
        let capacity = 64
        let h = try Harness([BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "a", tag: 1), PortConfiguration(name: "b", tag: 1), PortConfiguration(name: "c", tag: 1),
        ], macTableSize: capacity)])
        // a and b know each other.
        h.send(TestFrame.ethernet(dst: B, src: A), on: "a")
        h.send(TestFrame.ethernet(dst: A, src: B), on: "b")
        _ = h.collect()
        var random = Sources(state: 7)
        var delivered = 0, flooded = 0
        for _ in 0..<(capacity * 10 / 8) {
            // c sends 8 frames from made-up MACs, then a and b talk.
            for _ in 0..<8 {
                let mac = MACAddress(rawValue: (random.next() & 0xFEFF_FFFF_FFFF) | 0x0200_0000_0000)  // unicast, local
                h.send(TestFrame.ethernet(dst: BCAST, src: mac.description), on: "c")
                h.now += 1_000  // a microsecond a frame: "least recently seen" means something
            }
            _ = h.collect()
            let toB = TestFrame.ethernet(dst: B, src: A), toA = TestFrame.ethernet(dst: A, src: B)
            h.send(toB, on: "a")
            let out = h.collect()
            if out == ["b": [toB]] { delivered += 1 } else { flooded += 1 }
            h.send(toA, on: "b")
            if h.collect() == ["a": [toA]] { delivered += 1 } else { flooded += 1 }
        }
        #expect(flooded == 0 && delivered == capacity * 10 / 8 * 2, "a ↔ b unicast during the flood: \(delivered) delivered, \(flooded) flooded")
        let table = try #require(h.datapath.bridge(named: "br-int")?.macTable)
        #expect(table.entries(now: DatapathInstant(nanoseconds: h.now)).count <= table.capacity)
        #expect(table.evictions > 0, "the flood overfilled the table: evictions counted")
        #expect(h.accountingHolds)
    }

    @Test func aUDPFloodAtTheConntrackLimitLeavesEstablishedConnectionsRunning() throws {
        typealias S = SGBench
        let limit = 32
        var conntrack = ConntrackConfiguration()
        conntrack.capacity = limit
        let b = try SGBench(rules: SecurityGroupDatapathTests.egressAll + [
            SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 22, portRangeMax: 22)!,
            SecurityGroupRule(direction: .ingress, protocol: "udp")!,
        ], conntrack: conntrack)
        // vm2 → vm1:22, established.
        #expect(b.send(S.tcp(S.mac2, S.mac1, S.ip2, S.ip1, 40000, 22, seq: 100, flags: .syn), on: "vm2")["vm1"]?.count == 1)
        #expect(b.send(S.tcp(S.mac1, S.mac2, S.ip1, S.ip2, 22, 40000, seq: 500, ack: 101, flags: [.syn, .ack]), on: "vm1")["vm2"]?.count == 1)
        #expect(b.send(S.tcp(S.mac2, S.mac1, S.ip2, S.ip1, 40000, 22, seq: 101, ack: 501, flags: .ack), on: "vm2")["vm1"]?.count == 1)
        // vm3 (port security off) floods vm1 with UDP from random sources and ports: ten
        // times the limit of new connections; between every 16, the TCP connection moves on.
        var random = Sources(state: 11)
        var seq: UInt32 = 101, passed = 0
        for _ in 0..<(limit * 10 / 16) {
            for _ in 0..<16 {
                let source = IPv4Address(rawValue: 0x0A01_0000 | UInt32(truncatingIfNeeded: random.next() % 60_000 + 1_000))
                _ = b.send(S.udp(S.mac3, S.mac1, source, S.ip1, UInt16(truncatingIfNeeded: random.next() % 50_000 + 1_024), 53), on: "vm3")
            }
            let data = b.send(S.tcp(S.mac2, S.mac1, S.ip2, S.ip1, 40000, 22, seq: seq, ack: 501, flags: [.ack, .psh], payload: 100), on: "vm2")
            let ack = b.send(S.tcp(S.mac1, S.mac2, S.ip1, S.ip2, 22, 40000, seq: 501, ack: seq &+ 100, flags: .ack), on: "vm1")
            if data["vm1"]?.count == 1 && ack["vm2"]?.count == 1 { passed += 1 }
            seq &+= 100
        }
        #expect(passed == limit * 10 / 16, "the established connection through the flood: \(passed) of \(limit * 10 / 16) rounds")
        let tracker = try #require(b.h.datapath.conntrack)
        #expect(tracker.connectionCount <= limit)
        #expect(tracker.count(.globalLimit) >= UInt64(limit * 10 - limit), "refused new connections counted: \(tracker.count(.globalLimit))")
        #expect(b.h.accountingHolds)
    }

    @Test func aSNATFloodPastTheRoutersPortsLeavesEstablishedTranslationsRunning() throws {
        typealias H = RouterHarness
        typealias N = RouterNATTests
        let ports = 64
        let h = try H(N.natSeed(snat: .init(portMin: 5000, portMax: 5000 + UInt16(ports) - 1), floating: false))
        h.learnNeighbours()
        // An established TCP connection from the VM to the external host, translated.
        h.send(N.tcp(N.onQR(), H.vmIP, N.ext, 33000, 443, seq: 1, flags: .syn))
        let syn = try #require(h.sent(H.qg).first)
        let port = syn.routerBE16(34)
        h.send(N.tcp(N.onQG(), N.ext, H.qgIP, 443, port, seq: 900, ack: 2, flags: [.syn, .ack]), on: H.qg)
        #expect(h.sent(H.qr).count == 1)
        // The VM floods UDP from ten times as many source ports as there are SNAT ports.
        var answered = 0
        var seq: UInt32 = 2
        for burst in 0..<(ports * 10 / 16) {
            for i in 0..<16 { h.send(N.udp(N.onQR(), H.vmIP, N.ext, UInt16(10_000 + burst * 16 + i), 53)) }
            _ = h.sent(H.qg)
            h.send(N.tcp(N.onQR(), H.vmIP, N.ext, 33000, 443, seq: seq, ack: 901, flags: [.ack, .psh], payload: 50))
            let out = h.sent(H.qg)
            h.send(N.tcp(N.onQG(), N.ext, H.qgIP, 443, port, seq: 901, ack: seq &+ 50, flags: .ack), on: H.qg)
            if out.count == 1 && out[0].routerBE16(34) == port && h.sent(H.qr).count == 1 { answered += 1 }
            seq &+= 50
        }
        #expect(answered == ports * 10 / 16, "the translated connection through the flood: \(answered) of \(ports * 10 / 16)")
        let stats = h.router.stats
        // Ports are per protocol (as in Linux): the UDP flood gets all of them, the TCP one
        // keeps its own.
        #expect(stats.natConnections == UInt64(ports) + 1, "translations held: \(stats.natConnections)")
        #expect(h.drops(.natExhausted) == UInt64(ports * 10 - ports), "refused: \(h.drops(.natExhausted))")
        #expect(h.accountingHolds)
    }

    @Test func aDHCPDiscoverFloodFromMadeUpClientsCreatesNothingAndTheVMIsStillAnswered() throws {
        typealias H = DHCPHarness
        let h = try H()
        var random = Sources(state: 3)
        for round in 0..<100 {
            for _ in 0..<50 {
                let mac = MACAddress(rawValue: (random.next() & 0xFEFF_FFFF_FFFF) | 0x0200_0000_0000)
                h.send(DHCPClientMessage(mac: mac, xid: UInt32(truncatingIfNeeded: random.next())).frame)
            }
            #expect(h.sent().isEmpty)
            if round % 10 == 0 {
                let offer = try #require(h.exchange(DHCPClientMessage().frame).map(DHCPReply.init))
                #expect(offer.yiaddr == H.vmIP)
            }
        }
        #expect(h.drops(.unknownClient) == 5_000)
        #expect(h.server.stats.offers == 10)
        #expect(h.accountingHolds)
    }
}
