import Testing
import XDPDatapath
import XDPPacket

/// Two nodes joined by a GRE tunnel: br-int (access port) ↔ patch ↔ br-tun (gre) over an
/// underlay the test carries frames across.
@Suite struct GRETunnelTests {
    @Test func frameCrossesTheTunnelWithAFixedKey() throws {
        let n1 = try Net.node(1), n2 = try Net.node(2)
        let frame = Net.udp()
        n1.send(frame)
        let wire = n1.carry(to: n2)
        // br-int tags the frame with local VLAN 1 toward patch-tun; br-tun's NORMAL keeps
        // the tag on the (trunk) gre port, so it travels inside the tunnel.
        #expect(wire == [Net.gre(Net.tagged(frame, vlan: 1), key: 0x2A)])
        #expect(n2.transmitted("vm") == [frame])
        #expect(n1.port("gre").stats.txPackets == 1)
        #expect(n2.port("gre").stats.rxPackets == 1)
        #expect(n1.underlay.arpRequests == 0, "a static neighbour needs no ARP")
        // And back: B answers A, whose MAC br-int/br-tun on node 2 learned from the tunnel.
        let reply = Net.udp(from: Net.vmB, to: Net.vmA)
        n2.send(reply)
        #expect(n2.carry(to: n1) == [Net.gre(Net.tagged(reply, vlan: 1), key: 0x2A, from: (Net.mac2, Net.ip2), to: (Net.mac1, Net.ip1))])
        #expect(n1.transmitted("vm") == [reply])
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func keyFlowSendsTunIDZeroUnderNormal() throws {
        let n1 = try Net.node(1, key: .flow), n2 = try Net.node(2, key: .flow)
        let frame = Net.udp()
        n1.send(frame)
        #expect(n1.carry(to: n2) == [Net.gre(Net.tagged(frame, vlan: 1), key: 0)])
        #expect(n2.transmitted("vm") == [frame])
        // key=flow accepts any key (it becomes tun_id).
        n2.receiveOnWire([Net.gre(Net.tagged(frame, vlan: 1), key: 7)])
        #expect(n2.transmitted("vm") == [frame])
        // …and an unkeyed packet too, with tun_id 0 (as Open vSwitch's tnl_find).
        n2.receiveOnWire([Net.gre(Net.tagged(frame, vlan: 1), key: nil)])
        #expect(n2.transmitted("vm") == [frame])
        #expect(n2.drops("eth1", .tunnelNoPort) == 0)
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func unkeyedTunnel() throws {
        let n1 = try Net.node(1, key: .none), n2 = try Net.node(2, key: .none)
        let frame = Net.udp()
        n1.send(frame)
        #expect(n1.carry(to: n2) == [Net.gre(Net.tagged(frame, vlan: 1), key: nil)])
        #expect(n2.transmitted("vm") == [frame])
        n2.receiveOnWire([Net.gre(Net.tagged(frame, vlan: 1), key: 0x2A)])
        #expect(n2.drops("eth1", .tunnelNoPort) == 1)
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    // MARK: - ARP on the underlay

    @Test func firstFrameWaitsForARPAndTheReplyReleasesIt() throws {
        let n1 = try Net.node(1, staticNeighbours: false), n2 = try Net.node(2, staticNeighbours: false)
        let first = Net.udp(payload: 20), second = Net.udp(payload: 30)
        n1.send(first)
        let request = n1.wireOut()
        #expect(request == [Net.padded(FrameBuilder.arpRequest(senderMAC: Net.mac1, senderIP: Net.ip1, targetIP: Net.ip2))])
        #expect(request.first?.count == 60)
        #expect(n1.underlay.pendingCount == 1 && n1.underlay.arpRequests == 1)
        #expect(n1.accountingHolds)
        n1.send(second)
        #expect(n1.wireOut().isEmpty, "one request per second per next hop")
        #expect(n1.underlay.pendingCount == 2)

        // Node 2 answers (and learns node 1 from the request).
        n2.receiveOnWire(request)
        let reply = n2.wireOut()
        #expect(reply == [Net.padded(FrameBuilder.arpReply(senderMAC: Net.mac2, senderIP: Net.ip2, targetMAC: Net.mac1, targetIP: Net.ip1))])
        #expect(reply.first?.count == 60, "padded to the Ethernet minimum")
        #expect(n2.underlay.neighbourTable[Net.ip1] == Net.mac1)
        #expect(n2.underlay.arpReplies == 1)

        // The reply releases both waiting frames, in order, with the learned MAC.
        n1.receiveOnWire(reply)
        #expect(n1.underlay.pendingCount == 0)
        #expect(n1.underlay.neighbourTable[Net.ip2] == Net.mac2)
        let released = n1.carry(to: n2)
        #expect(released == [Net.gre(Net.tagged(first, vlan: 1), key: 0x2A), Net.gre(Net.tagged(second, vlan: 1), key: 0x2A)])
        #expect(n2.transmitted("vm") == [first, second])
        // Node 2 learned node 1 from the request: its answer needs no ARP.
        n2.send(Net.udp(from: Net.vmB, to: Net.vmA))
        #expect(n2.carry(to: n1).count == 1 && n2.underlay.arpRequests == 0)
        #expect(n1.transmitted("vm").count == 1)
        #expect(n1.accountingHolds && n2.accountingHolds)
    }

    @Test func arpRequestsAreRateLimitedToOnePerSecond() throws {
        let n1 = try Net.node(1, staticNeighbours: false)
        n1.send(Net.udp())
        #expect(n1.wireOut().count == 1)
        n1.now += 500_000_000
        n1.send(Net.udp())
        #expect(n1.wireOut().isEmpty, "0.5 s later: no new request")
        n1.now += 600_000_000
        n1.send(Net.udp())
        let again = n1.wireOut()
        #expect(again == [Net.padded(FrameBuilder.arpRequest(senderMAC: Net.mac1, senderIP: Net.ip1, targetIP: Net.ip2))],
                "1.1 s after the first: asked again")
        #expect(n1.underlay.arpRequests == 2 && n1.underlay.pendingCount == 3)
        #expect(n1.accountingHolds)
    }

    @Test func waitingFramesAreBoundedByPendingLimit() throws {
        let n1 = try Net.node(1, staticNeighbours: false, pendingLimit: 2)
        for i in 0..<5 { n1.send(Net.udp(payload: 20 + i)) }
        #expect(n1.wireOut().count == 1, "one ARP request")
        #expect(n1.underlay.pendingCount == 2)
        #expect(n1.drops("eth1", .tunnelPendingFull) == 3)
        #expect(n1.accountingHolds)
        // The answer releases the two that waited (the first two).
        n1.receiveOnWire([FrameBuilder.arpReply(senderMAC: Net.mac2, senderIP: Net.ip2, targetMAC: Net.mac1, targetIP: Net.ip1)])
        let released = n1.wireOut()
        #expect(released == [Net.gre(Net.tagged(Net.udp(payload: 20), vlan: 1), key: 0x2A),
                             Net.gre(Net.tagged(Net.udp(payload: 21), vlan: 1), key: 0x2A)])
        #expect(n1.underlay.pendingCount == 0 && n1.accountingHolds)
    }

    @Test func zeroPendingLimitDropsUntilResolved() throws {
        let n1 = try Net.node(1, staticNeighbours: false, pendingLimit: 0)
        n1.send(Net.udp())
        #expect(n1.drops("eth1", .tunnelPendingFull) == 1)
        #expect(n1.underlay.pendingCount == 0)
        #expect(n1.accountingHolds)
    }

    @Test func remoteOffSubnetGoesThroughTheGateway() throws {
        let remote = IPv4Address(172, 17, 0, 2)
        let node = try TunnelNode(underlay: Net.underlay(1, static: false, gateway: Net.gateway),
                                  gre: ["gre": GREOptions(remoteIP: remote, key: .fixed(5))])
        let frame = Net.udp()
        node.send(frame)
        #expect(node.wireOut() == [Net.padded(FrameBuilder.arpRequest(senderMAC: Net.mac1, senderIP: Net.ip1, targetIP: Net.gateway))])
        node.receiveOnWire([FrameBuilder.arpReply(senderMAC: Net.gatewayMAC, senderIP: Net.gateway, targetMAC: Net.mac1, targetIP: Net.ip1)])
        #expect(node.wireOut() == [Net.gre(Net.tagged(frame, vlan: 1), key: 5, to: (Net.gatewayMAC, remote))],
                "outer MAC of the gateway, outer IP of the remote")
        // Packets from the remote (arriving from the gateway's MAC) decapsulate normally.
        let back = Net.udp(from: Net.vmB, to: Net.vmA)
        node.receiveOnWire([Net.gre(Net.tagged(back, vlan: 1), key: 5, from: (Net.gatewayMAC, remote), to: (Net.mac1, Net.ip1))])
        #expect(node.transmitted("vm") == [back])
        #expect(node.accountingHolds)
    }

    @Test func remoteOffSubnetWithoutGatewayHasNoRoute() throws {
        let node = try TunnelNode(underlay: Net.underlay(1, static: false),
                                  gre: ["gre": GREOptions(remoteIP: IPv4Address(192, 168, 9, 9), key: .fixed(5))])
        node.send(Net.udp())
        #expect(node.wireOut().isEmpty)
        #expect(node.drops("gre", .tunnelNoRoute) == 1)
        #expect(node.accountingHolds)
    }

    @Test func arpNotForUsIsNotAnsweredAndLearnsNothing() throws {
        let n2 = try Net.node(2, staticNeighbours: false)
        n2.receiveOnWire([FrameBuilder.arpRequest(senderMAC: Net.mac1, senderIP: Net.ip1, targetIP: IPv4Address(172, 16, 0, 77))])
        #expect(n2.wireOut().isEmpty)
        #expect(n2.underlay.neighbourTable.isEmpty)
        #expect(n2.drops("eth1", .underlayNotForUs) == 1)
        #expect(n2.accountingHolds)
    }

    @Test func gratuitousARPUpdatesAKnownNeighbourOnly() throws {
        let n1 = try Net.node(1, staticNeighbours: false)
        let moved = MACAddress("02:00:00:00:02:99")!
        let gratuitous = { (mac: MACAddress, ip: IPv4Address) in
            FrameBuilder().ethernet(source: mac, destination: .broadcast)
                .arp(operation: .request, senderMAC: mac, senderIP: ip, targetIP: ip).build()
        }
        n1.receiveOnWire([gratuitous(moved, Net.ip2)])
        #expect(n1.underlay.neighbourTable.isEmpty, "a stranger's announcement adds nothing")
        n1.receiveOnWire([FrameBuilder.arpReply(senderMAC: Net.mac2, senderIP: Net.ip2, targetMAC: Net.mac1, targetIP: Net.ip1)])
        #expect(n1.underlay.neighbourTable[Net.ip2] == Net.mac2)
        n1.receiveOnWire([gratuitous(moved, Net.ip2)])
        #expect(n1.underlay.neighbourTable[Net.ip2] == moved, "RFC 826 merge: a known sender is updated")
        #expect(n1.wireOut().isEmpty, "nothing to answer")
        n1.send(Net.udp())
        #expect(n1.wireOut().first.map { Array($0[0..<6]) } == [0x02, 0, 0, 0, 0x02, 0x99])
        #expect(n1.accountingHolds)
    }

    @Test func staticNeighboursAreNotOverwrittenByARP() throws {
        let n1 = try Net.node(1)
        let spoof = MACAddress("02:00:00:00:66:66")!
        n1.receiveOnWire([FrameBuilder.arpRequest(senderMAC: spoof, senderIP: Net.ip2, targetIP: Net.ip1)])
        #expect(n1.underlay.neighbourTable[Net.ip2] == Net.mac2)
        let reply = n1.wireOut()
        #expect(reply == [Net.padded(FrameBuilder.arpReply(senderMAC: Net.mac1, senderIP: Net.ip1, targetMAC: spoof, targetIP: Net.ip2))],
                "the request is still answered")
        #expect(n1.accountingHolds)
    }

    /// The underlay keeps its neighbours in the routers' bounded cache: ARP requests to
    /// our address from made-up senders fill at most half of it (each still answered),
    /// and the answer to our own request still fits afterwards.
    @Test func anARPFloodFillsHalfTheUnderlaysNeighboursAndOurAnswersStillFit() throws {
        let n1 = try TunnelNode(underlay: Net.underlay(1, static: false, neighbourCapacity: 8),
                                gre: ["gre": GREOptions(remoteIP: Net.ip2, key: .fixed(0x2A))])
        let flood = (0..<20).map { i in
            FrameBuilder.arpRequest(senderMAC: MACAddress(rawValue: 0x0200_0000_7700 + UInt64(i)),
                                    senderIP: IPv4Address(172, 16, 0, UInt8(100 + i)), targetIP: Net.ip1)
        }
        n1.receiveOnWire(flood)
        #expect(n1.wireOut().count == 20, "every request is answered")
        #expect(n1.underlay.neighbourTable.count == 4, "half of 8")
        #expect(n1.underlay.neighbourTableFull == 16)
        n1.send(Net.udp())
        #expect(n1.wireOut() == [Net.padded(FrameBuilder.arpRequest(senderMAC: Net.mac1, senderIP: Net.ip1, targetIP: Net.ip2))])
        n1.receiveOnWire([FrameBuilder.arpReply(senderMAC: Net.mac2, senderIP: Net.ip2, targetMAC: Net.mac1, targetIP: Net.ip1)])
        #expect(n1.underlay.neighbourTable[Net.ip2] == Net.mac2, "the answer we asked for fits past the half")
        #expect(n1.wireOut() == [Net.gre(Net.tagged(Net.udp(), vlan: 1), key: 0x2A)])
        #expect(n1.accountingHolds)
    }

    /// `trace` on the underlay port takes the tunnel stage's way in, as `process` does for
    /// a batch from it: an ARP request for our address is answered there, a GRE frame
    /// comes out of the VM port decapsulated.
    @Test func traceOnTheUnderlayPortEntersTheTunnelStage() throws {
        let n2 = try Net.node(2)
        let wire = n2.port("eth1"), now = DatapathInstant(nanoseconds: n2.now)
        let request = FrameBuilder.arpRequest(senderMAC: Net.mac1, senderIP: Net.ip1, targetIP: Net.ip2)
        let answered = n2.datapath.trace(request, on: wire, now: now)
        #expect(answered.outputs.map(\.0) == ["eth1"])
        #expect(answered.outputs.first?.1 == Net.padded(FrameBuilder.arpReply(senderMAC: Net.mac2, senderIP: Net.ip2,
                                                                             targetMAC: Net.mac1, targetIP: Net.ip1)))
        let inner = Net.udp()
        let carried = n2.datapath.trace(Net.gre(Net.tagged(inner, vlan: 1), key: 0x2A), on: wire, now: now)
        #expect(carried.outputs.map(\.0) == ["vm"] && carried.outputs.first?.1 == inner)
    }

    // MARK: - Decapsulation refusals

    @Test func packetsFromAnUnknownRemoteOrKeyAreCountedNoPort() throws {
        let n2 = try Net.node(2)
        let inner = Net.tagged(Net.udp(), vlan: 1)
        n2.receiveOnWire([
            Net.gre(inner, key: 0x2A, from: (Net.mac1, IPv4Address(172, 16, 0, 9))),  // unknown remote
            Net.gre(inner, key: 0x2B),                                                // wrong key
            Net.gre(inner, key: nil),                                                 // no key on a keyed port
        ])
        #expect(n2.drops("eth1", .tunnelNoPort) == 3)
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.accountingHolds)
    }

    @Test func badGREIsCountedAndDropped() throws {
        let n2 = try Net.node(2)
        let inner = Net.tagged(Net.udp(), vlan: 1)
        n2.receiveOnWire([
            Net.gre(inner, key: 0x2A, flags: 0x4000),                   // R (routing) bit
            Net.gre(inner, key: 0x2A, flags: 0x0800),                   // strict source route
            Net.gre(inner, key: 0x2A, version: 1),                      // version 1 (PPTP)
        ])
        #expect(n2.drops("eth1", .greUnsupportedFlags) == 3)
        n2.receiveOnWire([Net.gre(Array(inner[18...]), key: 0x2A, protocolType: .ipv4)])  // L3 GRE
        #expect(n2.drops("eth1", .greUnsupportedProtocol) == 1)

        // Truncated: the IP packet ends inside the inner Ethernet header / inside the key.
        var short = Net.gre(Array(inner[0..<10]), key: 0x2A)
        #expect(short.count == 52)
        n2.receiveOnWire([short])
        short = Array(Net.gre(inner, key: 0x2A)[0..<40])
        short[16] = 0; short[17] = 26  // IPv4 total length 26: the key is cut off
        short[24] = 0; short[25] = 0
        let checksum = Checksum.internetChecksum(short.withUnsafeBytes { $0.baseAddress! + 14 }, count: 20)
        short[24] = UInt8(checksum >> 8); short[25] = UInt8(checksum & 0xFF)
        n2.receiveOnWire([Net.padded(short)])
        #expect(n2.drops("eth1", .greMalformed) + n2.drops("eth1", .truncatedL4) == 2)
        // Not GRE, or GRE not to our address.
        n2.receiveOnWire([Net.udp(), Net.gre(inner, key: 0x2A, to: (Net.mac2, IPv4Address(172, 16, 0, 3)))])
        #expect(n2.drops("eth1", .underlayNotForUs) == 2)
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.port("eth1").stats.rxPackets == 8)
        #expect(n2.accountingHolds)
    }

    /// The usual GRE frame is decapsulated without a full parse (Datapath+Tunnel.swift);
    /// the frames next to it — padding after the IP packet, a fragment, IP options, an
    /// outer VLAN tag — must come out as the general path decides.
    @Test func decapsulationShortcutAgreesWithTheGeneralPath() throws {
        let n2 = try Net.node(2)
        let frame = Net.udp()
        let gre = Net.gre(Net.tagged(frame, vlan: 1), key: 0x2A)
        // Bytes after the IP packet (Ethernet padding) are not part of the inner frame.
        n2.receiveOnWire([gre + [0xEE, 0xEE, 0xEE, 0xEE]])
        #expect(n2.transmitted("vm") == [frame])
        // IP options (IHL 6): not the shortcut, decapsulated all the same.
        var options = Array(gre[0..<14]) + [0x46] + Array(gre[15..<34]) + [1, 1, 1, 0] + Array(gre[34...])
        let total = Int(options[16]) << 8 | Int(options[17]) + 4
        options[16] = UInt8(total >> 8); options[17] = UInt8(total & 0xFF)
        options[24] = 0; options[25] = 0  // the outer header checksum is verified: make it right
        let sum = options.withUnsafeBytes { Checksum.ipv4Header($0.baseAddress! + 14, headerLength: 24) }
        options[24] = UInt8(sum >> 8); options[25] = UInt8(sum & 0xFF)
        n2.receiveOnWire([options])
        #expect(n2.transmitted("vm") == [frame])
        // A fragment (MF set), and a VLAN-tagged outer frame: not for us.
        var fragment = gre
        fragment[20] |= 0x20
        let tagged = Array(gre[0..<12]) + [0x81, 0x00, 0x00, 0x05] + Array(gre[12...])
        n2.receiveOnWire([fragment, tagged])
        #expect(n2.drops("eth1", .underlayNotForUs) == 2)
        // IP total length beyond the frame: the parser's refusal.
        var long = gre
        long[17] &+= 8
        n2.receiveOnWire([long])
        #expect(n2.drops("eth1", .badIPv4Length) == 1)
        #expect(n2.transmitted("vm").isEmpty)
        #expect(n2.port("eth1").stats.rxPackets == 5)
        #expect(n2.accountingHolds)
    }

    @Test func greWithChecksumIsVerified() throws {
        let n2 = try Net.node(2)
        let frame = Net.udp()
        let good = FrameBuilder()
            .ethernet(source: Net.mac1, destination: Net.mac2)
            .ipv4(source: Net.ip1, destination: Net.ip2, identification: 0, dontFragment: true)
            .gre(key: 0x2A, checksum: true, protocolType: .transparentEthernetBridging)
            .payload(Net.tagged(frame, vlan: 1))
            .build()
        n2.receiveOnWire([good])
        #expect(n2.transmitted("vm") == [frame])
        var bad = good
        bad[bad.count - 1] ^= 0xFF
        n2.receiveOnWire([bad])
        #expect(n2.drops("eth1", .greMalformed) == 1)
        #expect(n2.accountingHolds)
    }

    @Test func greConfigurationWithoutUnderlayIsRefused() {
        #expect(throws: DatapathConfigurationError.self) {
            _ = try Datapath(configuration: DatapathConfiguration(bridges: [
                BridgeConfiguration(name: "br-tun", ports: [PortConfiguration(name: "gre", type: .gre(GREOptions(remoteIP: Net.ip2)))]),
            ]), pool: FramePool(frameCount: 4), now: .zero)
        }
    }
}
