import Testing
import XDPDatapath
import XDPPacket

@Suite struct RouterConfigurationTests {
    typealias H = RouterHarness

    @Test func referenceRoutesAreConnectedPlusDefault() throws {
        let routes = try H.reference().resolvedRoutes()
        #expect(routes.map(\.description) == ["10.1.0.0/24 dev 0", "172.24.4.224/28 dev 1", "default via 172.24.4.225 dev 1"])
        #expect(routes.map(\.origin) == [.connected, .connected, .default])
    }

    @Test func staticRoutesLeaveByTheInterfaceHoldingTheirNextHop() throws {
        let config = H.reference(routes: [.init(prefix: IPv4Prefix("192.168.50.0/24")!, nextHop: IPv4Address(10, 1, 0, 254)),
                                     .init(prefix: IPv4Prefix("198.51.100.0/24")!, nextHop: IPv4Address(172, 24, 4, 226))])
        let router = try DatapathRouter(configuration: config, pool: FramePool(frameCount: 8))
        #expect(router.route(to: IPv4Address(192, 168, 50, 9))?.description == "192.168.50.0/24 via 10.1.0.254 dev 0")
        #expect(router.route(to: IPv4Address(198, 51, 100, 1))?.description == "198.51.100.0/24 via 172.24.4.226 dev 1")
        #expect(router.route(to: IPv4Address(10, 1, 0, 77))?.description == "10.1.0.0/24 dev 0")
        #expect(router.route(to: IPv4Address(9, 9, 9, 9))?.origin == .default)
        #expect(router.route(to: H.qrIP) == nil)  // a local address: no forwarding route
    }

    func refusal(_ config: RouterConfiguration) -> String? {
        do { _ = try config.resolvedRoutes(); return nil } catch { return error.description }
    }

    @Test func refusalsNameRouterInterfaceAndKey() {
        let mac = MACAddress("fa:16:3e:00:00:09")!
        #expect(refusal(H.reference { $0.interfaces[0].address = IPv4Address(10, 1, 0, 0) })
                == "router1: qr-6a1b2c3d-4e: address: 10.1.0.0 is the network or broadcast address of 10.1.0.0/24")
        #expect(refusal(H.reference { $0.interfaces[1].mac = .broadcast })
                == "router1: qg-7f8e9d0c-1b: mac: ff:ff:ff:ff:ff:ff is not a unicast MAC")
        #expect(refusal(H.reference { $0.interfaces.append(.init(name: "qr-second", mac: mac, address: IPv4Address(10, 1, 0, 200), prefixLength: 25)) })
                == "router1: qr-second: address: 10.1.0.128/25 overlaps 10.1.0.0/24 of qr-6a1b2c3d-4e")
        #expect(refusal(H.reference { $0.interfaces[1].name = "qr-6a1b2c3d-4e" }) == "router1: qr-6a1b2c3d-4e: name: two interfaces are named qr-6a1b2c3d-4e")
        #expect(refusal(H.reference { $0.interfaces[0].name = "qr-0123456789abcdef" })?.hasPrefix("router1: qr-0123456789abcdef: name:") == true)
        #expect(refusal(H.reference { $0.interfaces[0].prefixLength = 0 }) == "router1: qr-6a1b2c3d-4e: prefix_length: expected 1 to 32, found 0")
        #expect(refusal(H.reference { $0.interfaces[0].address = IPv4Address(127, 0, 0, 1); $0.interfaces[0].prefixLength = 8 })
                == "router1: qr-6a1b2c3d-4e: address: 127.0.0.1 is not a unicast host address")
        #expect(refusal(H.reference(gateway: IPv4Address(192, 0, 2, 1)))
                == "router1: default_gateway: 192.0.2.1 is not in a subnet of the router's interfaces")
        #expect(refusal(H.reference(gateway: H.qgIP)) == "router1: default_gateway: 172.24.4.227 is the router's own address")
        #expect(refusal(H.reference(routes: [.init(prefix: IPv4Prefix("192.168.0.0/16")!, nextHop: IPv4Address(192, 0, 2, 1))]))
                == "router1: routes[0]: nexthop: 192.0.2.1 is not in a subnet of the router's interfaces")
        #expect(refusal(H.reference(routes: [.init(prefix: IPv4Prefix("10.1.0.0/24")!, nextHop: IPv4Address(172, 24, 4, 226))]))
                == "router1: routes[0]: destination: 10.1.0.0/24 has another route already")
        #expect(refusal(H.reference(routes: [.init(prefix: IPv4Prefix("0.0.0.0/0")!, nextHop: IPv4Address(172, 24, 4, 226))]))
                == "router1: routes[0]: destination: 0.0.0.0/0 and default_gateway are both given")
        #expect(refusal(H.reference { $0.pendingLimit = 5000 }) == "router1: pending_limit: expected 0 to 4096, found 5000")
        #expect(refusal(H.reference { $0.interfaces[0].mtu = 60 }) == "router1: qr-6a1b2c3d-4e: mtu: expected 68 to 9000, found 60")
        #expect(refusal(H.reference { $0.icmpErrorBurst = 2_000_000 }) == "router1: icmp_error_burst: expected 0 to 1000000, found 2000000")
        #expect(refusal(H.reference { $0.neighbourCapacity = 0 }) == "router1: neighbour_capacity: expected 1 to 1048576, found 0")
        #expect(refusal(H.reference(name: "") ) == "(unnamed): name: a router needs a name")
        #expect(refusal(RouterConfiguration(name: "r", interfaces: [])) == "r: interfaces: a router needs at least one interface")
    }

    @Test func aStaticDefaultRouteIsAllowedWithoutDefaultGateway() throws {
        let routes = try H.reference(gateway: nil, routes: [.init(prefix: IPv4Prefix("0.0.0.0/0")!, nextHop: H.gatewayIP)]).resolvedRoutes()
        #expect(routes.last?.description == "default via 172.24.4.225 dev 1")
    }

    @Test func pointToPointPrefixesHaveNoNetworkAddressRule() throws {
        let c = RouterConfiguration(name: "p2p", interfaces: [
            .init(name: "qg-a", mac: H.qgMAC, address: IPv4Address(192, 0, 2, 0), prefixLength: 31)])
        #expect(try c.resolvedRoutes().count == 1)
    }
}
