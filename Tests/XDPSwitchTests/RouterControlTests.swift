import TestFixtures
import Testing
import XDPSwitch

/// The reference design's network node with its router, configured in YAML: `show` and the router
/// verbs of the control socket, after real traffic taught the router its neighbours.
@Suite struct RouterControlTests {
    static let networkNode = NetworkNodeYAML.router1(vmPort: "qvo-vm1", keys: """
            routes: [{destination: 192.168.50.0/24, nexthop: 10.1.0.254}]
            default_gateway: 172.24.4.225
        """)

    @Test func showAndRouterVerbs() throws {
        let dp = try SwitchConfiguration.parse(yaml: Self.networkNode).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        func run(_ command: String, _ args: [String] = []) -> ControlSocket.Reply {
            SwitchControl.handle(.init(command: command, arguments: args), datapath: dp, now: DatapathInstant(nanoseconds: 5_000_000_000))
        }
        let show = run("show").output
        #expect(show.contains("""
                    Port qr-6a1b2c3d-4e
                        tag: 1
                        Interface qr-6a1b2c3d-4e
                            type: router
                            options: {router=router1}
            """))
        #expect(show.hasSuffix("""
                Router router1
                    Interface qr-6a1b2c3d-4e
                        bridge: br-int
                        mac: fa:16:3e:00:00:01
                        address: 10.1.0.1/24
                    Interface qg-7f8e9d0c-1b
                        bridge: br-ex
                        mac: fa:16:3e:00:00:02
                        address: 172.24.4.227/28
                    routes:
                        10.1.0.0/24 dev qr-6a1b2c3d-4e proto kernel scope link src 10.1.0.1
                        172.24.4.224/28 dev qg-7f8e9d0c-1b proto kernel scope link src 172.24.4.227
                        192.168.50.0/24 via 10.1.0.254 dev qr-6a1b2c3d-4e proto static
                        default via 172.24.4.225 dev qg-7f8e9d0c-1b

            """), "\(show)")
        #expect(run("route-show", ["router1"]).output.hasPrefix("10.1.0.0/24 dev qr-6a1b2c3d-4e proto kernel scope link src 10.1.0.1\n"))
        #expect(run("route-get", ["router1", "8.8.8.8"]).output
                == "8.8.8.8 via 172.24.4.225 dev qg-7f8e9d0c-1b src 172.24.4.227 (neighbour unknown)\n")
        #expect(run("neigh-show", ["router1"]).output == "")
        // The VM asks for its gateway, the external gateway for the router: both learned.
        let vm = MACAddress("fa:16:3e:aa:00:05")!, gw = MACAddress("02:42:ac:18:04:e1")!
        dp.inject(FrameBuilder.arpRequest(senderMAC: vm, senderIP: IPv4Address(10, 1, 0, 5), targetIP: IPv4Address(10, 1, 0, 1)),
                  into: dp.port(named: "qvo-vm1")!, now: DatapathInstant(nanoseconds: 1))
        dp.inject(FrameBuilder.arpRequest(senderMAC: gw, senderIP: IPv4Address(172, 24, 4, 225), targetIP: IPv4Address(172, 24, 4, 227)),
                  into: dp.port(named: "eth-ext")!, now: DatapathInstant(nanoseconds: 1))
        #expect(run("neigh-show", ["router1"]).output == """
            10.1.0.5 dev qr-6a1b2c3d-4e lladdr fa:16:3e:aa:00:05 REACHABLE
            172.24.4.225 dev qg-7f8e9d0c-1b lladdr 02:42:ac:18:04:e1 REACHABLE

            """)
        #expect(run("route-get", ["router1", "8.8.8.8"]).output
                == "8.8.8.8 via 172.24.4.225 dev qg-7f8e9d0c-1b src 172.24.4.227 lladdr 02:42:ac:18:04:e1\n")
        #expect(run("route-get", ["router1", "10.1.0.1"]).output == "local 10.1.0.1 dev qr-6a1b2c3d-4e src 10.1.0.1\n")
        let stats = run("router-stats").output
        #expect(stats.contains("router1: forwarded=0") && stats.contains("arp-replies=2"), "\(stats)")
        #expect(!run("route-show", ["nope"]).ok && run("route-show", ["nope"]).output == "nope: no such router (routers: router1)")
        #expect(run("route-get", ["router1"]).output == "usage: route-get ROUTER ADDRESS")
    }
}
