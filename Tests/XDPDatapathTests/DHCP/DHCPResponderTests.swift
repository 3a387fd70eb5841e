import Testing
import XDPDatapath
import XDPPacket

/// The responder's answers built with the packet layer and taken apart byte by byte:
/// every option of an offer, the DHCPREQUEST states of RFC 2131 §4.3.2, DHCPINFORM,
/// release/decline, unknown clients, several subnets, limits of the pool and the queue.
@Suite struct DHCPResponderTests {
    typealias H = DHCPHarness
    typealias Message = DHCPClientMessage

    static func octets(_ a: IPv4Address) -> [UInt8] { let o = a.octets; return [o.0, o.1, o.2, o.3] }

    /// The reference design's RFC 3442 routes, encoded by hand: 169.254.169.254/32 via 10.1.0.2,
    /// 10.2.0.0/16 via 10.1.0.1, and the default route via the gateway added.
    static let referenceRoutes: [UInt8] = [32, 169, 254, 169, 254, 10, 1, 0, 2, 16, 10, 2, 10, 1, 0, 1, 0, 10, 1, 0, 1]

    @Test func offerCarriesEveryOptionInOrder() throws {
        let h = try H()
        let reply = try #require(h.exchange(Message().frame).map(DHCPReply.init))
        #expect(reply.ethernetDestination == H.vmMAC)
        #expect(reply.ethernetSource == H.serverMAC)
        #expect(reply.ipSource == H.serverIP)
        #expect(reply.ipDestination == H.vmIP)
        #expect(reply.op == 2)
        #expect(reply.xid == H.xid)
        #expect(reply.flags == 0)
        #expect(reply.ciaddr == .any)
        #expect(reply.yiaddr == H.vmIP)
        #expect(reply.siaddr == .any)
        #expect(reply.giaddr == .any)
        #expect(reply.chaddr == [0xfa, 0x16, 0x3e, 0xaa, 0x00, 0x05] + [UInt8](repeating: 0, count: 10))
        #expect(reply.checksumsHold)
        #expect(reply.frame.count - 42 >= 300)
        let expected: [(UInt8, [UInt8])] = [
            (53, [2]), (54, [10, 1, 0, 3]), (51, [0, 0, 0, 120]), (58, [0, 0, 0, 60]), (59, [0, 0, 0, 105]),
            (1, [255, 255, 255, 0]), (28, [10, 1, 0, 255]), (3, [10, 1, 0, 1]), (6, [8, 8, 8, 8, 8, 8, 4, 4]),
            (15, Array("openstacklocal".utf8)), (12, Array("host-10-1-0-5".utf8)), (26, [0x05, 0xAA]),
            (121, Self.referenceRoutes), (249, Self.referenceRoutes),
        ]
        #expect(reply.options.map(\.0) == expected.map(\.0))
        for (code, data) in expected { #expect(reply.option(code) == data, "option \(code)") }
        #expect(h.server.stats.discovers == 1)
        #expect(h.server.stats.offers == 1)
        #expect(h.accountingHolds)
    }

    @Test func broadcastFlagMakesTheOfferBroadcast() throws {
        let h = try H()
        let reply = try #require(h.exchange(Message(flags: 0x8000).frame).map(DHCPReply.init))
        #expect(reply.ethernetDestination == .broadcast)
        #expect(reply.ipDestination == IPv4Address(255, 255, 255, 255))
        #expect(reply.flags == 0x8000)
        #expect(reply.yiaddr == H.vmIP)
        #expect(reply.checksumsHold)
    }

    @Test func selectingRequestIsAcked() throws {
        let h = try H()
        let reply = try #require(h.exchange(Message(type: .request, requested: H.vmIP, serverID: H.serverIP).frame).map(DHCPReply.init))
        #expect(reply.messageType == 5)
        #expect(reply.yiaddr == H.vmIP)
        #expect(reply.option(51) == [0, 0, 0, 120])
        #expect(reply.option(1) == [255, 255, 255, 0])
        #expect(reply.ipDestination == H.vmIP)
        #expect(h.server.stats.acks == 1)
    }

    @Test func selectingRequestForAnotherAddressIsNaked() throws {
        let h = try H()
        let reply = try #require(h.exchange(Message(type: .request, requested: IPv4Address(10, 1, 0, 99), serverID: H.serverIP).frame)
            .map(DHCPReply.init))
        #expect(reply.messageType == 6)
        #expect(reply.options.map(\.0) == [53, 54])
        #expect(reply.yiaddr == .any)
        #expect(reply.ciaddr == .any)
        #expect(reply.ethernetDestination == .broadcast)
        #expect(reply.ipDestination == IPv4Address(255, 255, 255, 255))
        #expect(reply.checksumsHold)
        #expect(h.server.stats.naks == 1)
    }

    @Test func requestNamingAnotherServerIsIgnored() throws {
        let h = try H()
        #expect(h.exchange(Message(type: .request, requested: H.vmIP, serverID: IPv4Address(10, 1, 0, 4)).frame) == nil)
        #expect(h.drops(.otherServer) == 1)
        #expect(h.server.stats.requests == 1)
        #expect(h.accountingHolds)
    }

    @Test func initRebootIsAckedOrNakedByTheRequestedAddress() throws {
        let h = try H()
        let ack = try #require(h.exchange(Message(type: .request, requested: H.vmIP).frame).map(DHCPReply.init))
        #expect(ack.messageType == 5)
        #expect(ack.yiaddr == H.vmIP)
        // A VM moved from another network asks for its old address.
        let nak = try #require(h.exchange(Message(type: .request, requested: IPv4Address(192, 168, 7, 7)).frame).map(DHCPReply.init))
        #expect(nak.messageType == 6)
        #expect(nak.ipDestination == IPv4Address(255, 255, 255, 255))
    }

    @Test func renewingIsUnicastToCiaddrOrNaked() throws {
        let h = try H()
        let renew = Message(type: .request, ciaddr: H.vmIP, source: H.vmIP, destination: H.serverIP, ethernetDestination: H.serverMAC)
        let ack = try #require(h.exchange(renew.frame).map(DHCPReply.init))
        #expect(ack.messageType == 5)
        #expect(ack.ciaddr == H.vmIP)
        #expect(ack.yiaddr == H.vmIP)
        #expect(ack.ipDestination == H.vmIP)
        #expect(ack.ethernetDestination == H.vmMAC)
        // Rebinding (broadcast) with an address that is not the host's.
        let rebind = Message(type: .request, ciaddr: IPv4Address(10, 1, 0, 77), source: IPv4Address(10, 1, 0, 77))
        let nak = try #require(h.exchange(rebind.frame).map(DHCPReply.init))
        #expect(nak.messageType == 6)
        #expect(nak.ethernetDestination == .broadcast)
    }

    @Test func requestInNoStateIsRefused() throws {
        let h = try H()
        #expect(h.exchange(Message(type: .request).frame) == nil)
        #expect(h.exchange(Message(type: .request, serverID: H.serverIP).frame) == nil)
        #expect(h.drops(.badRequest) == 2)
        #expect(h.accountingHolds)
    }

    @Test func informIsAckedWithoutLease() throws {
        let h = try H()
        let inform = Message(type: .inform, ciaddr: H.vmIP, source: H.vmIP)
        let reply = try #require(h.exchange(inform.frame).map(DHCPReply.init))
        #expect(reply.messageType == 5)
        #expect(reply.yiaddr == .any)
        #expect(reply.ciaddr == H.vmIP)
        #expect(reply.ipDestination == H.vmIP)
        #expect(reply.options.map(\.0) == [53, 54, 1, 28, 3, 6, 15, 12, 26, 121, 249])
        #expect(reply.checksumsHold)
        // Without ciaddr there is nowhere to unicast: broadcast.
        let anonymous = try #require(h.exchange(Message(type: .inform).frame).map(DHCPReply.init))
        #expect(anonymous.ipDestination == IPv4Address(255, 255, 255, 255))
        #expect(h.server.stats.informs == 2)
    }

    @Test func releaseAndDeclineAreCountedNotAnswered() throws {
        let h = try H()
        #expect(h.exchange(Message(type: .release, ciaddr: H.vmIP, serverID: H.serverIP, source: H.vmIP, destination: H.serverIP,
                                   ethernetDestination: H.serverMAC).frame) == nil)
        #expect(h.exchange(Message(type: .decline, requested: H.vmIP, serverID: H.serverIP).frame) == nil)
        let s = h.server.stats
        #expect(s.releases == 1)
        #expect(s.declines == 1)
        #expect(s.totalDrops == 0)
        #expect(s.sent == 0)
        #expect(h.pool.freeCount == h.pool.frameCount)
    }

    @Test func unknownClientsGetNothing() throws {
        let h = try H()
        for type in [DHCPMessageType.discover, .request, .inform] {
            #expect(h.exchange(Message(type: type, mac: H.strangerMAC, requested: H.vmIP).frame) == nil)
        }
        #expect(h.drops(.unknownClient) == 3)
        #expect(h.server.lease(for: H.strangerMAC) == nil)
        #expect(h.server.lease(for: H.vmMAC) == H.vmIP)
        #expect(h.accountingHolds)
    }

    static func twoSubnets(_ tweak: (inout DHCPConfiguration) -> Void = { _ in }) -> DHCPConfiguration {
        H.reference {
            $0.subnets.append(.init(name: "subnet2", cidr: IPv4Prefix("10.9.0.0/28")!, serverAddress: IPv4Address(10, 9, 0, 2)))
            $0.subnets.append(.init(name: "subnet3", cidr: IPv4Prefix("10.8.0.0/24")!, serverAddress: IPv4Address(10, 8, 0, 2),
                                    enableDHCP: false))
            $0.hosts.append(.init(mac: MACAddress("fa:16:3e:aa:00:06")!, address: IPv4Address(10, 9, 0, 6), hostname: "web"))
            $0.hosts.append(.init(mac: MACAddress("fa:16:3e:aa:00:07")!, address: IPv4Address(10, 8, 0, 7)))
            tweak(&$0)
        }
    }

    @Test func eachHostGetsItsSubnetsOptions() throws {
        let h = try H(Self.twoSubnets())
        let reply = try #require(h.exchange(Message(mac: MACAddress("fa:16:3e:aa:00:06")!).frame).map(DHCPReply.init))
        #expect(reply.ipSource == IPv4Address(10, 9, 0, 2))
        #expect(reply.yiaddr == IPv4Address(10, 9, 0, 6))
        #expect(reply.options.map(\.0) == [53, 54, 51, 58, 59, 1, 28, 15, 12, 26])  // no gateway, DNS or routes
        #expect(reply.option(54) == [10, 9, 0, 2])
        #expect(reply.option(1) == [255, 255, 255, 240])
        #expect(reply.option(28) == [10, 9, 0, 15])
        #expect(reply.option(12) == Array("web".utf8))
        // A renewal unicast to the second subnet's server address is for us too.
        let renew = Message(type: .request, mac: MACAddress("fa:16:3e:aa:00:06")!, ciaddr: IPv4Address(10, 9, 0, 6),
                            source: IPv4Address(10, 9, 0, 6), destination: IPv4Address(10, 9, 0, 2), ethernetDestination: H.serverMAC)
        #expect(h.exchange(renew.frame).map(DHCPReply.init)?.messageType == 5)
        // A server identifier of our own other subnet is still not the host's server.
        #expect(h.exchange(Message(type: .request, mac: MACAddress("fa:16:3e:aa:00:06")!, requested: IPv4Address(10, 9, 0, 6),
                                   serverID: H.serverIP).frame) == nil)
        #expect(h.drops(.otherServer) == 1)
    }

    @Test func hostsOfASubnetWithoutDHCPGetNothing() throws {
        let h = try H(Self.twoSubnets())
        #expect(h.exchange(Message(mac: MACAddress("fa:16:3e:aa:00:07")!).frame) == nil)
        #expect(h.drops(.dhcpDisabled) == 1)
    }

    @Test func optionsFollowTheConfiguration() throws {
        let h = try H(H.reference {
            $0.leaseSeconds = .max
            $0.domain = ""
            $0.mtu = nil
            $0.hosts[0].hostname = ""
            $0.subnets[0].hostRoutes = []
            $0.subnets[0].dnsServers = []
        })
        let reply = try #require(h.exchange(Message().frame).map(DHCPReply.init))
        #expect(reply.options.map(\.0) == [53, 54, 51, 1, 28, 3])
        #expect(reply.option(51) == [255, 255, 255, 255])
        #expect(reply.frame.count == 42 + 300)  // padded to the BOOTP minimum
        #expect(reply.checksumsHold)
    }

    @Test func defaultRouteIsNotAddedTwice() throws {
        let h = try H(H.reference {
            $0.subnets[0].hostRoutes = [.init(destination: IPv4Prefix("0.0.0.0/0")!, nextHop: IPv4Address(10, 1, 0, 9)),
                                        .init(destination: IPv4Prefix("10.1.1.0/24")!, nextHop: .any)]
        })
        let reply = try #require(h.exchange(Message().frame).map(DHCPReply.init))
        #expect(reply.option(121) == [0, 10, 1, 0, 9, 24, 10, 1, 1, 0, 0, 0, 0])
    }

    @Test func clientIdentifierIsEchoedWhenItFits() throws {
        let h = try H()
        let id: [UInt8] = [1, 0xfa, 0x16, 0x3e, 0xaa, 0x00, 0x05]
        let reply = try #require(h.exchange(Message(clientID: id).frame).map(DHCPReply.init))
        #expect(reply.option(61) == id)
        // 255 bytes would push the message past 548 bytes: left out.
        let long = [UInt8](repeating: 7, count: 255)
        let big = try #require(h.exchange(Message(clientID: long).frame).map(DHCPReply.init))
        #expect(big.option(61) == nil)
        #expect(big.frame.count - 42 <= 548)
        #expect(big.checksumsHold)
    }

    @Test func frameWithoutUDPChecksumIsServed() throws {
        let h = try H()
        let frame = FrameBuilder().ethernet(source: H.vmMAC, destination: .broadcast).ipv4(source: .any, destination: IPv4Address(255, 255, 255, 255))
            .udp(sourcePort: 68, destinationPort: 67, checksum: false).payload(Message().payload).build()
        #expect(frame[40] == 0 && frame[41] == 0)
        #expect(h.exchange(frame).map(DHCPReply.init)?.messageType == 2)
    }

    @Test func arpForOtherAddressesIsDropped() throws {
        let h = try H()
        #expect(h.exchange(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.gatewayIP)) == nil)
        #expect(h.drops(.arpNotForServer) == 1)
        #expect(h.server.stats.arpReplies == 0)
    }

    @Test func emptyPoolCountsNoBuffer() throws {
        let pool = FramePool(frameCount: 2)
        let h = try H(pool: pool)
        let held = pool.allocate()!  // the request takes the other frame: none is left for the reply
        #expect(h.exchange(Message().frame) == nil)
        #expect(h.drops(.noBuffer) == 1)
        #expect(pool.freeCount == 1)
        pool.free(held)
    }

    @Test func fullQueueCountsTxQueueFull() throws {
        let h = try H(txQueueCapacity: 1)
        h.send(Message().frame, Message().frame)
        #expect(h.sent().count == 1)
        #expect(h.drops(.txQueueFull) == 1)
        #expect(h.pool.freeCount == h.pool.frameCount)
    }

    @Test func refusedConfigurationsNameTheKey() {
        let cases: [(String, (inout DHCPConfiguration) -> Void)] = [
            ("network", { $0.network = "" }),
            ("mac", { $0.mac = .broadcast }),
            ("subnets", { $0.subnets = [] }),
            ("lease_time", { $0.leaseSeconds = 0 }),
            ("mtu", { $0.mtu = 60 }),
            ("cidr", { $0.subnets[0].cidr = IPv4Prefix("10.1.0.0/31")! }),
            ("server_address", { $0.subnets[0].serverAddress = IPv4Address(10, 1, 0, 255) }),
            ("server_address", { $0.subnets[0].serverAddress = IPv4Address(10, 2, 0, 3) }),
            ("gateway", { $0.subnets[0].gateway = H.serverIP }),
            ("dns_servers", { $0.subnets[0].dnsServers = [IPv4Address(224, 0, 0, 1)] }),
            ("name", { $0.subnets.append($0.subnets[0]) }),
            ("cidr", { $0.subnets.append(.init(name: "b", cidr: IPv4Prefix("10.1.0.128/25")!, serverAddress: IPv4Address(10, 1, 0, 130))) }),
            ("mac", { $0.hosts.append(.init(mac: H.vmMAC, address: IPv4Address(10, 1, 0, 6))) }),
            ("mac", { $0.hosts.append(.init(mac: .zero, address: IPv4Address(10, 1, 0, 6))) }),
            ("address", { $0.hosts.append(.init(mac: H.strangerMAC, address: H.vmIP)) }),
            ("address", { $0.hosts.append(.init(mac: H.strangerMAC, address: IPv4Address(10, 7, 0, 6))) }),
            ("address", { $0.hosts.append(.init(mac: H.strangerMAC, address: H.serverIP)) }),
            ("hostname", { $0.hosts[0].hostname = String(repeating: "h", count: 64) }),
            ("options", { $0.subnets[0].hostRoutes = (0..<14).map { .init(destination: IPv4Prefix(IPv4Address(10, 50, UInt8($0), 0), length: 24)!, nextHop: H.gatewayIP) } }),
        ]
        for (key, tweak) in cases {
            do {
                try H.reference(tweak: tweak).validate()
                Issue.record("accepted a configuration with a bad \(key)")
            } catch {
                #expect(error.key == key, "\(error)")
                #expect(error.element == "net1" || key == "network")
            }
        }
        #expect(throws: Never.self) { try H.reference().validate() }
    }

    @Test func hostsAreReplacedAtRunTime() throws {
        let h = try H()
        let newcomer = DHCPConfiguration.Host(mac: H.strangerMAC, address: IPv4Address(10, 1, 0, 9), hostname: "late")
        #expect(h.exchange(Message(mac: H.strangerMAC).frame) == nil)
        try h.server.updateHosts([newcomer])  // the VM's port deleted, a new one created
        let offer = try #require(h.exchange(Message(mac: H.strangerMAC).frame).map(DHCPReply.init))
        #expect(offer.yiaddr == IPv4Address(10, 1, 0, 9))
        #expect(offer.option(12) == Array("late".utf8))
        #expect(offer.option(121) == Self.referenceRoutes, "subnet options kept")
        #expect(h.exchange(Message().frame) == nil)
        #expect(h.server.lease(for: H.vmMAC) == nil)
        // A refusal changes nothing.
        #expect(throws: DatapathConfigurationError.self) { try h.server.updateHosts([newcomer, newcomer]) }
        #expect(h.server.lease(for: H.strangerMAC) == IPv4Address(10, 1, 0, 9))
        #expect(h.server.configuration.hosts == [newcomer])
        #expect(h.drops(.unknownClient) == 2)
        #expect(h.accountingHolds)
    }

    @Test func poolFramesTooSmallForAReplyGetNoReply() throws {
        let h = try H(pool: FramePool(frameCount: 4, frameSize: 512, headroom: 0))
        #expect(h.exchange(Message().frame) == nil)
        #expect(h.drops(.noBuffer) == 1)
        #expect(h.pool.freeCount == 4)
    }
}
