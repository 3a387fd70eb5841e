import Testing
import XDPDatapath
import XDPPacket

/// The ARP responder and next-hop resolution with its bounded waiting queue.
@Suite struct RouterARPTests {
    typealias H = RouterHarness
    static let second: UInt64 = 1_000_000_000

    static func padded(_ frame: [UInt8]) -> [UInt8] { frame + [UInt8](repeating: 0, count: max(0, 60 - frame.count)) }

    @Test func answersARPForTheInterfaceAddressAndLearnsTheAsker() throws {
        let h = try H()
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP))
        let out = h.sent(H.qr)
        #expect(out == [Self.padded(FrameBuilder.arpReply(senderMAC: H.qrMAC, senderIP: H.qrIP, targetMAC: H.vmMAC, targetIP: H.vmIP))])
        #expect(h.router.neighbourTable == [H.vmIP: H.vmMAC])
        #expect(h.router.stats.arpRepliesSent == 1 && h.router.stats.neighboursLearned == 1)
        #expect(h.accountingHolds)
    }

    @Test func doesNotAnswerForOtherAddressesOrTheOtherInterface() throws {
        let h = try H()
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: IPv4Address(10, 1, 0, 9)),
               FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qgIP))
        #expect(h.sent(H.qr).isEmpty && h.sent(H.qg).isEmpty)
        #expect(h.drops(.arpNotForUs) == 2)
        #expect(h.router.neighbourTable.isEmpty)  // strangers' ARP teaches nothing
        // Someone claiming the router's address: not answered, not learned.
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.qrIP, targetIP: H.qrIP))
        #expect(h.drops(.arpAddressConflict) == 1 && h.sent(H.qr).isEmpty)
        // ARP unicast to another MAC.
        h.send(FrameBuilder().ethernet(source: H.vmMAC, destination: H.gatewayMAC)
            .arp(operation: .request, senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP).build())
        #expect(h.drops(.notForRouterMAC) == 1)
        #expect(h.accountingHolds)
    }

    @Test func unusableSendersAndOpcodesAreBadARP() throws {
        let h = try H()
        let multicastSender = MACAddress("01:00:5e:00:00:01")!
        h.send(FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast)
            .arp(operation: .request, senderMAC: multicastSender, senderIP: H.vmIP, targetIP: H.qrIP).build(),
               FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast)
            .arp(operation: ARPOperation(rawValue: 9), senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP).build())
        #expect(h.sent(H.qr).isEmpty && h.drops(.badARP) == 2)
        #expect(h.router.neighbourTable == [H.vmIP: H.vmMAC])  // the odd opcode still taught its sender
        #expect(h.accountingHolds)
    }

    @Test func strangersFillAtMostHalfTheNeighbourTable() throws {
        let h = try H(H.reference { $0.neighbourCapacity = 4 })
        for host in 5...10 {
            h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: IPv4Address(10, 1, 0, UInt8(host)), targetIP: H.qrIP))
        }
        #expect(h.sent(H.qr).count == 6)  // all answered
        #expect(h.router.neighbourTable.count == 2 && h.router.stats.neighbourTableFull == 4)
        // A known one is still updated (it moved), though the unasked half is full.
        let moved = MACAddress("fa:16:3e:00:00:99")!
        h.send(FrameBuilder.arpRequest(senderMAC: moved, senderIP: IPv4Address(10, 1, 0, 5), targetIP: H.qrIP))
        #expect(h.router.neighbourTable[IPv4Address(10, 1, 0, 5)] == moved)
        #expect(h.accountingHolds)
    }

    /// A tenant floods the router with ARP requests from made-up on-link addresses; the
    /// router still resolves the next hop its traffic needs (the upstream gateway here)
    /// and forwards, because what it asks for may use the half strangers cannot. Then the
    /// whole table is used, and only then is an asked-for neighbour refused.
    @Test func anARPFloodCannotKeepTheRouterFromResolvingItsNextHops() throws {
        let h = try H(H.reference { $0.neighbourCapacity = 8 })
        for host in 10..<110 {
            h.send(FrameBuilder.arpRequest(senderMAC: MACAddress(rawValue: 0xFA16_3E00_1000 + UInt64(host)),
                                           senderIP: IPv4Address(10, 1, 0, UInt8(host)), targetIP: H.qrIP))
        }
        _ = h.sent(H.qr)
        #expect(h.router.neighbourTable.count == 4 && h.router.stats.neighbourTableFull == 96)
        h.send(H.vmUDP(id: 1))
        #expect(h.sent(H.qg) == [Self.padded(FrameBuilder.arpRequest(senderMAC: H.qgMAC, senderIP: H.qgIP, targetIP: H.gatewayIP))])
        h.send(FrameBuilder.arpReply(senderMAC: H.gatewayMAC, senderIP: H.gatewayIP, targetMAC: H.qgMAC, targetIP: H.qgIP), on: H.qg)
        let released = h.sent(H.qg)
        #expect(released.count == 1 && released.first.map { Array($0[0..<6]) } == H.macBytes(H.gatewayMAC))
        #expect(h.router.neighbourTable[H.gatewayIP] == H.gatewayMAC)
        // An unasked reply from a stranger on the gateway's side: refused, the half is used.
        h.send(FrameBuilder.arpReply(senderMAC: H.vmMAC, senderIP: IPv4Address(rawValue: H.gatewayIP.rawValue + 7), targetMAC: H.qgMAC,
                                     targetIP: H.qgIP), on: H.qg)
        #expect(h.router.neighbourTable.count == 5 && h.router.stats.neighbourTableFull == 97)
        #expect(h.accountingHolds)
    }

    @Test func pendingLimitZeroDropsUntilResolved() throws {
        let h = try H(H.reference { $0.pendingLimit = 0 })
        h.send(H.vmUDP())
        #expect(h.drops(.pendingFull) == 1 && h.router.pendingCount == 0)
        #expect(h.sent(H.qg).isEmpty)  // nothing waits, so nothing asks
        #expect(h.accountingHolds)
    }

    @Test func probesAreAnsweredButNotLearned() throws {
        let h = try H()
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: .any, targetIP: H.qrIP))
        let out = h.sent(H.qr)
        #expect(out == [Self.padded(FrameBuilder.arpReply(senderMAC: H.qrMAC, senderIP: H.qrIP, targetMAC: H.vmMAC, targetIP: .any))])
        #expect(h.router.neighbourTable.isEmpty)
    }

    @Test func gratuitousARPUpdatesAKnownNeighbourOnly() throws {
        let h = try H()
        h.learnNeighbours()
        let moved = MACAddress("fa:16:3e:bb:00:05")!
        let stranger = IPv4Address(10, 1, 0, 77)
        h.send(FrameBuilder.arpRequest(senderMAC: moved, senderIP: H.vmIP, targetIP: H.vmIP),
               FrameBuilder.arpRequest(senderMAC: moved, senderIP: stranger, targetIP: stranger))
        #expect(h.router.neighbourTable[H.vmIP] == moved)
        #expect(h.router.neighbourTable[stranger] == nil)
        // Off-link senders are never learned, even when they talk to us.
        h.send(FrameBuilder.arpRequest(senderMAC: moved, senderIP: IPv4Address(10, 9, 9, 9), targetIP: H.qrIP))
        #expect(h.router.neighbourTable[IPv4Address(10, 9, 9, 9)] == nil)
        _ = h.sent(H.qr)
    }

    /// The first frames for the external gateway wait, bounded, behind one ARP request;
    /// the gateway's reply releases them in order with its MAC written in.
    @Test func nextHopResolutionQueuesBoundedAndReleasesInOrder() throws {
        let h = try H(H.reference { $0.pendingLimit = 3 })
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP))
        _ = h.sent(H.qr)
        h.send(H.vmUDP(id: 1), H.vmUDP(id: 2), H.vmUDP(id: 3), H.vmUDP(id: 4), H.vmUDP(id: 5))
        let request = FrameBuilder.arpRequest(senderMAC: H.qgMAC, senderIP: H.qgIP, targetIP: H.gatewayIP)
        #expect(h.sent(H.qg) == [Self.padded(request)])
        #expect(h.router.pendingCount == 3)
        #expect(h.drops(.pendingFull) == 2)
        #expect(h.accountingHolds)
        // Within the second: no new request. After it: one more.
        h.now += Self.second / 2
        h.send(H.vmUDP(id: 6))
        #expect(h.sent(H.qg).isEmpty && h.drops(.pendingFull) == 3)
        h.now += Self.second / 2
        h.router.service(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.sent(H.qg) == [Self.padded(request)])
        #expect(h.router.stats.arpRequestsSent == 2)
        // The gateway answers.
        h.send(FrameBuilder.arpReply(senderMAC: H.gatewayMAC, senderIP: H.gatewayIP, targetMAC: H.qgMAC, targetIP: H.qgIP), on: H.qg)
        let released = h.sent(H.qg)
        #expect(released.map { $0.routerBE16(18) } == [1, 2, 3])
        for frame in released {
            #expect(Array(frame[0..<6]) == H.macBytes(H.gatewayMAC))
            #expect(Array(frame[6..<12]) == H.macBytes(H.qgMAC))
            #expect(frame[22] == 63 && frame.routerChecksumsVerify)
        }
        #expect(h.router.pendingCount == 0 && h.router.stats.arpRepliesReceived == 1)
        // Later frames go straight out.
        h.send(H.vmUDP(id: 9))
        #expect(h.sent(H.qg).count == 1)
        #expect(h.accountingHolds)
    }

    /// No answer after three requests: the waiting frames are dropped and each sender is
    /// told host unreachable, as Linux's neighbour layer does.
    @Test func unansweredNextHopGivesUpWithHostUnreachable() throws {
        let h = try H(H.reference { $0.pendingLimit = 2 })
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP))
        _ = h.sent(H.qr)
        let original = H.vmUDP(id: 41)
        h.send(original, H.vmUDP(id: 42))
        #expect(h.sent(H.qg).count == 1)
        for _ in 0..<2 {
            h.now += Self.second
            h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP))  // any traffic drives the timers
            #expect(h.sent(H.qg).count == 1)
            _ = h.sent(H.qr)
        }
        #expect(h.router.stats.arpRequestsSent == 3)
        h.now += Self.second
        h.router.service(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.sent(H.qg).isEmpty)
        let errors = h.sent(H.qr)
        #expect(errors.count == 2)
        #expect(h.drops(.neighbourUnreachable) == 2 && h.router.pendingCount == 0)
        let first = try #require(errors.first)
        #expect(first[34] == 3 && first[35] == 1)               // destination unreachable, host unreachable
        #expect(first.routerChecksumsVerify)
        #expect(Array(first[26..<30]) == [10, 1, 0, 1] && Array(first[30..<34]) == [10, 1, 0, 5])
        #expect(first.routerBE16(42 + 4) == 41)                       // quotes the datagram with id 41
        #expect(h.accountingHolds)
    }

    /// A sweep of a connected subnet cannot take the pool: all queues together are bounded.
    @Test func waitingIsBoundedAcrossNextHops() throws {
        let h = try H(H.reference { $0.pendingLimit = 4; $0.pendingTotalLimit = 10 })
        h.learnNeighbours()
        for host in 10...40 {
            h.send(FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
                .ipv4(source: H.outside, destination: IPv4Address(10, 1, 0, UInt8(host)))
                .udp(sourcePort: 1, destinationPort: 2).build(), on: H.qg)
        }
        #expect(h.router.pendingCount == 10)
        #expect(h.drops(.pendingFull) == 21)
        #expect(h.sent(H.qr).count == 10)  // one ARP request per waiting next hop
        #expect(h.accountingHolds)
    }
}

extension RouterHarness {
    static func macBytes(_ mac: MACAddress) -> [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: mac.rawValue >> UInt64(40 - 8 * $0)) }
    }
}
