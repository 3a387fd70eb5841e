import Testing
import XDPDatapath
import XDPPacket

/// The reference design's network node in one datapath: br-int with a VM (access VLAN 1) and the
/// router's qr- port (tag 1), br-ex with the external host's port and the qg- port.
/// Frames go in as bytes on a port and come out of the ports' queues.
final class RouterBridgeNode {
    typealias H = RouterHarness
    static let extHostMAC = MACAddress("02:42:ac:18:04:e1")!
    static let extHostIP = IPv4Address(172, 24, 4, 225)

    static func referenceConfiguration(flows: [String] = [], routers: [RouterConfiguration] = [H.reference()]) -> DatapathConfiguration {
        DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "qvo-vm1", ofport: 1, tag: 1),
                PortConfiguration(name: "qr-6a1b2c3d-4e", type: .router, ofport: 2, tag: 1),
            ], flows: flows),
            BridgeConfiguration(name: "br-ex", ports: [
                PortConfiguration(name: "eth-ext"),
                PortConfiguration(name: "qg-7f8e9d0c-1b", type: .router),
            ]),
        ], routers: routers)
    }

    let pool: FramePool
    let datapath: Datapath
    var now: UInt64 = 5_000_000_000

    init(_ configuration: DatapathConfiguration = RouterBridgeNode.referenceConfiguration(), frames: Int = 512) throws {
        pool = FramePool(frameCount: frames)
        datapath = try Datapath(configuration: configuration, pool: pool, now: .zero)
    }

    func port(_ name: String) -> DatapathPort { datapath.port(named: name)! }

    func send(_ frames: [UInt8]..., on name: String) {
        datapath.inject(frames, into: port(name), now: DatapathInstant(nanoseconds: now))
    }

    /// What every port transmitted since the last call, by port name (empty ones omitted).
    func collect() -> [String: [[UInt8]]] {
        var out: [String: [[UInt8]]] = [:]
        for p in datapath.ports {
            let frames = datapath.drainTransmitted(p)
            if !frames.isEmpty { out[p.name] = frames }
        }
        return out
    }

    var accountingHolds: Bool { pool.freeCount + datapath.framesQueued == pool.frameCount }

    static func padded(_ frame: [UInt8]) -> [UInt8] { frame + [UInt8](repeating: 0, count: max(0, 60 - frame.count)) }
}

@Suite struct RouterBridgeTests {
    typealias H = RouterHarness
    typealias N = RouterBridgeNode

    @Test func vmResolvesAndPingsItsGatewayThroughTheBridge() throws {
        let n = try N()
        // The VM asks for its gateway: a broadcast, flooded to the qr- port (tag popped).
        n.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-vm1")
        var out = n.collect()
        #expect(Array(out.keys) == ["qvo-vm1"])
        #expect(out["qvo-vm1"] == [N.padded(FrameBuilder.arpReply(senderMAC: H.qrMAC, senderIP: H.qrIP,
                                                                   targetMAC: H.vmMAC, targetIP: H.vmIP))])
        #expect(n.datapath.routers[0].neighbourTable == [H.vmIP: H.vmMAC])
        // The bridge learned the router's MAC on the qr- port: the echo goes there alone.
        n.send(H.vmPing(to: H.qrIP, sequence: 1), on: "qvo-vm1")
        out = n.collect()
        #expect(Array(out.keys) == ["qvo-vm1"])
        let reply = try #require(out["qvo-vm1"]?.first)
        #expect(reply.count >= 98 && reply.routerBE16(12) == 0x0800, "untagged IPv4 on the access port")
        #expect(Array(reply[0..<6]) == H.vmMAC.bridgeTestBytes && Array(reply[6..<12]) == H.qrMAC.bridgeTestBytes)
        #expect(reply[34] == 0, "echo reply")
        #expect(Array(reply[26..<30]) == H.qrIP.bridgeTestBytes && Array(reply[30..<34]) == H.vmIP.bridgeTestBytes)
        #expect(reply.routerChecksumsVerify)
        #expect(n.port("qr-6a1b2c3d-4e").stats.txPackets == 2, "the port counts what it handed the router")
        #expect(n.port("qr-6a1b2c3d-4e").stats.rxPackets == 2, "and what the router sent into br-int")
        #expect(n.datapath.routers[0].stats.echoReplies == 1)
        #expect(n.accountingHolds)
    }

    @Test func forwardsToTheExternalHostWithTTLAndChecksums() throws {
        let n = try N()
        n.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-vm1")
        _ = n.collect()
        let datagram = H.vmUDP(to: N.extHostIP, ttl: 64)
        n.send(datagram, on: "qvo-vm1")
        // The router asks br-ex for the host; the datagram waits (counted as queued).
        var out = n.collect()
        let request = FrameBuilder.arpRequest(senderMAC: H.qgMAC, senderIP: H.qgIP, targetIP: N.extHostIP)
        #expect(out["eth-ext"] == [N.padded(request)])
        #expect(n.datapath.routers[0].pendingCount == 1 && n.datapath.serviceFramesHeld == 1)
        #expect(n.accountingHolds)
        n.send(FrameBuilder.arpReply(senderMAC: N.extHostMAC, senderIP: N.extHostIP, targetMAC: H.qgMAC, targetIP: H.qgIP),
               on: "eth-ext")
        out = n.collect()
        let forwarded = try #require(out["eth-ext"]?.first)
        #expect(out.count == 1 && out["eth-ext"]?.count == 1)
        #expect(Array(forwarded[0..<6]) == N.extHostMAC.bridgeTestBytes && Array(forwarded[6..<12]) == H.qgMAC.bridgeTestBytes)
        #expect(forwarded[22] == 63, "TTL decremented")
        #expect(forwarded.routerChecksumsVerify)
        var expected = datagram
        expected[22] = 63
        #expect(Array(forwarded[14...]) != Array(datagram[14...]) && forwarded.routerIPPacket.dropFirst(12) == expected.routerIPPacket.dropFirst(12))
        // And back: the external host answers the VM, which the router already knows.
        let back = FrameBuilder().ethernet(source: N.extHostMAC, destination: H.qgMAC)
            .ipv4(source: N.extHostIP, destination: H.vmIP, ttl: 64)
            .udp(sourcePort: 53, destinationPort: 40000).payload(count: 18).build()
        n.send(back, on: "eth-ext")
        out = n.collect()
        let delivered = try #require(out["qvo-vm1"]?.first)
        #expect(out.count == 1 && delivered[22] == 63 && delivered.routerChecksumsVerify)
        #expect(Array(delivered[0..<6]) == H.vmMAC.bridgeTestBytes && delivered.routerBE16(12) == 0x0800)
        #expect(n.datapath.routers[0].pendingCount == 0)
        #expect(n.accountingHolds)
    }

    @Test func traceShowsTheRouterBetweenTheBridges() throws {
        let n = try N()
        n.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-vm1")
        n.send(FrameBuilder.arpRequest(senderMAC: N.extHostMAC, senderIP: N.extHostIP, targetIP: H.qgIP), on: "eth-ext")
        _ = n.collect()
        let trace = n.datapath.trace(H.vmUDP(to: N.extHostIP), on: n.port("qvo-vm1"), now: DatapathInstant(nanoseconds: n.now))
        #expect(trace.description == """
            bridge("br-int")
            ----------------
             no flows: NORMAL

            router("router1")
            -----------------
             received on qr-6a1b2c3d-4e: 10.1.0.5 -> 172.24.4.225 ttl 64, 172.24.4.225 dev qg-7f8e9d0c-1b src 172.24.4.227 lladdr 02:42:ac:18:04:e1

            bridge("br-ex")
            ---------------
             no flows: NORMAL

            Final:
              output to eth-ext: 60 bytes

            """, "\(trace)")
        #expect(n.accountingHolds)
    }

    @Test func timeExceededComesBackToTheVM() throws {
        let n = try N()
        n.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-vm1")
        _ = n.collect()
        n.send(H.vmUDP(to: N.extHostIP, ttl: 1), on: "qvo-vm1")
        let out = n.collect()
        let error = try #require(out["qvo-vm1"]?.first)
        #expect(out.count == 1 && error[23] == 1 && error[34] == 11 && error[35] == 0)
        #expect(Array(error[26..<30]) == H.qrIP.bridgeTestBytes && error.routerChecksumsVerify)
        #expect(n.accountingHolds)
    }

    /// br-int with OpenFlow tables: `output:` to the router port, and a flow that
    /// rewrites the destination MAC to the router's (the metadata must follow).
    @Test func flowsOutputToTheRouterPortAndRewritesReachIt() throws {
        let n = try N(N.referenceConfiguration(flows: [
            "priority=10,in_port=1,dl_dst=fa:16:3e:99:99:99,actions=mod_dl_dst:fa:16:3e:00:00:01,output:2",
            "priority=5,in_port=1,actions=output:2",
            "priority=5,in_port=2,actions=output:1",
        ]))
        n.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-vm1")
        var out = n.collect()
        #expect(out["qvo-vm1"]?.count == 1)
        n.send(H.vmPing(to: H.qrIP), on: "qvo-vm1")
        out = n.collect()
        #expect(out["qvo-vm1"]?.first?[34] == 0)
        let misaddressed = FrameBuilder().ethernet(source: H.vmMAC, destination: MACAddress("fa:16:3e:99:99:99")!)
            .ipv4(source: H.vmIP, destination: H.qrIP, ttl: 64, identification: 5)
            .icmpEcho(identifier: 7, sequence: 2).payload(count: 56).build()
        n.send(misaddressed, on: "qvo-vm1")
        out = n.collect()
        let reply = try #require(out["qvo-vm1"]?.first)
        #expect(reply[34] == 0 && reply.routerChecksumsVerify)
        #expect(n.datapath.routers[0].stats.echoReplies == 2)
        #expect(n.datapath.routers[0].stats.drops.isEmpty)
        #expect(n.accountingHolds)
    }

    @Test func tenantsWithOverlappingSubnetsStayApart() throws {
        let macA = MACAddress("fa:16:3e:0a:00:01")!, macB = MACAddress("fa:16:3e:0b:00:01")!
        let vmA = MACAddress("fa:16:3e:0a:00:05")!, vmB = MACAddress("fa:16:3e:0b:00:05")!
        let routerA = RouterConfiguration(name: "router-a", interfaces: [
            .init(name: "qr-a", mac: macA, address: H.qrIP, prefixLength: 24),
            .init(name: "qg-a", mac: MACAddress("fa:16:3e:0a:00:02")!, address: H.qgIP, prefixLength: 28),
        ], defaultGateway: N.extHostIP)
        let routerB = RouterConfiguration(name: "router-b", interfaces: [
            .init(name: "qr-b", mac: macB, address: H.qrIP, prefixLength: 24),
            .init(name: "qg-b", mac: MACAddress("fa:16:3e:0b:00:02")!, address: IPv4Address(172, 24, 4, 228), prefixLength: 28),
        ], defaultGateway: N.extHostIP)
        let n = try N(DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "qvo-a", tag: 1), PortConfiguration(name: "qr-a", type: .router, tag: 1),
                PortConfiguration(name: "qvo-b", tag: 2), PortConfiguration(name: "qr-b", type: .router, tag: 2),
            ]),
            BridgeConfiguration(name: "br-ex", ports: [
                PortConfiguration(name: "eth-ext"), PortConfiguration(name: "qg-a", type: .router),
                PortConfiguration(name: "qg-b", type: .router),
            ]),
        ], routers: [routerA, routerB]))
        n.send(FrameBuilder.arpRequest(senderMAC: vmA, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-a")
        var out = n.collect()
        #expect(Array(out.keys) == ["qvo-a"] && out["qvo-a"]?.first.map { Array($0[6..<12]) } == macA.bridgeTestBytes)
        n.send(FrameBuilder.arpRequest(senderMAC: vmB, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-b")
        out = n.collect()
        #expect(Array(out.keys) == ["qvo-b"] && out["qvo-b"]?.first.map { Array($0[6..<12]) } == macB.bridgeTestBytes)
        #expect(n.datapath.router(named: "router-a")?.neighbourTable == [H.vmIP: vmA])
        #expect(n.datapath.router(named: "router-b")?.neighbourTable == [H.vmIP: vmB])
        // Each VM pings 10.1.0.1 and hears its own router.
        let pingA = FrameBuilder().ethernet(source: vmA, destination: macA).ipv4(source: H.vmIP, destination: H.qrIP)
            .icmpEcho(identifier: 1, sequence: 1).payload(count: 56).build()
        let pingB = FrameBuilder().ethernet(source: vmB, destination: macB).ipv4(source: H.vmIP, destination: H.qrIP)
            .icmpEcho(identifier: 2, sequence: 1).payload(count: 56).build()
        n.send(pingA, on: "qvo-a")
        n.send(pingB, on: "qvo-b")
        out = n.collect()
        #expect(Set(out.keys) == ["qvo-a", "qvo-b"])
        #expect(out["qvo-a"]?.first.map { Array($0[0..<12]) } == vmA.bridgeTestBytes + macA.bridgeTestBytes)
        #expect(out["qvo-b"]?.first.map { Array($0[0..<12]) } == vmB.bridgeTestBytes + macB.bridgeTestBytes)
        // A ping from tenant B at tenant A's router MAC never reaches router A (VLAN 2 has no such MAC).
        let stray = FrameBuilder().ethernet(source: vmB, destination: macA).ipv4(source: H.vmIP, destination: H.qrIP)
            .icmpEcho(identifier: 3, sequence: 1).payload(count: 56).build()
        n.send(stray, on: "qvo-b")
        out = n.collect()
        #expect(n.datapath.router(named: "router-a")?.stats.echoReplies == 1)
        #expect(out["qvo-a"] == nil)
        #expect(n.accountingHolds)
    }

    /// Two routers whose default routes point at each other: a datagram to nowhere
    /// bounces between them through br-ex. The drain stops after `maximumPatchDepth`
    /// rounds per `process`, and TTL ends it over later calls; every frame is accounted.
    @Test func routersPointingAtEachOtherAreBounded() throws {
        let r1 = RouterConfiguration(name: "r1", interfaces: [
            .init(name: "qr-1", mac: H.qrMAC, address: H.qrIP, prefixLength: 24),
            .init(name: "qg-1", mac: H.qgMAC, address: IPv4Address(172, 24, 4, 227), prefixLength: 28),
        ], defaultGateway: IPv4Address(172, 24, 4, 228))
        let r2 = RouterConfiguration(name: "r2", interfaces: [
            .init(name: "qg-2", mac: MACAddress("fa:16:3e:00:00:22")!, address: IPv4Address(172, 24, 4, 228), prefixLength: 28),
        ], defaultGateway: IPv4Address(172, 24, 4, 227))
        let n = try N(DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "qvo-vm1", tag: 1), PortConfiguration(name: "qr-1", type: .router, tag: 1),
            ]),
            BridgeConfiguration(name: "br-ex", ports: [
                PortConfiguration(name: "qg-1", type: .router), PortConfiguration(name: "qg-2", type: .router),
            ]),
        ], routers: [r1, r2]))
        n.send(FrameBuilder.arpRequest(senderMAC: H.vmMAC, senderIP: H.vmIP, targetIP: H.qrIP), on: "qvo-vm1")
        _ = n.collect()
        n.send(H.vmUDP(to: IPv4Address(203, 0, 113, 9), ttl: 40), on: "qvo-vm1")
        #expect(n.port("qg-1").stats.drops[.patchLoop, default: 0] + n.port("qg-2").stats.drops[.patchLoop, default: 0] == 1)
        #expect(n.accountingHolds)
        // A round drains every queue once (a frame may go several hops in one round), so
        // the datagram made at least maximumPatchDepth hops and stopped well before its TTL.
        let forwarded = n.datapath.routers.reduce(0) { $0 + $1.stats.forwarded }
        #expect(forwarded >= UInt64(Datapath.maximumPatchDepth) && forwarded < 39, "forwarded \(forwarded)")
        #expect(n.collect().isEmpty)
    }

    @Test func refusals() {
        func refusal(_ c: DatapathConfiguration) -> String? {
            do { _ = try Datapath(configuration: c, pool: FramePool(frameCount: 4), now: .zero); return nil } catch { return error.description }
        }
        var c = N.referenceConfiguration()
        c.bridges[0].ports.append(PortConfiguration(name: "qr-nobody", type: .router, tag: 1))
        #expect(refusal(c)?.hasPrefix("qr-nobody: type: a router port must be named like an interface of a router") == true)
        c = N.referenceConfiguration()
        c.bridges[1].ports.removeLast()
        #expect(refusal(c)?.hasPrefix("router1: interfaces[1].name: interface qg-7f8e9d0c-1b is no bridge's port") == true)
        c = N.referenceConfiguration()
        c.bridges[1].ports[1].type = .system
        #expect(refusal(c) == "router1: interfaces[1].name: port qg-7f8e9d0c-1b must have type: router")
        c = N.referenceConfiguration()
        c.bridges[1].ports.append(PortConfiguration(name: "qr-6a1b2c3d-4e", type: .router))
        #expect(refusal(c) == "qr-6a1b2c3d-4e: name: duplicate port name", "an interface on two bridges")
        c = N.referenceConfiguration(routers: [H.reference(), H.reference(name: "router2")])
        #expect(refusal(c) == "router2: interfaces[0].name: interface qr-6a1b2c3d-4e is already an interface of router router1")
        c = N.referenceConfiguration(routers: [H.reference { $0.interfaces[0].address = IPv4Address(10, 1, 0, 0) }])
        #expect(refusal(c) == "router1: interfaces[0].address: 10.1.0.0 is the network or broadcast address of 10.1.0.0/24")
    }
}

extension MACAddress {
    /// The six bytes, as they appear in a frame.
    fileprivate var bridgeTestBytes: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64($0))) } }
}

extension IPv4Address {
    /// The four bytes, as they appear in a header.
    fileprivate var bridgeTestBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: rawValue >> (24 - 8 * UInt32($0))) } }
}
