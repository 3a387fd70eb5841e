import Testing
import XDPDatapath
import XDPPacket

/// The reference design's router with NAT: VM 10.1.0.5 behind qr 10.1.0.1/24, gateway qg
/// 172.24.4.227/28, floating IP 172.24.4.228 → 10.1.0.5, external host 172.24.4.225.
/// Every frame the router sends is compared byte for byte with the frame the packet layer
/// builds with the expected addresses (its checksums computed in full).
@Suite struct RouterNATTests {
    typealias H = RouterHarness
    static let fip = IPv4Address(172, 24, 4, 228)
    static let ext = H.gatewayIP                   // 172.24.4.225, the external host
    static let vm2IP = IPv4Address(10, 1, 0, 6)
    static let vm2MAC = MACAddress("fa:16:3e:aa:00:06")!
    static let proxy = IPv4Address(172, 24, 4, 226)
    static let proxyMAC = MACAddress("02:42:ac:18:04:e2")!

    static func natSeed(snat: RouterConfiguration.SNAT = .init(), floating: Bool = true,
                        tweak: (inout RouterConfiguration) -> Void = { _ in }) -> RouterConfiguration {
        H.reference {
            $0.snat = snat
            if floating { $0.floatingIPs = [.init(floating: fip, fixed: H.vmIP)] }
            tweak(&$0)
        }
    }

    // Frames as they arrive and as they must leave.
    static func onQR(from mac: MACAddress = H.vmMAC) -> FrameBuilder { FrameBuilder().ethernet(source: mac, destination: H.qrMAC) }
    static func onQG(from mac: MACAddress = H.gatewayMAC) -> FrameBuilder { FrameBuilder().ethernet(source: mac, destination: H.qgMAC) }
    static func outQR(to mac: MACAddress = H.vmMAC) -> FrameBuilder { FrameBuilder().ethernet(source: H.qrMAC, destination: mac) }
    static func outQG(to mac: MACAddress = H.gatewayMAC) -> FrameBuilder { FrameBuilder().ethernet(source: H.qgMAC, destination: mac) }

    static func udp(_ b: FrameBuilder, _ s: IPv4Address, _ d: IPv4Address, _ sp: UInt16, _ dp: UInt16, ttl: UInt8 = 64) -> [UInt8] {
        b.ipv4(source: s, destination: d, ttl: ttl, identification: 7).udp(sourcePort: sp, destinationPort: dp).payload(count: 18).build()
    }

    static func tcp(_ b: FrameBuilder, _ s: IPv4Address, _ d: IPv4Address, _ sp: UInt16, _ dp: UInt16, seq: UInt32,
                    ack: UInt32 = 0, flags: TCPFlags, ttl: UInt8 = 64, payload: Int = 0) -> [UInt8] {
        b.ipv4(source: s, destination: d, ttl: ttl, identification: 9)
            .tcp(sourcePort: sp, destinationPort: dp, sequence: seq, acknowledgment: ack, flags: flags).payload(count: payload).build()
    }

    func harness(_ c: RouterConfiguration = RouterNATTests.natSeed()) throws -> H {
        let h = try H(c)
        h.learnNeighbours()
        return h
    }

    @Test func vmWithoutFloatingIPIsSeenAsTheGatewayAddress() throws {
        let h = try harness(Self.natSeed(floating: false))
        h.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, 40000, 53))
        #expect(h.sent(H.qg) == [Self.udp(Self.outQG(), H.qgIP, Self.ext, 40000, 53, ttl: 63)])
        h.send(Self.udp(Self.onQG(), Self.ext, H.qgIP, 53, 40000), on: H.qg)
        #expect(h.sent(H.qr) == [Self.udp(Self.outQR(), Self.ext, H.vmIP, 53, 40000, ttl: 63)])
        #expect(h.router.conntrack?.sortedConnections().map(\.description) == [
            "udp,orig=(src=10.1.0.5,dst=172.24.4.225,sport=40000,dport=53),reply=(src=172.24.4.225,dst=172.24.4.227,sport=53,dport=40000)",
        ])
        let stats = h.router.stats
        #expect(stats.natTranslated == 2 && stats.natConnectionsCreated == 1 && stats.natConnections == 1)
        #expect(h.accountingHolds)
    }

    @Test func floatingIPTakesPrecedenceOverDefaultSNATOutbound() throws {
        let h = try harness()
        h.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, 40000, 53))
        #expect(h.sent(H.qg) == [Self.udp(Self.outQG(), Self.fip, Self.ext, 40000, 53, ttl: 63)])
    }

    @Test func externalHostReachesTheFloatingIPAndRepliesComeFromIt() throws {
        let h = try harness()
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50000, 22, seq: 100, flags: .syn), on: H.qg)
        #expect(h.sent(H.qr) == [Self.tcp(Self.outQR(), Self.ext, H.vmIP, 50000, 22, seq: 100, flags: .syn, ttl: 63)])
        h.send(Self.tcp(Self.onQR(), H.vmIP, Self.ext, 22, 50000, seq: 900, ack: 101, flags: [.syn, .ack]))
        #expect(h.sent(H.qg) == [Self.tcp(Self.outQG(), Self.fip, Self.ext, 22, 50000, seq: 900, ack: 101, flags: [.syn, .ack], ttl: 63)])
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50000, 22, seq: 101, ack: 901, flags: .ack), on: H.qg)
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50000, 22, seq: 101, ack: 901, flags: [.ack, .psh], payload: 300), on: H.qg)
        #expect(h.sent(H.qr) == [
            Self.tcp(Self.outQR(), Self.ext, H.vmIP, 50000, 22, seq: 101, ack: 901, flags: .ack, ttl: 63),
            Self.tcp(Self.outQR(), Self.ext, H.vmIP, 50000, 22, seq: 101, ack: 901, flags: [.ack, .psh], ttl: 63, payload: 300),
        ])
        #expect(h.router.conntrack?.sortedConnections().map(\.description) == [
            "tcp,orig=(src=172.24.4.225,dst=172.24.4.228,sport=50000,dport=22),reply=(src=10.1.0.5,dst=172.24.4.225,sport=22,dport=50000),protoinfo=(state=ESTABLISHED)",
        ])
        // Out of window: dropped, not leaked untranslated.
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50000, 22, seq: 800_000_000, ack: 901, flags: .ack, payload: 10), on: H.qg)
        #expect(h.sent(H.qr).isEmpty && h.drops(.natInvalid) == 1)
        #expect(h.accountingHolds)
    }

    @Test func theGatewayInterfaceAnswersARPForFloatingIPsOnly() throws {
        let h = try harness()
        h.send(FrameBuilder.arpRequest(senderMAC: H.gatewayMAC, senderIP: Self.ext, targetIP: Self.fip), on: H.qg)
        let reply = try #require(h.sent(H.qg).first)
        #expect(reply == FrameBuilder().ethernet(source: H.qgMAC, destination: H.gatewayMAC)
            .arp(operation: .reply, senderMAC: H.qgMAC, senderIP: Self.fip, targetMAC: H.gatewayMAC, targetIP: Self.ext)
            .payload([UInt8](repeating: 0, count: 18)).build())
        // Not on the tenant side, and not for addresses that are no floating IP.
        h.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: Self.fip))
        h.send(FrameBuilder.arpRequest(senderMAC: H.gatewayMAC, senderIP: Self.ext, targetIP: IPv4Address(172, 24, 4, 230)), on: H.qg)
        #expect(h.sent(H.qr).isEmpty && h.sent(H.qg).isEmpty)
    }

    @Test func hairpinToAFloatingIPFromTheSameSubnet() throws {
        let h = try harness()
        h.send(FrameBuilder.arpRequest(senderMAC: Self.vm2MAC, senderIP: Self.vm2IP, targetIP: H.qrIP))
        _ = h.sent(H.qr)
        // VM2 (no floating IP) reaches VM1 by VM1's floating IP: DNAT, then SNAT to the gateway address.
        h.send(Self.tcp(Self.onQR(from: Self.vm2MAC), Self.vm2IP, Self.fip, 33000, 80, seq: 1, flags: .syn))
        let there = try #require(h.sent(H.qr).first)
        let port = there.routerBE16(34)
        #expect(there == Self.tcp(Self.outQR(), H.qgIP, H.vmIP, port, 80, seq: 1, flags: .syn, ttl: 63))
        // VM1 answers the gateway address; VM2 sees the floating IP.
        h.send(Self.tcp(Self.onQR(), H.vmIP, H.qgIP, 80, port, seq: 50, ack: 2, flags: [.syn, .ack]))
        #expect(h.sent(H.qr) == [Self.tcp(Self.outQR(to: Self.vm2MAC), Self.fip, Self.vm2IP, 80, 33000, seq: 50, ack: 2,
                                          flags: [.syn, .ack], ttl: 63)])
        #expect(h.sent(H.qg).isEmpty && h.accountingHolds)
    }

    @Test func icmpErrorAboutATranslatedDatagramIsTranslatedBack() throws {
        let h = try harness(Self.natSeed(floating: false))
        h.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, 40000, 53))
        let translated = try #require(h.sent(H.qg).first)
        // The external host answers port unreachable to the gateway address.
        h.send(Self.onQG().ipv4(source: Self.ext, destination: H.qgIP).icmp(type: .destinationUnreachable, code: 3)
            .payload(Array(translated[14..<(14 + 28)])).build(), on: H.qg)
        let error = try #require(h.sent(H.qr).first)
        // What the VM sent, as the router forwarded it (TTL 63), untranslated.
        let asSent = Self.udp(Self.outQG(), H.vmIP, Self.ext, 40000, 53, ttl: 63)
        #expect(error == Self.outQR().ipv4(source: Self.ext, destination: H.vmIP, ttl: 63)
            .icmp(type: .destinationUnreachable, code: 3).payload(Array(asSent[14..<(14 + 28)])).build())
        #expect(error.routerChecksumsVerify)
    }

    @Test func fragmentationNeededQuotesThePacketAsSentInBothDirections() throws {
        // Outbound through SNAT, the gateway side's MTU too small: the error goes to the VM
        // and quotes what the VM sent, not the translated packet.
        let h = try harness(Self.natSeed(floating: false) { $0.interfaces[1].mtu = 1400 })
        let big = H.vmUDP(to: Self.ext, dontFragment: true, payload: 1400)
        h.send(big)
        #expect(h.sent(H.qg).isEmpty)
        let quoteLength = 576 - 28
        #expect(h.sent(H.qr) == [Self.outQR().ipv4(source: H.qrIP, destination: H.vmIP, ttl: 64, identification: 0, tos: 0xC0)
            .icmp(type: .destinationUnreachable, code: 4, rest: 1400).payload(Array(big[14..<(14 + quoteLength)])).build()])
        // Inbound replies larger than the tenant side's MTU: the error goes to the external
        // host from the gateway address, quoting the packet addressed to 172.24.4.227.
        let g = try harness(Self.natSeed(floating: false) { $0.interfaces[0].mtu = 1400 })
        g.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, 40000, 53))
        #expect(g.sent(H.qg).count == 1)
        let reply = Self.onQG().ipv4(source: Self.ext, destination: H.qgIP, ttl: 64, identification: 3, dontFragment: true)
            .udp(sourcePort: 53, destinationPort: 40000).payload(count: 1400).build()
        g.send(reply, on: H.qg)
        #expect(g.sent(H.qr).isEmpty)
        #expect(g.sent(H.qg) == [Self.outQG().ipv4(source: H.qgIP, destination: Self.ext, ttl: 64, identification: 0, tos: 0xC0)
            .icmp(type: .destinationUnreachable, code: 4, rest: 1400).payload(Array(reply[14..<(14 + quoteLength)])).build()])
        #expect(g.router.conntrack?.count(.natTranslated) == 2)  // out, in; the restore is not counted
    }

    @Test func portExhaustionDropsAndCounts() throws {
        let h = try harness(Self.natSeed(snat: .init(portMin: 5000, portMax: 5001), floating: false))
        for sp in [UInt16(1), 2, 3] { h.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, sp, 53)) }
        let out = h.sent(H.qg)
        #expect(out.count == 2)
        #expect(Set(out.map { $0.routerBE16(34) }) == [5000, 5001])
        #expect(h.drops(.natExhausted) == 1)
        #expect(h.router.conntrack?.count(.natExhausted) == 1)
        #expect(h.accountingHolds)
    }

    @Test func removingTheFloatingIPCutsItsConnections() throws {
        let h = try harness(Self.natSeed(snat: .disabled))
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50000, 22, seq: 100, flags: .syn), on: H.qg)
        #expect(h.sent(H.qr).count == 1)
        #expect(try h.router.updateFloatingIPs([]) == 1)
        #expect(h.router.conntrack?.connectionCount == 0)
        #expect(h.router.stats.natConnectionsFlushed == 1)
        // The VM's answer no longer comes from the floating IP; inbound no longer reaches the VM.
        h.send(Self.tcp(Self.onQR(), H.vmIP, Self.ext, 22, 50000, seq: 900, ack: 101, flags: [.syn, .ack]))
        #expect(h.sent(H.qg).allSatisfy { $0.routerBE16(26) != 0xAC18 || $0.routerBE16(28) != 0x04E4 })
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50000, 22, seq: 101, ack: 901, flags: .ack), on: H.qg)
        #expect(h.sent(H.qr).isEmpty)
        // Nor is its ARP answered.
        h.send(FrameBuilder.arpRequest(senderMAC: H.gatewayMAC, senderIP: Self.ext, targetIP: Self.fip), on: H.qg)
        #expect(h.sent(H.qg).allSatisfy { $0.routerBE16(12) != 0x0806 || $0.routerBE16(20) != 2 })
        // Associating it again works for new connections.
        try h.router.updateFloatingIPs([.init(floating: Self.fip, fixed: H.vmIP)])
        h.send(Self.tcp(Self.onQG(), Self.ext, Self.fip, 50001, 22, seq: 7, flags: .syn), on: H.qg)
        #expect(h.sent(H.qr) == [Self.tcp(Self.outQR(), Self.ext, H.vmIP, 50001, 22, seq: 7, flags: .syn, ttl: 63)])
    }

    @Test func eastWestTrafficIsNotTranslated() throws {
        let h = try harness(Self.natSeed {
            $0.interfaces.append(.init(name: "qr-second", mac: MACAddress("fa:16:3e:00:00:03")!,
                                       address: IPv4Address(10, 2, 0, 1), prefixLength: 24))
        })
        let other = IPv4Address(10, 2, 0, 7)
        let otherMAC = MACAddress("fa:16:3e:cc:00:07")!
        h.send(FrameBuilder.arpRequest(senderMAC: otherMAC, senderIP: other, targetIP: IPv4Address(10, 2, 0, 1)), on: 2)
        _ = h.sent(2)
        h.send(Self.udp(Self.onQR(), H.vmIP, other, 1000, 2000))
        #expect(h.sent(2) == [Self.udp(FrameBuilder().ethernet(source: MACAddress("fa:16:3e:00:00:03")!, destination: otherMAC),
                                       H.vmIP, other, 1000, 2000, ttl: 63)])
        #expect(h.router.conntrack?.connectionCount == 0)
        // Inbound from outside to a fixed address (routed, not DNAT) is not SNATed either.
        h.send(Self.udp(Self.onQG(), Self.ext, H.vmIP, 1, 2), on: H.qg)
        #expect(h.sent(H.qr) == [Self.udp(Self.outQR(), Self.ext, H.vmIP, 1, 2, ttl: 63)])
        #expect(h.router.conntrack?.connectionCount == 0)
    }

    @Test func metadataIsRedirectedToTheEndpointWithoutSNAT() throws {
        let h = try harness(Self.natSeed { $0.metadata = .init(endpoint: RouterNATTests.proxy) })
        h.send(FrameBuilder.arpRequest(senderMAC: Self.proxyMAC, senderIP: Self.proxy, targetIP: H.qgIP), on: H.qg)
        _ = h.sent(H.qg)
        let md = IPv4Address(169, 254, 169, 254)
        h.send(Self.tcp(Self.onQR(), H.vmIP, md, 45000, 80, seq: 1, flags: .syn))
        #expect(h.sent(H.qg) == [Self.tcp(Self.outQG(to: Self.proxyMAC), H.vmIP, Self.proxy, 45000, 9697, seq: 1, flags: .syn, ttl: 63)])
        h.send(Self.tcp(Self.onQG(from: Self.proxyMAC), Self.proxy, H.vmIP, 9697, 45000, seq: 70, ack: 2, flags: [.syn, .ack]), on: H.qg)
        #expect(h.sent(H.qr) == [Self.tcp(Self.outQR(), md, H.vmIP, 80, 45000, seq: 70, ack: 2, flags: [.syn, .ack], ttl: 63)])
        // Only TCP to port 80 from the inside is redirected.
        h.send(Self.tcp(Self.onQG(), Self.ext, md, 45000, 80, seq: 1, flags: .syn), on: H.qg)
        #expect(h.sent(H.qr).isEmpty)
    }

    @Test func overlappingTenantsTranslateIndependently() throws {
        let pool = FramePool(frameCount: 256)
        let a = try H(Self.natSeed(floating: false), pool: pool)
        let b = try H(Self.natSeed(floating: false) {
            $0.name = "tenant-b"
            $0.interfaces[1].address = IPv4Address(172, 24, 4, 229)
        }, pool: pool)
        a.learnNeighbours()
        b.learnNeighbours()
        b.send(FrameBuilder.arpRequest(senderMAC: H.gatewayMAC, senderIP: Self.ext, targetIP: IPv4Address(172, 24, 4, 229)),
               on: H.qg)
        _ = b.sent(H.qg)
        // The same 10.1.0.5:40000 in both tenants talks to the same external host.
        a.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, 40000, 53))
        b.send(Self.udp(Self.onQR(), H.vmIP, Self.ext, 40000, 53))
        #expect(a.sent(H.qg) == [Self.udp(Self.outQG(), H.qgIP, Self.ext, 40000, 53, ttl: 63)])
        #expect(b.sent(H.qg) == [Self.udp(Self.outQG(), IPv4Address(172, 24, 4, 229), Self.ext, 40000, 53, ttl: 63)])
        // A reply to tenant B's address given to router A finds nothing there.
        a.send(Self.udp(Self.onQG(), Self.ext, IPv4Address(172, 24, 4, 229), 53, 40000), on: H.qg)
        #expect(a.sent(H.qr).isEmpty)
        b.send(Self.udp(Self.onQG(), Self.ext, IPv4Address(172, 24, 4, 229), 53, 40000), on: H.qg)
        #expect(b.sent(H.qr) == [Self.udp(Self.outQR(), Self.ext, H.vmIP, 53, 40000, ttl: 63)])
        #expect(a.router.conntrack?.connectionCount == 1 && b.router.conntrack?.connectionCount == 1)
        for h in [a, b] { for i in 0..<2 { _ = h.sent(i) } }
        #expect(pool.freeCount + a.router.pendingCount + b.router.pendingCount == pool.frameCount)
    }

    @Test func configurationRefusals() {
        func refusal(_ c: RouterConfiguration) -> String? {
            do { try c.validate(); return nil } catch { return error.description }
        }
        #expect(refusal(Self.natSeed { $0.floatingIPs = [.init(floating: IPv4Address(10, 1, 0, 9), fixed: H.vmIP)] })
                == "router1: floating_ips[0]: floating: 10.1.0.9 is on an internal subnet")
        #expect(refusal(Self.natSeed { $0.floatingIPs.append(.init(floating: IPv4Address(172, 24, 4, 230), fixed: H.vmIP)) })
                == "router1: floating_ips[1]: fixed: 10.1.0.5 has two floating IPs")
        #expect(refusal(Self.natSeed { $0.floatingIPs = [.init(floating: RouterNATTests.fip, fixed: IPv4Address(192, 0, 2, 1))] })
                == "router1: floating_ips[0]: fixed: 192.0.2.1 is not a host on an internal subnet of the router")
        #expect(refusal(Self.natSeed(snat: .init(portMin: 100, portMax: 99))) == "router1: snat.ports: expected 1 ≤ min ≤ max ≤ 65535, found 100-99")
        #expect(refusal(Self.natSeed { $0.gatewayInterface = "qg-nope" }) == "router1: gateway_interface: qg-nope is not an interface of the router")
    }
}
