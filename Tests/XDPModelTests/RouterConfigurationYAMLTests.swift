import TestFixtures
import Testing
import XDPDatapath
import XDPModel
import XDPPacket

/// The `routers:` section and `type: router` ports in the YAML configuration.
@Suite struct RouterConfigurationYAMLTests {
    static let networkNode = NetworkNodeYAML.router1(vmPort: "qvo-a", gatewayMTU: 1400, keys: """
            routes: [{destination: 192.168.50.0/24, nexthop: 10.1.0.254}]
            default_gateway: 172.24.4.225
            gateway_interface: qg-7f8e9d0c-1b
            pending_limit: 8
            pending_total_limit: 100
            arp_retransmit_ms: 500
            arp_max_requests: 5
            neighbour_capacity: 1024
            icmp_errors_per_second: 100
            icmp_error_burst: 10
        """)

    func refusal(_ yaml: String) -> String? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "r.yaml"); return nil } catch { return error.description }
    }

    @Test func readsEveryRouterKey() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.networkNode, file: "r.yaml")
        let expected = RouterConfiguration(name: "router1", interfaces: [
            .init(name: "qr-6a1b2c3d-4e", mac: MACAddress("fa:16:3e:00:00:01")!, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
            .init(name: "qg-7f8e9d0c-1b", mac: MACAddress("fa:16:3e:00:00:02")!, address: IPv4Address(172, 24, 4, 227),
                  prefixLength: 28, mtu: 1400),
        ], routes: [.init(prefix: IPv4Prefix("192.168.50.0/24")!, nextHop: IPv4Address(10, 1, 0, 254))],
           defaultGateway: IPv4Address(172, 24, 4, 225), pendingLimit: 8, pendingTotalLimit: 100,
           arpRetransmitInterval: .milliseconds(500), arpMaximumRequests: 5, neighbourCapacity: 1024, icmpErrorsPerSecond: 100,
           icmpErrorBurst: 10, gatewayInterface: "qg-7f8e9d0c-1b")
        #expect(config.datapath.routers == [expected])
        #expect(config.datapath.bridges[0].ports[1].type == .router)
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 64), now: .zero)
        #expect(datapath.port(named: "qr-6a1b2c3d-4e")?.serviceKind == .router)
        #expect(datapath.port(named: "qg-7f8e9d0c-1b")?.serviceElement == 1)
    }

    @Test func refusalsNameFileLineAndKey() {
        let y = Self.networkNode
        #expect(refusal(y.replacingOccurrences(of: "address: 10.1.0.1/24", with: "address: 10.1.0.0/24"))
                == "r.yaml:13: routers[0].interfaces[0].address: qr-6a1b2c3d-4e: 10.1.0.0 is the network or broadcast address of 10.1.0.0/24")
        #expect(refusal(y.replacingOccurrences(of: "nexthop: 10.1.0.254", with: "nexthop: 192.0.2.1"))
                == "r.yaml:15: routers[0].routes[0].nexthop: routes[0]: 192.0.2.1 is not in a subnet of the router's interfaces")
        #expect(refusal(y.replacingOccurrences(of: "default_gateway: 172.24.4.225", with: "default_gateway: 172.24.4.227"))
                == "r.yaml:16: routers[0].default_gateway: 172.24.4.227 is the router's own address")
        #expect(refusal(y.replacingOccurrences(of: "pending_limit: 8", with: "pending_limit: 5000"))
                == "r.yaml:18: routers[0].pending_limit: 5000 is outside 0-4096")
        #expect(refusal(y.replacingOccurrences(of: "address: 10.1.0.1/24", with: "address: 10.1.0.1"))?
                .hasPrefix("r.yaml:13: routers[0].interfaces[0].address: expected the interface's address") == true)
        #expect(refusal(y.replacingOccurrences(of: "destination: 192.168.50.0/24", with: "destination: 192.168.50.1/24"))
                == "r.yaml:15: routers[0].routes[0].destination: 192.168.50.1/24 has host bits set (the network is 192.168.50.0/24)")
        #expect(refusal(y.replacingOccurrences(of: "icmp_error_burst: 10", with: "icmp_burst: 10"))?
                .hasPrefix("r.yaml:24: routers[0].icmp_burst: unknown key") == true)
        // Datapath-level refusals point at the port or the router.
        #expect(refusal(y.replacingOccurrences(of: "{name: qvo-a, tag: 1}", with: "{name: qr-nobody, type: router, tag: 1}"))?
                .hasPrefix("r.yaml:4: qr-nobody.type: a router port must be named like an interface of a router") == true)
        #expect(refusal(y.replacingOccurrences(of: "- {name: qg-7f8e9d0c-1b, type: router}", with: "- {name: eth-ext2}"))?
                .hasPrefix("r.yaml:14: router1.interfaces[1].name: interface qg-7f8e9d0c-1b is no bridge's port") == true)
        #expect(refusal(y.replacingOccurrences(of: "- {name: eth-ext}", with: "- {name: qr-6a1b2c3d-4e, type: router}"))
                == "r.yaml:8: qr-6a1b2c3d-4e.name: duplicate port name")
    }
}
