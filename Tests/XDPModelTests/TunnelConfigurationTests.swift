import Testing
import XDPDatapath
import XDPModel
import XDPPacket

/// The `underlay:` section and `type: gre` ports in the YAML configuration.
@Suite struct TunnelConfigurationTests {
    static let computeNode = """
    bridges:
      - name: br-int
        ports:
          - {name: qvo-a, tag: 1}
          - {name: patch-tun, type: patch, options: {peer: patch-int}}
      - name: br-tun
        ports:
          - {name: patch-int, type: patch, options: {peer: patch-tun}}
          - {name: gre-net, type: gre, options: {remote_ip: 172.16.0.2, key: flow}}
          - {name: gre-far, type: gre, options: {remote_ip: 172.17.0.9, local_ip: 172.16.0.1, key: 0x2a}}
          - {name: gre-plain, type: gre, options: {remote_ip: 172.16.0.3}}
    underlay:
      interface: eth1
      address: 172.16.0.1/24
      mac: 02:00:00:00:01:01
      gateway: 172.16.0.254
      mtu: 1450
      pending_limit: 4
      neighbour_capacity: 64
      neighbours:
        - {ip: 172.16.0.2, mac: 02:00:00:00:02:02}
        - {ip: 172.16.0.254, mac: 02:00:00:00:fe:fe}
    """

    func refusal(_ yaml: String) -> ConfigurationError? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "tun.yaml"); return nil } catch { return error }
    }

    @Test func readsUnderlayAndGREPorts() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.computeNode, file: "tun.yaml")
        let underlay = try #require(config.datapath.underlay)
        #expect(underlay == UnderlayConfiguration(
            interface: "eth1", address: IPv4Address(172, 16, 0, 1), prefixLength: 24, mac: MACAddress("02:00:00:00:01:01"),
            gateway: IPv4Address(172, 16, 0, 254), mtu: 1450,
            neighbours: [IPv4Address(172, 16, 0, 2): MACAddress("02:00:00:00:02:02")!,
                         IPv4Address(172, 16, 0, 254): MACAddress("02:00:00:00:fe:fe")!],
            pendingLimit: 4, neighbourCapacity: 64))
        #expect(underlay.subnet == IPv4Prefix("172.16.0.0/24"))
        let tun = config.datapath.bridges[1].ports
        #expect(tun[1].type == .gre(GREOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow)))
        #expect(tun[2].type == .gre(GREOptions(remoteIP: IPv4Address(172, 17, 0, 9), localIP: IPv4Address(172, 16, 0, 1), key: .fixed(42))))
        #expect(tun[3].type == .gre(GREOptions(remoteIP: IPv4Address(172, 16, 0, 3), key: .none)))

        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 8), now: .zero)
        let wire = try #require(datapath.port(named: "eth1"))
        #expect(wire.bridgeID == nil && datapath.bridge(of: wire) == nil)
        #expect(datapath.underlay?.portID == wire.id)
        #expect(datapath.underlay?.mac == MACAddress("02:00:00:00:01:01"))
        #expect(datapath.underlay?.neighbourTable.count == 2)
    }

    @Test func macDefaultsToOneDerivedFromTheAddress() throws {
        let config = try SwitchConfiguration.parse(yaml: """
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}]}]
        underlay: {interface: eth1, address: 10.0.0.1/8}
        """)
        #expect(config.datapath.underlay?.mac == nil, "the AF_XDP engine reads the interface's MAC")
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 8), now: .zero)
        #expect(datapath.underlay?.mac == MACAddress("02:00:0a:00:00:01"))
        #expect(datapath.underlay?.configuration.mtu == 1500 && datapath.underlay?.configuration.pendingLimit == 16)
        #expect(datapath.underlay?.configuration.neighbourCapacity == 4096)
    }

    @Test func aNeighbourCapacityOfZeroIsRefused() {
        let e = refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}]}]
        underlay: {interface: eth1, address: 10.0.0.1/8, neighbour_capacity: 0}
        """)
        #expect(e?.key == "underlay.neighbour_capacity", "\(String(describing: e))")
        #expect(e?.message.contains("1") == true)
    }

    @Test func greWithoutRemoteIPNamesTheLine() {
        let e = refusal("""
        bridges:
          - name: br-tun
            ports:
              - {name: patch-int, type: internal}
              - name: gre0
                type: gre
                options: {key: 5}
        underlay: {interface: eth1, address: 10.0.0.1/24}
        """)
        #expect(e?.line == 5)
        #expect(e?.key == "bridges[0].ports[1].options.remote_ip")
        #expect(e?.message.contains("remote_ip") == true)
    }

    @Test func badAddressesAreRefusedWithTheirLine() {
        let remote = refusal("""
        bridges:
          - name: br-tun
            ports:
              - {name: gre0, type: gre, options: {remote_ip: 10.0.0.300}}
        underlay: {interface: eth1, address: 10.0.0.1/24}
        """)
        #expect(remote?.line == 4)
        #expect(remote?.key == "bridges[0].ports[0].options.remote_ip")
        #expect(remote?.message.contains("10.0.0.300") == true)

        let address = refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}]}]
        underlay:
          interface: eth1
          address: 10.0.0.1
        """)
        #expect(address?.line == 4)
        #expect(address?.key == "underlay.address")
        #expect(address?.message.contains("A.B.C.D/LEN") == true)

        #expect(refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}]}]
        underlay: {interface: eth1, address: 10.0.0.1/33}
        """)?.key == "underlay.address")

        let neighbour = refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}]}]
        underlay:
          interface: eth1
          address: 10.0.0.1/24
          neighbours:
            - {ip: 10.0.0.2, mac: 02:00:00:00:00:02}
            - {ip: 10.0.0.3, mac: not-a-mac}
        """)
        #expect(neighbour?.line == 7)
        #expect(neighbour?.message.contains("MAC") == true)

        let gateway = refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}]}]
        underlay:
          interface: eth1
          address: 10.0.0.1/24
          gateway: 10.9.0.1
        """)
        #expect(gateway?.line == 5)
        #expect(gateway?.key == "underlay.gateway")
        #expect(gateway?.message.contains("10.0.0.0/24") == true)
    }

    @Test func greWithoutUnderlayIsRefusedAtTheGREPort() {
        let e = refusal("""
        bridges:
          - name: br-tun
            ports:
              - {name: patch-int, type: internal}
              - name: gre0
                type: gre
                options: {remote_ip: 10.0.0.2}
        """)
        #expect(e?.line == 6)
        #expect(e?.key == "gre0.type")
        #expect(e?.message.contains("underlay") == true)
    }

    @Test func greOptionsOnOtherPortTypesAreRefused() {
        let system = refusal("""
        bridges:
          - name: br-int
            ports:
              - name: qvo-a
                options:
                  remote_ip: 10.0.0.2
        """)
        #expect(system?.line == 6)
        #expect(system?.key == "bridges[0].ports[0].options.remote_ip")
        #expect(system?.message.contains("only for type: gre") == true)
        let patch = refusal("""
        bridges:
          - name: br-int
            ports:
              - {name: a, type: patch, options: {peer: b, key: 5}}
              - {name: b, type: patch, options: {peer: a}}
        """)
        #expect(patch?.line == 4)
        #expect(patch?.key == "bridges[0].ports[0].options.key")
    }

    @Test func keyMustBeFlowOrA32BitNumber() {
        let e = refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2, key: 4294967296}}]}]
        underlay: {interface: eth1, address: 10.0.0.1/24}
        """)
        #expect(e?.key == "bridges[0].ports[0].options.key")
        #expect(e?.message.contains("4294967295") == true)
        #expect(refusal("""
        bridges: [{name: br-tun, ports: [{name: gre0, type: gre, options: {remote_ip: 10.0.0.2, key: banana}}]}]
        underlay: {interface: eth1, address: 10.0.0.1/24}
        """)?.key == "bridges[0].ports[0].options.key")
    }

    @Test func localIPMustBeTheUnderlayAddress() {
        let e = refusal("""
        bridges:
          - name: br-tun
            ports:
              - {name: gre0, type: gre, options: {remote_ip: 10.0.0.2, local_ip: 10.0.0.7}}
        underlay: {interface: eth1, address: 10.0.0.1/24}
        """)
        #expect(e?.line == 4)
        #expect(e?.key == "gre0.options.local_ip")
        #expect(e?.message.contains("10.0.0.1") == true)
    }

    @Test func underlayInterfaceCannotBeABridgePort() {
        let e = refusal("""
        bridges:
          - name: br-tun
            ports:
              - {name: eth1}
              - {name: gre0, type: gre, options: {remote_ip: 10.0.0.2}}
        underlay:
          interface: eth1
          address: 10.0.0.1/24
        """)
        #expect(e?.key.hasPrefix("eth1") == true)
        #expect(e?.message.contains("underlay") == true)
        #expect(e?.line == 4 || e?.line == 7)
    }

    @Test func underlayRefusesUnknownKeysAndMissingOnes() {
        let unknown = refusal("""
        bridges: [{name: br, ports: []}]
        underlay:
          interface: eth1
          address: 10.0.0.1/24
          vlan: 5
        """)
        #expect(unknown?.line == 5 && unknown?.key == "underlay.vlan")
        let missing = refusal("""
        bridges: [{name: br, ports: []}]
        underlay:
          address: 10.0.0.1/24
        """)
        #expect(missing?.key == "underlay.interface")
        #expect(refusal("""
        bridges: [{name: br, ports: []}]
        underlay: {interface: eth1, address: 10.0.0.1/24, mtu: 100}
        """)?.key == "underlay.mtu")
    }
}
