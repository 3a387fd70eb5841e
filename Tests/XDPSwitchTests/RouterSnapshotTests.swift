import TestFixtures
import Testing
import XDPSwitch

/// The reference design's network node with SNAT and a floating IP, from YAML: what
/// `Datapath.routerSnapshot(_:)` and `DatapathRouter.routeDecision(to:)` return after real frames,
/// and the text of `route-show`, `neigh-show`, `nat-show` built from those values.
@Suite struct RouterSnapshotTests {
    static let vm = MACAddress("fa:16:3e:aa:00:05")!, gateway = MACAddress("02:42:ac:18:04:e1")!

    @Test func routerSnapshotAfterTraffic() throws {
        let dp = try SwitchConfiguration.parse(yaml: RouterNATControlTests.networkNode).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        dp.inject(FrameBuilder.arpRequest(senderMAC: Self.gateway, senderIP: IPv4Address(172, 24, 4, 225),
                                          targetIP: IPv4Address(172, 24, 4, 227)),
                  into: dp.port(named: "eth-ext")!, now: DatapathInstant(nanoseconds: 1))
        dp.inject(FrameBuilder().ethernet(source: Self.vm, destination: MACAddress("fa:16:3e:00:00:01")!)
            .ipv4(source: IPv4Address(10, 1, 0, 5), destination: IPv4Address(172, 24, 4, 225))
            .udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build(), into: dp.port(named: "qvo-vm1")!, now: DatapathInstant(nanoseconds: 2))
        let router = try #require(dp.router(named: "router1"))
        let snapshot = dp.routerSnapshot(router)
        #expect(snapshot.name == "router1")
        #expect(snapshot.interfaces.map(\.bridge) == ["br-int", "br-ex"])
        #expect(snapshot.interfaces.map(\.address) == [IPv4Address(10, 1, 0, 1), IPv4Address(172, 24, 4, 227)])
        #expect(snapshot.routes.map(\.origin) == [.connected, .connected, .default])
        #expect(snapshot.routes.last?.nextHop == IPv4Address(172, 24, 4, 225))
        #expect(snapshot.neighbours.map(\.address) == [IPv4Address(172, 24, 4, 225)])
        #expect(snapshot.neighbours.first?.mac == Self.gateway && snapshot.neighbours.first?.device == snapshot.interfaces[1].name)
        #expect(snapshot.natConfigured && snapshot.floatingIPs == [.init(floating: IPv4Address(172, 24, 4, 228), fixed: IPv4Address(10, 1, 0, 7))])
        let connection = try #require(snapshot.natConnections.first)
        #expect(snapshot.natConnections.count == 1 && connection.original.proto == 17)
        #expect(connection.description
                == "udp,orig=(src=10.1.0.5,dst=172.24.4.225,sport=40000,dport=53),reply=(src=172.24.4.225,dst=172.24.4.227,sport=53,dport=40000)")
        #expect(dp.conntrackConnections() == snapshot.natConnections, "dump-conntrack lists the router's NAT connections")
        #expect(snapshot.stats.natConnections == 1 && snapshot.stats.forwarded == 1)
        #expect(dp.routerSnapshots() == [snapshot])

        // ip route get: local, through the learned gateway, and with an unknown neighbour.
        let qg = snapshot.interfaces[1].name, qr = snapshot.interfaces[0].name
        #expect(router.routeDecision(to: IPv4Address(172, 24, 4, 227)) == .local(IPv4Address(172, 24, 4, 227), device: qg))
        #expect(router.routeDecision(to: IPv4Address(8, 8, 8, 8)) == .forward(IPv4Address(8, 8, 8, 8), nextHop: IPv4Address(172, 24, 4, 225),
                                                                              device: qg, source: IPv4Address(172, 24, 4, 227),
                                                                              neighbour: Self.gateway))
        #expect(router.routeDecision(to: IPv4Address(10, 1, 0, 9)).description
                == "10.1.0.9 dev \(qr) src 10.1.0.1 (neighbour unknown)")

        // The commands' text is the values' lines.
        func run(_ command: String) -> String {
            SwitchControl.handle(.init(command: command, arguments: ["router1"]), datapath: dp, now: DatapathInstant(nanoseconds: 5_000_000_000)).output
        }
        #expect(run("route-show") == snapshot.routes.map { "\($0)\n" }.joined())
        #expect(run("route-show").hasPrefix("10.1.0.0/24 dev \(qr) proto kernel scope link src 10.1.0.1\n"))
        #expect(run("neigh-show") == "172.24.4.225 dev \(qg) lladdr 02:42:ac:18:04:e1 REACHABLE\n")
        #expect(run("nat-show") == SwitchText.nat(snapshot))
    }
}
