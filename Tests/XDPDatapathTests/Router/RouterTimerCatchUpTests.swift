import Testing
import XDPDatapath
import XDPPacket

/// Timers that fell behind: one call after an idle gap runs every deadline that passed,
/// and the outcome is the same as calling at each deadline.
@Suite struct RouterTimerCatchUpTests {
    typealias H = RouterHarness
    static let second: UInt64 = 1_000_000_000

    /// A router with the VM learned and two datagrams waiting for the external gateway,
    /// which never answers (one ARP request sent at `h.now`).
    func waitingRouter() throws -> H {
        let h = try H(H.reference { $0.pendingLimit = 2 })
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP))
        _ = h.sent(H.qr)
        h.send(H.vmUDP(id: 41), H.vmUDP(id: 42))
        #expect(h.sent(H.qg).count == 1 && h.router.pendingCount == 2)
        return h
    }

    /// Ten seconds without a call (the retransmit interval is one, three requests at most):
    /// one call sends the two retransmissions that fell in the gap and gives up, answering
    /// both senders with host unreachable, instead of sending one request and waiting again.
    @Test func oneCallAfterAGapRunsEveryDeadlineThatPassed() throws {
        let h = try waitingRouter()
        h.now += 10 * Self.second
        h.router.service(now: DatapathInstant(nanoseconds: h.now))
        let request = FrameBuilder.arpRequest(senderMAC: H.qgMAC, senderIP: H.qgIP, targetIP: H.gatewayIP)
        #expect(h.sent(H.qg) == [RouterARPTests.padded(request), RouterARPTests.padded(request)])
        #expect(h.router.stats.arpRequestsSent == 3)
        let errors = h.sent(H.qr)
        #expect(errors.map { $0.routerBE16(42 + 4) } == [41, 42], "each waiting datagram answered, in order")
        #expect(errors.allSatisfy { $0[34] == 3 && $0[35] == 1 && $0.routerChecksumsVerify })
        #expect(h.drops(.neighbourUnreachable) == 2 && h.router.pendingCount == 0)
        #expect(h.accountingHolds)
    }

    /// A gap that covers one retransmission but not the give-up: that request goes out and
    /// the next deadline stays on the grid (last request + interval), not `now` + interval.
    @Test func partialCatchUpKeepsTheScheduleOnItsGrid() throws {
        let h = try waitingRouter()
        let start = h.now
        h.now = start + Self.second + Self.second / 2  // past the first retransmission only
        h.router.service(now: DatapathInstant(nanoseconds: h.now))
        #expect(h.sent(H.qg).count == 1 && h.router.stats.arpRequestsSent == 2)
        h.router.service(now: DatapathInstant(nanoseconds: start + 2 * Self.second))  // the grid's next deadline
        #expect(h.sent(H.qg).count == 1 && h.router.stats.arpRequestsSent == 3)
        #expect(h.router.pendingCount == 2)
        h.router.service(now: DatapathInstant(nanoseconds: start + 3 * Self.second))  // the give-up deadline
        #expect(h.sent(H.qr).count == 2 && h.router.pendingCount == 0)
        #expect(h.accountingHolds)
    }

    /// The same waiting frames, serviced every 100 ms by one router and once at the end by
    /// another: the same frames come out of both and the counters agree.
    @Test func theOutcomeDoesNotDependOnHowOftenTheTimerRuns() throws {
        let often = try waitingRouter(), once = try waitingRouter()
        let end = often.now + 5 * Self.second
        var sentOften: [[UInt8]] = [], errorsOften: [[UInt8]] = []
        while often.now < end {
            often.now += Self.second / 10
            often.router.service(now: DatapathInstant(nanoseconds: often.now))
            sentOften += often.sent(H.qg)
            errorsOften += often.sent(H.qr)
        }
        once.router.service(now: DatapathInstant(nanoseconds: end))
        #expect(once.sent(H.qg) == sentOften)
        #expect(once.sent(H.qr) == errorsOften)
        #expect(once.router.stats.arpRequestsSent == often.router.stats.arpRequestsSent)
        #expect(once.drops(.neighbourUnreachable) == often.drops(.neighbourUnreachable))
        #expect(once.accountingHolds && often.accountingHolds)
    }
}

/// The connection tracker behind `ct()` after an idle gap: one tick frees every
/// connection that expired, not a bounded handful.
@Suite struct ConntrackExpiryCatchUpTests {
    static let flows = [
        "table=0,priority=100,ip actions=ct(commit,zone=1),NORMAL",
        "table=0,priority=0 actions=NORMAL",
    ]

    @Test func oneTickAfterAGapFreesEveryExpiredConnection() throws {
        let h = try Harness([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
                                                 flows: Self.flows)], frames: 512)
        let a = MACAddress("fa:16:3e:00:00:0a")!, b = MACAddress("fa:16:3e:00:00:0b")!
        for sport in 0..<300 {
            h.send(FrameBuilder().ethernet(source: a, destination: b)
                .ipv4(source: IPv4Address(10, 1, 0, 10), destination: IPv4Address(10, 1, 0, 11))
                .udp(sourcePort: UInt16(10_000 + sport), destinationPort: 53).payload(count: 8).build(), on: "p1")
            _ = h.collect()
        }
        let tracker = try #require(h.datapath.conntrack)
        #expect(tracker.connectionCount == 300)
        // Far past the UDP timeouts, one tick with no traffic.
        h.now += 3_600 * 1_000_000_000
        h.datapath.tick(now: DatapathInstant(nanoseconds: h.now))
        #expect(tracker.connectionCount == 0)
        #expect(h.datapath.conntrackConnections().isEmpty)
        #expect(h.accountingHolds)
    }
}
