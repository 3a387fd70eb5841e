import TestFixtures
import Testing
import XDPDatapath
import XDPModel
import XDPPacket

/// The NAT keys of a `routers:` entry: snat, floating_ips, metadata, nat_connections.
@Suite struct RouterNATYAMLTests {
    static let networkNode = NetworkNodeYAML.router1(vmPort: "qvo-a", keys: """
            default_gateway: 172.24.4.225
            snat: {enabled: true, ports: 20000-29999}
            floating_ips:
              - {floating: 172.24.4.228, fixed: 10.1.0.5}
            metadata: {endpoint: 172.24.4.226, endpoint_port: 9697}
            nat_connections: 4096
        """)

    func refusal(_ yaml: String) -> String? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "r.yaml"); return nil } catch { return error.description }
    }

    @Test func readsTheNATKeys() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.networkNode, file: "r.yaml")
        let router = try #require(config.datapath.routers.first)
        #expect(router.snat == RouterConfiguration.SNAT(enabled: true, portMin: 20000, portMax: 29999))
        #expect(router.floatingIPs == [.init(floating: IPv4Address(172, 24, 4, 228), fixed: IPv4Address(10, 1, 0, 5))])
        #expect(router.metadata == RouterConfiguration.Metadata(endpoint: IPv4Address(172, 24, 4, 226), endpointPort: 9697))
        #expect(router.natConnections == 4096)
        let plain = try SwitchConfiguration.parse(
            yaml: Self.networkNode.replacingOccurrences(of: "snat: {enabled: true, ports: 20000-29999}", with: "snat: true"),
            file: "r.yaml")
        #expect(plain.datapath.routers.first?.snat == RouterConfiguration.SNAT())
    }

    @Test func refusalsNameFileLineAndKey() {
        let y = Self.networkNode
        #expect(refusal(y.replacingOccurrences(of: "fixed: 10.1.0.5", with: "fixed: 192.0.2.5"))
                == "r.yaml:18: routers[0].floating_ips[0].fixed: floating_ips[0]: 192.0.2.5 is not a host on an internal subnet of the router")
        #expect(refusal(y.replacingOccurrences(of: "ports: 20000-29999", with: "ports: 29999-20000"))?
                .hasPrefix("r.yaml:16: routers[0].snat.ports: expected a port range") == true)
        #expect(refusal(y.replacingOccurrences(of: "endpoint_port: 9697", with: "endpoint_prt: 9697"))?
                .hasPrefix("r.yaml:19: routers[0].metadata.endpoint_prt: unknown key") == true)
    }
}
