import Testing
import XDPDatapath
import XDPModel
import XDPPacket

/// `type: vxlan` ports in the YAML configuration, beside `gre` ones.
@Suite struct VXLANConfigurationTests {
    static func node(_ ports: String) -> String {
        """
        bridges:
          - name: br-tun
            ports:
        \(ports)
        underlay:
          interface: eth1
          address: 172.16.0.1/24
        """
    }

    func refusal(_ yaml: String) -> ConfigurationError? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "vx.yaml"); return nil } catch { return error }
    }

    @Test func readsVXLANPortsBesideGRE() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.node("""
              - {name: vxlan-ac100002, type: vxlan, options: {remote_ip: 172.16.0.2, key: flow}}
              - {name: vxlan-fixed, type: vxlan, options: {remote_ip: 172.16.0.3, local_ip: 172.16.0.1, key: 0xabcdef, dst_port: 8472}}
              - {name: vxlan-plain, type: vxlan, options: {remote_ip: 172.16.0.4}}
              - {name: gre-ac100002, type: gre, options: {remote_ip: 172.16.0.2, key: flow}}
        """), file: "vx.yaml")
        let ports = config.datapath.bridges[0].ports
        #expect(ports[0].type == .vxlan(VXLANOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow)))
        #expect(ports[1].type == .vxlan(VXLANOptions(remoteIP: IPv4Address(172, 16, 0, 3), localIP: IPv4Address(172, 16, 0, 1),
                                                      key: .fixed(0xABCDEF), destinationPort: 8472)))
        #expect(ports[2].type == .vxlan(VXLANOptions(remoteIP: IPv4Address(172, 16, 0, 4), key: .none, destinationPort: 4789)))
        #expect(ports[3].type == .gre(GREOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow)))
        #expect(ports[0].type.description == "vxlan")
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 8), now: .zero)
        #expect(datapath.port(named: "vxlan-fixed")?.type == ports[1].type)
    }

    @Test func refusalsNameTheLine() {
        let noRemote = refusal(Self.node("      - {name: v, type: vxlan, options: {key: flow}}"))
        #expect(noRemote?.line == 4 && noRemote?.message.contains("a vxlan port needs options: {remote_ip: A.B.C.D}") == true)
        let wideKey = refusal(Self.node("      - {name: v, type: vxlan, options: {remote_ip: 172.16.0.2, key: 16777216}}"))
        #expect(wideKey?.key == "bridges[0].ports[0].options.key", "a VNI has 24 bits")
        let badPort = refusal(Self.node("      - {name: v, type: vxlan, options: {remote_ip: 172.16.0.2, dst_port: 0}}"))
        #expect(badPort?.key == "bridges[0].ports[0].options.dst_port")
        let greWithPort = refusal(Self.node("      - {name: g, type: gre, options: {remote_ip: 172.16.0.2, dst_port: 4789}}"))
        #expect(greWithPort?.message.contains("only for type: vxlan") == true)
        let systemWithRemote = refusal(Self.node("      - {name: s, options: {remote_ip: 172.16.0.2}}"))
        #expect(systemWithRemote?.message.contains("only for type: gre or vxlan") == true)
        let otherLocal = refusal(Self.node("      - {name: v, type: vxlan, options: {remote_ip: 172.16.0.2, local_ip: 172.16.0.9}}"))
        #expect(otherLocal?.message.contains("is not the underlay address") == true)
        let noUnderlay = refusal("""
        bridges:
          - name: br-tun
            ports:
              - {name: v, type: vxlan, options: {remote_ip: 172.16.0.2}}
        """)
        #expect(noUnderlay?.message.contains("a vxlan port needs an underlay") == true)
    }
}
