import Testing
import XDPDatapath
import XDPPacket

/// Two tenants with the same 10.1.0.0/24 behind two routers, and hostile input.
@Suite struct RouterIsolationTests {
    typealias H = RouterHarness

    @Test func overlappingTenantsDoNotInterfere() throws {
        let pool = FramePool(frameCount: 256)  // one pool (one UMEM), two routers
        let macA = MACAddress("fa:16:3e:0a:00:01")!
        let macB = MACAddress("fa:16:3e:0b:00:01")!
        let a = try H(H.reference(name: "tenant-a", qrMAC: macA), pool: pool)
        let b = try H(H.reference(name: "tenant-b", qrMAC: macB) {
            $0.interfaces[1].address = IPv4Address(172, 24, 4, 229)
            $0.interfaces[1].mac = MACAddress("fa:16:3e:0b:00:02")!
        }, pool: pool)
        let vmA = MACAddress("fa:16:3e:aa:aa:05")!
        let vmB = MACAddress("fa:16:3e:bb:bb:05")!
        // Each tenant's 10.1.0.5 asks its own gateway 10.1.0.1.
        a.send(FrameBuilder.arpRequest(senderMAC: vmA, senderIP: H.vmIP, targetIP: H.qrIP))
        b.send(FrameBuilder.arpRequest(senderMAC: vmB, senderIP: H.vmIP, targetIP: H.qrIP))
        #expect(a.sent(H.qr).first.map { Array($0[6..<12]) } == H.macBytes(macA))
        #expect(b.sent(H.qr).first.map { Array($0[6..<12]) } == H.macBytes(macB))
        #expect(a.router.neighbourTable == [H.vmIP: vmA])
        #expect(b.router.neighbourTable == [H.vmIP: vmB])
        // Pings of the same address reach each tenant's own VM.
        for (h, vm, gw) in [(a, vmA, macA), (b, vmB, macB)] {
            h.send(FrameBuilder().ethernet(source: vm, destination: gw).ipv4(source: H.vmIP, destination: H.qrIP)
                .icmpEcho(identifier: 1, sequence: 1).build())
            let reply = try #require(h.sent(H.qr).first)
            #expect(Array(reply[0..<6]) == H.macBytes(vm) && Array(reply[6..<12]) == H.macBytes(gw))
        }
        // A frame for tenant A's router MAC given to B is not B's business.
        b.send(FrameBuilder().ethernet(source: vmA, destination: macA).ipv4(source: H.vmIP, destination: H.outside)
            .udp(sourcePort: 1, destinationPort: 2).build())
        #expect(b.drops(.notForRouterMAC) == 1 && a.router.stats.totalDrops == 0)
        // Inbound to 10.1.0.5 through each router reaches that tenant's VM only.
        for (h, vm) in [(a, vmA), (b, vmB)] {
            let qg = h.router.interfaces[H.qg]
            h.send(FrameBuilder().ethernet(source: H.gatewayMAC, destination: qg.mac).ipv4(source: H.outside, destination: H.vmIP)
                .udp(sourcePort: 1, destinationPort: 2).build(), on: H.qg)
            #expect(h.sent(H.qr).first.map { Array($0[0..<6]) } == H.macBytes(vm))
        }
        #expect(a.router.stats.forwarded == 1 && b.router.stats.forwarded == 1)
        #expect(pool.freeCount == pool.frameCount)
    }

    @Test func malformedAndForeignInputIsCountedByReason() throws {
        let h = try H()
        h.learnNeighbours()
        let good = H.vmUDP()
        var badChecksum = good
        badChecksum[24] ^= 0x01
        var longerThanFrame = good
        longerThanFrame[16] = 0x05  // total length 1280+ in a 64-byte frame
        var shortIHL = good
        shortIHL[14] = 0x44
        let tagged = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC).vlan(vid: 1)
            .ipv4(source: H.vmIP, destination: H.outside).udp(sourcePort: 1, destinationPort: 2).build()
        let ipv6 = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv6(source: IPv6Address("fe80::1")!, destination: IPv6Address("2001:db8::1")!).udp(sourcePort: 1, destinationPort: 2).build()
        let otherMAC = FrameBuilder().ethernet(source: H.vmMAC, destination: H.gatewayMAC)
            .ipv4(source: H.vmIP, destination: H.outside).udp(sourcePort: 1, destinationPort: 2).build()
        let martianSource = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: IPv4Address(127, 0, 0, 1), destination: H.outside).udp(sourcePort: 1, destinationPort: 2).build()
        let subnetBroadcast = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: IPv4Address(10, 1, 0, 255)).udp(sourcePort: 1, destinationPort: 2).build()
        let multicast = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: IPv4Address(239, 1, 1, 1)).udp(sourcePort: 1, destinationPort: 2).build()
        let fragmentToRouter = FrameBuilder().ethernet(source: H.vmMAC, destination: H.qrMAC)
            .ipv4(source: H.vmIP, destination: H.qrIP, moreFragments: true).icmpEcho(identifier: 1, sequence: 1).build()
        let badARP = Array(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP).prefix(30))
        h.send(Array(good.prefix(10)), badChecksum, longerThanFrame, shortIHL, tagged, ipv6, otherMAC, martianSource,
               subnetBroadcast, multicast, fragmentToRouter, badARP, Array(good.prefix(40)))
        #expect(h.sent(H.qr).isEmpty && h.sent(H.qg).isEmpty)
        let drops = h.router.stats.drops
        #expect(drops == [.truncatedEthernet: 1, .badIPv4Checksum: 1, .badIPv4Length: 2, .badIPv4Header: 1, .vlanTagged: 1,
                          .unsupportedEtherType: 1, .notForRouterMAC: 1, .martianSource: 1, .martianDestination: 2,
                          .fragmentForRouter: 1, .badARP: 1])
        #expect(h.router.stats.interfaces[H.qr].rxPackets == 13 + 1)  // + the ARP of learnNeighbours
        #expect(h.accountingHolds)
        // Out-of-range interface index: counted, frame returned.
        let start = h.pool.allocate()!
        h.router.receive(address: start + 256, length: 60, meta: PacketMetadata(), on: 9, now: DatapathInstant(nanoseconds: h.now))
        #expect(h.drops(.unknownInterface) == 1 && h.accountingHolds)
    }

    @Test func droppingTheRouterReturnsWaitingFrames() throws {
        let pool = FramePool(frameCount: 64)
        do {
            let h = try H(pool: pool)
            h.send(H.vmUDP(), H.vmUDP())
            #expect(h.router.pendingCount == 2)
            _ = h.sent(H.qg)
        }
        #expect(pool.freeCount == pool.frameCount)
    }
}
