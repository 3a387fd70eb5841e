import Testing
import XDPDatapath
import XDPPacket

/// The reference design's network node, told as a story: a VM on 10.1.0.0/24 pings the external
/// gateway host 172.24.4.225 through router1 (no NAT yet), then traceroutes toward it.
@Suite struct RouterReferenceScenarioTests {
    typealias H = RouterHarness

    @Test func vmPingsTheExternalGatewayThroughTheRouter() throws {
        let h = try H()
        // The VM resolves its gateway 10.1.0.1.
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP))
        let arpReply = try #require(h.sent(H.qr).first)
        #expect(Array(arpReply[22..<28]) == H.macBytes(H.qrMAC))  // sender hardware address: the qr MAC
        // Echo to 172.24.4.225: the router must resolve it on qg first.
        let ping = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: H.gatewayIP, ttl: 64, identification: 1000)
            .icmpEcho(identifier: 77, sequence: 1).payload(count: 56).build()
        h.send(ping)
        let whoHas = try #require(h.sent(H.qg).first)
        #expect(whoHas == RouterARPTests.padded(FrameBuilder.arpRequest(senderMAC: H.qgMAC, senderIP: H.qgIP, targetIP: H.gatewayIP)))
        #expect(h.router.pendingCount == 1)
        // The external host answers; the echo goes out.
        h.now += 300_000
        h.send(FrameBuilder.arpReply(senderMAC: H.gatewayMAC, senderIP: H.gatewayIP, targetMAC: H.qgMAC, targetIP: H.qgIP), on: H.qg)
        let forwarded = try #require(h.sent(H.qg).first)
        #expect(forwarded == FrameBuilder().ethernet(source: H.qgMAC, destination: H.gatewayMAC)
            .ipv4(source: H.vmIP, destination: H.gatewayIP, ttl: 63, identification: 1000)
            .icmpEcho(identifier: 77, sequence: 1).payload(count: 56).build())
        // Its reply comes back to the VM.
        h.send(FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
            .ipv4(source: H.gatewayIP, destination: H.vmIP, ttl: 64, identification: 2000)
            .icmpEcho(identifier: 77, sequence: 1, reply: true).payload(count: 56).build(), on: H.qg)
        #expect(h.sent(H.qr) == [FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
            .ipv4(source: H.gatewayIP, destination: H.vmIP, ttl: 63, identification: 2000)
            .icmpEcho(identifier: 77, sequence: 1, reply: true).payload(count: 56).build()])
        // traceroute -U 172.24.4.225: hop 1 is the router's qr address, hop 2 the host.
        h.send(H.vmUDP(to: H.gatewayIP, ttl: 1, id: 1))
        let hop1 = try #require(h.sent(H.qr).first)
        #expect(Array(hop1[26..<30]) == [10, 1, 0, 1] && hop1[34] == 11 && hop1.routerChecksumsVerify)
        h.send(H.vmUDP(to: H.gatewayIP, ttl: 2, id: 2))
        let hop2 = try #require(h.sent(H.qg).first)
        #expect(hop2[22] == 1 && hop2.routerChecksumsVerify)
        let stats = h.router.stats
        #expect(stats.forwarded == 3 && stats.arpRequestsSent == 1 && stats.arpRepliesSent == 1 && stats.icmpErrorsSent == 1)
        #expect(stats.drops == [.ttlExceeded: 1])
        #expect(stats.interfaces.map(\.rxPackets) == [4, 2] && stats.interfaces.map(\.txPackets) == [3, 3])
        #expect(h.router.neighbourTable == [H.vmIP: H.vmMAC, H.gatewayIP: H.gatewayMAC])
        #expect(h.accountingHolds)
    }
}
