import Testing
import XDPDatapath
import XDPPacket

/// IPv4 and IPv6 fragments are reassembled (bounded) before tracking.
@Suite struct ConntrackFragmentTests {
    typealias H = ConntrackHarness
    static let a = H.a, b = H.b
    /// A 1008-byte UDP datagram (8 header + 1000 payload) from A:7000 to B:9000.
    static let segment = H.udpSegment(H.a, H.b, 7000, 9000, payload: 1000)

    static func piece(_ offset: Int, _ count: Int, id: UInt16 = 42) -> [UInt8] {
        H.fragment4(a, b, id: id, proto: .udp, l4: segment, offset: offset, count: count)
    }

    @Test func inOrderFragmentsAreTrackedOnceComplete() {
        let h = H()
        let first = h.track(Self.piece(0, 504))
        #expect(first.disposition == .held && first.state == [] && first.datagram != 0)
        #expect(h.ct.connectionCount == 0 && h.ct.pendingDatagrams == 1 && h.ct.fragmentBytesHeld == 504)
        let last = h.track(Self.piece(504, 504))
        #expect(last.disposition == .forward && last.state == .trkNew && last.datagram == first.datagram)
        #expect(h.ct.pendingDatagrams == 0 && h.ct.fragmentBytesHeld == 0)
        #expect(h.ct.count(.reassembled) == 1)
        // The datagram's ports made the connection: the unfragmented reply finds it.
        #expect(h.track(H.udp(Self.b, Self.a, 9000, 7000)).state == .trkEstRpl)
    }

    @Test func outOfOrderFragmentsReassembleToo() {
        let h = H()
        #expect(h.track(Self.piece(800, 208)).disposition == .held)
        #expect(h.track(Self.piece(400, 400)).disposition == .held)
        let done = h.track(Self.piece(0, 400))
        #expect(done.disposition == .forward && done.state == .trkNew)
        #expect(h.ct.sortedConnections().map(\.description) == ["udp,orig=(src=10.1.0.2,dst=10.1.0.3,sport=7000,dport=9000),reply=(src=10.1.0.3,dst=10.1.0.2,sport=9000,dport=7000)"])
    }

    @Test func overlappingFragmentsDropTheDatagram() {
        let h = H()
        h.track(Self.piece(0, 504))
        let overlap = h.track(Self.piece(496, 512))  // starts 8 bytes inside the first
        #expect(overlap.disposition == .drop && overlap.reason == .fragmentOverlap)
        #expect(h.ct.count(.fragmentOverlap) == 1 && h.ct.pendingDatagrams == 0 && h.ct.fragmentBytesHeld == 0)
        // The rest alone cannot complete anything.
        #expect(h.track(Self.piece(504, 504)).disposition == .held)
        #expect(h.ct.connectionCount == 0)
    }

    @Test func anExactDuplicateIsDroppedAloneAndTheDatagramStillCompletes() {
        let h = H()
        h.track(Self.piece(0, 504))
        #expect(h.track(Self.piece(0, 504)).reason == .fragmentDuplicate)
        #expect(h.track(Self.piece(504, 504)).state == .trkNew)
    }

    @Test func incompleteDatagramsTimeOut() {
        let h = H()
        h.track(Self.piece(0, 504))
        h.advance(seconds: 16)
        // The first fragment's context is gone: the last one starts a new, incomplete datagram.
        #expect(h.track(Self.piece(504, 504)).disposition == .held)
        #expect(h.ct.count(.fragmentTimeout) == 1 && h.ct.fragmentBytesHeld == 504)
        h.advance(seconds: 16)
        h.ct.expire(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.ct.pendingDatagrams == 0 && h.ct.fragmentBytesHeld == 0 && h.ct.count(.fragmentTimeout) == 2)
    }

    @Test func memoryAndContextsAreBounded() {
        let h = H { $0.fragmentContexts = 2; $0.fragmentMemory = 1600 }
        #expect(h.track(Self.piece(0, 504, id: 1)).disposition == .held)
        #expect(h.track(Self.piece(0, 504, id: 2)).disposition == .held)
        #expect(h.track(Self.piece(0, 504, id: 3)).reason == .fragmentContextsFull)
        #expect(h.track(Self.piece(504, 504, id: 1)).state == .trkNew)  // completes: frees its 1008 bytes
        #expect(h.ct.fragmentBytesHeld == 504)
        #expect(h.track(Self.piece(0, 504, id: 4)).disposition == .held)
        // 1008 bytes held; 600 more would pass 1600: the datagram is given up.
        let big = H.udpSegment(Self.a, Self.b, 1, 2, payload: 2000)
        let over = h.track(H.fragment4(Self.a, Self.b, id: 4, proto: .udp, l4: big, offset: 504, count: 600))
        #expect(over.disposition == .drop && over.reason == .fragmentMemoryFull)
        #expect(h.ct.fragmentBytesHeld == 504 && h.ct.pendingDatagrams == 1)
        let small = H { $0.maxDatagramSize = 1000 }
        #expect(small.track(Self.piece(504, 504)).reason == .fragmentTooLarge)
        let few = H { $0.maxFragmentsPerDatagram = 2 }
        few.track(Self.piece(0, 8))
        few.track(Self.piece(8, 8))
        #expect(few.track(Self.piece(16, 8)).reason == .fragmentTooMany)
    }

    @Test func malformedFragmentsAreDropped() {
        let h = H()
        // A non-last fragment whose length is not a multiple of 8.
        #expect(h.track(Self.piece(0, 500)).reason == .fragmentMalformed)
        // Two last fragments that disagree on the datagram's length.
        #expect(h.track(Self.piece(504, 504, id: 44)).disposition == .held)
        let longer = Self.segment + [UInt8](repeating: 0, count: 200)
        let r = h.track(H.fragment4(Self.a, Self.b, id: 44, proto: .udp, l4: longer, offset: 1008, count: 200))
        #expect(r.reason == .fragmentMalformed && h.ct.pendingDatagrams == 0)
        #expect(h.ct.count(.fragmentMalformed) == 2)
    }

    @Test func tcpSegmentsInFragmentsAreWindowChecked() {
        let h = H()
        h.track(H.tcp(Self.a, Self.b, 5000, 80, seq: 100, flags: .syn))
        h.track(H.tcp(Self.b, Self.a, 80, 5000, seq: 900, ack: 101, flags: [.syn, .ack]))
        let whole = H.tcp(Self.a, Self.b, 5000, 80, seq: 101, ack: 901, flags: [.psh, .ack], payload: 1200)
        let l4 = Array(whole[34...])
        #expect(h.track(H.fragment4(Self.a, Self.b, id: 7, proto: .tcp, l4: l4, offset: 0, count: 600)).disposition == .held)
        #expect(h.track(H.fragment4(Self.a, Self.b, id: 7, proto: .tcp, l4: l4, offset: 600, count: 620)).state == .trkEst)
        let key = ConntrackKey.ipv4(source: Self.a, destination: Self.b, proto: 6, sourcePort: 5000, destinationPort: 80)
        #expect(h.ct.lookup(key)?.tcpStates?.reply == .established)
    }

    @Test func ipv6FragmentsInAndOutOfOrderAndOverlapping() {
        let h = H()
        let l4 = H.udpSegment6(H.a6, H.b6, 7000, 9000, payload: 1500)
        func piece(_ offset: Int, _ count: Int, id: UInt32 = 0x1234_5678) -> [UInt8] {
            H.fragment6(H.a6, H.b6, id: id, proto: 17, l4: l4, offset: offset, count: count)
        }
        #expect(h.track(piece(1232, 1000)).disposition == .held)
        #expect(h.track(piece(0, 1232)).state == .trkNew)
        #expect(h.track(H.udp6(H.b6, H.a6, 9000, 7000)).state == .trkEstRpl)
        // Overlap (RFC 5722): the datagram is discarded.
        h.track(piece(0, 1232, id: 9))
        #expect(h.track(piece(1224, 1000, id: 9)).reason == .fragmentOverlap)
        #expect(h.ct.pendingDatagrams == 0)
    }
}
