import Testing
import XDPDatapath
import XDPPacket

/// Forwarding between qr and qg, and the ICMP the router sends.
@Suite struct RouterForwardingTests {
    typealias H = RouterHarness

    /// The VM's datagram leaves by qg toward the external gateway: MACs rewritten, TTL 63,
    /// and the header checksum equal to a full recomputation; nothing else changed.
    @Test func forwardsFromQrToQgWithTTLAndChecksum() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(H.vmUDP(ttl: 64, id: 0x4242, tos: 0x10))
        let out = h.sent(H.qg)
        let expected = FrameBuilder().ethernet(source: H.qgMAC, destination: H.gatewayMAC)
            .ipv4(source: H.vmIP, destination: H.outside, ttl: 63, identification: 0x4242, tos: 0x10)
            .udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build()
        #expect(out == [expected])
        #expect(h.sent(H.qr).isEmpty)
        #expect(h.router.stats.forwarded == 1)
        #expect(h.router.stats.interfaces.map(\.txPackets) == [1, 2])  // + the ARP replies of learnNeighbours
        #expect(h.accountingHolds)
    }

    @Test func forwardsFromQgToAVMOnTheConnectedSubnet() throws {
        let h = try H()
        h.learnNeighbours()
        let inbound = FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
            .ipv4(source: H.outside, destination: H.vmIP, ttl: 50, identification: 3, dontFragment: true)
            .tcp(sourcePort: 443, destinationPort: 50000, flags: [.syn, .ack]).build()
        h.send(inbound, on: H.qg)
        let expected = FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
            .ipv4(source: H.outside, destination: H.vmIP, ttl: 49, identification: 3, dontFragment: true)
            .tcp(sourcePort: 443, destinationPort: 50000, flags: [.syn, .ack]).build()
        #expect(h.sent(H.qr) == [expected])
    }

    /// RFC 1624 against recomputation over many headers: every TTL, ids, TOS, DF, options.
    @Test func incrementalChecksumMatchesRecomputation() throws {
        let h = try H()
        h.learnNeighbours()
        var rng = SystemRandomNumberGenerator()
        for ttl in 2...255 {
            let options: [UInt8] = Bool.random(using: &rng) ? [] : [0x94, 0x04, 0x00, 0x00]  // router alert
            let frame = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
                .ipv4(source: H.vmIP, destination: IPv4Address(rawValue: UInt32.random(in: 0x0B00_0000...0x7EFF_FFFF, using: &rng)),
                      ttl: UInt8(ttl), identification: UInt16.random(in: 0...0xFFFF, using: &rng),
                      tos: UInt8.random(in: 0...255, using: &rng), dontFragment: Bool.random(using: &rng), options: options)
                .udp(sourcePort: 1, destinationPort: 2).payload(count: Int.random(in: 0...64, using: &rng)).build()
            h.send(frame)
            let out = try #require(h.sent(H.qg).first, "TTL \(ttl): \(h.router.stats.drops)")
            #expect(out[22] == UInt8(ttl - 1))
            var recomputed = out
            let stored = out.routerBE16(24)
            recomputed[24] = 0; recomputed[25] = 0
            let full = recomputed.withUnsafeBytes { Checksum.ipv4Header($0.baseAddress! + 14, headerLength: Int(out[14] & 0x0F) * 4) }
            #expect(stored == full, "TTL \(ttl)")
            #expect(Array(out[14...]).count == frame.count - 14)
        }
    }

    @Test func pingOfTheRouterAddressesIsAnswered() throws {
        let h = try H()
        h.learnNeighbours()
        for target in [H.qrIP, H.qgIP] {  // the qg address answers from inside too (weak host, as Linux)
            h.send(H.vmPing(to: target, sequence: 7))
            let expected = FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
                .ipv4(source: target, destination: H.vmIP, ttl: 64, identification: 99)
                .icmpEcho(identifier: 0x1234, sequence: 7, reply: true).payload(count: 56).build()
            #expect(h.sent(H.qr) == [expected])
        }
        // From outside, the reply goes back through the default route's gateway.
        h.send(FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
            .ipv4(source: H.outside, destination: H.qgIP, ttl: 57, identification: 5)
            .icmpEcho(identifier: 1, sequence: 2).payload(count: 8).build(), on: H.qg)
        let expected = FrameBuilder().ethernet(source: H.qgMAC, destination: H.gatewayMAC)
            .ipv4(source: H.qgIP, destination: H.outside, ttl: 64, identification: 5)
            .icmpEcho(identifier: 1, sequence: 2, reply: true).payload(count: 8).build()
        #expect(h.sent(H.qg) == [expected + [UInt8](repeating: 0, count: 10)])  // padded to 60
        #expect(h.router.stats.echoReplies == 3)
        #expect(h.accountingHolds)
    }

    @Test func pingWithIPOptionsIsAnsweredWithoutThem() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: H.qrIP, identification: 8, options: [0x94, 0x04, 0, 0])
            .icmpEcho(identifier: 3, sequence: 4).payload(count: 20).build())
        let expected = FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
            .ipv4(source: H.qrIP, destination: H.vmIP, ttl: 64, identification: 8)
            .icmpEcho(identifier: 3, sequence: 4, reply: true).payload(count: 20).build()
        #expect(h.sent(H.qr) == [expected])
    }

    @Test func shortEchoRepliesArePaddedTo60Bytes() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: H.qrIP, identification: 2).icmpEcho(identifier: 9, sequence: 9).build())
        let expected = FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
            .ipv4(source: H.qrIP, destination: H.vmIP, ttl: 64, identification: 2)
            .icmpEcho(identifier: 9, sequence: 9, reply: true).build()
        #expect(h.sent(H.qr) == [expected + [UInt8](repeating: 0, count: 60 - expected.count)])
    }

    @Test func subnetNetworkAndBroadcastAddressesAreNotForwarded() throws {
        let h = try H()
        h.learnNeighbours()
        for destination in [IPv4Address(10, 1, 0, 0), IPv4Address(10, 1, 0, 255), IPv4Address(172, 24, 4, 239),
                            IPv4Address(255, 255, 255, 255)] {
            h.send(FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
                .ipv4(source: H.outside, destination: destination).udp(sourcePort: 1, destinationPort: 2).build(), on: H.qg)
        }
        #expect(h.sent(H.qr).isEmpty && h.sent(H.qg).isEmpty)
        #expect(h.drops(.martianDestination) == 4 && h.router.stats.arpRequestsSent == 0)
    }

    @Test func badEchoChecksumIsDropped() throws {
        let h = try H()
        h.learnNeighbours()
        var ping = H.vmPing(to: H.qrIP)
        ping[40] ^= 0xFF  // inside the ICMP checksum
        h.send(ping)
        #expect(h.sent(H.qr).isEmpty && h.drops(.badICMPChecksum) == 1)
    }

    /// TTL 1: time exceeded from the qr address, quoting the datagram as received.
    @Test func expiringTTLIsAnsweredWithTimeExceeded() throws {
        let h = try H()
        h.learnNeighbours()
        let original = H.vmUDP(ttl: 1, id: 77)
        h.send(original)
        #expect(h.sent(H.qg).isEmpty)
        let expected = FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
            .ipv4(source: H.qrIP, destination: H.vmIP, ttl: 64, identification: 0, tos: 0xC0)
            .icmp(type: .timeExceeded, code: 0).payload(original.routerIPPacket).build()
        #expect(h.sent(H.qr) == [expected])
        #expect(h.drops(.ttlExceeded) == 1 && h.router.stats.icmpErrorsSent == 1)
        // TTL 0 too; an ICMP error with TTL 1 gets no error back.
        h.send(H.vmUDP(ttl: 0))
        #expect(h.sent(H.qr).count == 1)
        h.send(FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: H.outside, ttl: 1)
            .icmp(type: .destinationUnreachable, code: 3).payload(Array(original.routerIPPacket.prefix(28))).build())
        #expect(h.sent(H.qr).isEmpty && h.drops(.ttlExceeded) == 3)
        #expect(h.accountingHolds)
    }

    @Test func longDatagramsAreQuotedWithin576Bytes() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(H.vmUDP(ttl: 1, payload: 1200))
        let error = try #require(h.sent(H.qr).first)
        #expect(error.count == 14 + 576 && error.routerBE16(16) == 576 && error.routerChecksumsVerify)
    }

    @Test func noRouteIsAnsweredWithNetUnreachable() throws {
        let h = try H(H.reference(gateway: nil))
        h.learnNeighbours()
        let original = H.vmUDP(to: IPv4Address(198, 51, 100, 7), id: 12)
        h.send(original)
        let expected = FrameBuilder().ethernet(source: H.qrMAC, destination: H.vmMAC)
            .ipv4(source: H.qrIP, destination: H.vmIP, ttl: 64, identification: 0, tos: 0xC0)
            .icmp(type: .destinationUnreachable, code: ICMPType.Code.netUnreachable).payload(original.routerIPPacket).build()
        #expect(h.sent(H.qr) == [expected])
        #expect(h.drops(.noRoute) == 1)
    }

    @Test func tooBigWithDFIsAnsweredWithFragmentationNeeded() throws {
        let h = try H(H.reference(qgMTU: 1400))
        h.learnNeighbours()
        h.send(H.vmUDP(dontFragment: true, payload: 1400))
        #expect(h.sent(H.qg).isEmpty)
        let error = try #require(h.sent(H.qr).first)
        #expect(error[34] == 3 && error[35] == 4 && error.routerBE16(40) == 1400 && error.routerChecksumsVerify)
        h.send(H.vmUDP(dontFragment: false, payload: 1400))
        #expect(h.sent(H.qr).isEmpty && h.drops(.mtuExceeded) == 2)
        h.send(H.vmUDP(dontFragment: true, payload: 1400 - 28))  // exactly the MTU
        #expect(h.sent(H.qg).count == 1)
    }

    @Test func udpToTheRouterGetsPortUnreachableAndTCPIsDropped() throws {
        let h = try H()
        h.learnNeighbours()
        h.send(H.vmUDP(to: H.qrIP))
        let error = try #require(h.sent(H.qr).first)
        #expect(error[34] == 3 && error[35] == 3 && error.routerChecksumsVerify)
        h.send(FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC).ipv4(source: H.vmIP, destination: H.qrIP)
            .tcp(sourcePort: 5, destinationPort: 22).build())
        #expect(h.sent(H.qr).isEmpty && h.drops(.notHandledLocally) == 2)
    }

    @Test func icmpErrorsAreRateLimited() throws {
        let h = try H(H.reference { $0.icmpErrorBurst = 2; $0.icmpErrorsPerSecond = 10 })
        h.learnNeighbours()
        h.send(H.vmUDP(ttl: 1), H.vmUDP(ttl: 1), H.vmUDP(ttl: 1))
        #expect(h.sent(H.qr).count == 2)
        #expect(h.router.stats.icmpErrorsRateLimited == 1)
        h.now += 100_000_000  // 0.1 s at 10/s: one token
        h.send(H.vmUDP(ttl: 1), H.vmUDP(ttl: 1))
        #expect(h.sent(H.qr).count == 1)
        #expect(h.drops(.ttlExceeded) == 5)
    }

    /// `router-update --routes` and `router-gateway-clear` at run time: neighbours stay,
    /// a refused update changes nothing.
    @Test func routesAreReplacedAtRunTime() throws {
        let h = try H()
        h.learnNeighbours()
        let hop = IPv4Address(10, 1, 0, 254)
        let extra = RouterConfiguration.Route(prefix: IPv4Prefix("192.168.50.0/24")!, nextHop: hop)
        try h.router.updateRoutes([extra], defaultGateway: H.gatewayIP)
        #expect(h.router.route(to: IPv4Address(192, 168, 50, 1))?.nextHop == hop)
        #expect(h.router.configuration.routes == [extra])
        #expect(throws: DatapathConfigurationError.self) {
            try h.router.updateRoutes([.init(prefix: IPv4Prefix("10.9.0.0/16")!, nextHop: IPv4Address(192, 0, 2, 1))], defaultGateway: nil)
        }
        #expect(h.router.routes.count == 4 && h.router.configuration.defaultGateway == H.gatewayIP)
        h.send(H.vmUDP())
        #expect(h.sent(H.qg).count == 1)  // still via the known gateway, no new ARP
        try h.router.updateRoutes([], defaultGateway: nil)
        h.send(H.vmUDP())
        #expect(h.sent(H.qg).isEmpty && h.drops(.noRoute) == 1)
        #expect(h.sent(H.qr).first?[34] == 3)  // net unreachable
        #expect(h.router.neighbourTable.count == 2 && h.router.stats.arpRequestsSent == 0)
        #expect(h.accountingHolds)
    }

    /// Static routes: the gateway of a route on the tenant side.
    @Test func staticRouteNextHopIsResolvedOnItsInterface() throws {
        let hop = IPv4Address(10, 1, 0, 254)
        let hopMAC = MACAddress("fa:16:3e:cc:00:fe")!
        let h = try H(H.reference(routes: [.init(prefix: IPv4Prefix("192.168.50.0/24")!, nextHop: hop)]))
        h.learnNeighbours()
        h.send(FrameBuilder.arpRequest(senderMAC: hopMAC, senderIP: hop, targetIP: H.qrIP))
        _ = h.sent(H.qr)
        h.send(FrameBuilder().ethernet(source: H.gatewayMAC, destination: H.qgMAC)
            .ipv4(source: H.outside, destination: IPv4Address(192, 168, 50, 3)).udp(sourcePort: 1, destinationPort: 2).build(), on: H.qg)
        let out = try #require(h.sent(H.qr).first)
        #expect(Array(out[0..<6]) == H.macBytes(hopMAC) && Array(out[6..<12]) == H.macBytes(H.qrMAC))
    }
}
