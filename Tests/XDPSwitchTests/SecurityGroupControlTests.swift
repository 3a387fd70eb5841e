import Foundation
import Testing
import XDPSwitch

/// `set-security-groups FILE` on the control path: the file's groups become the
/// running datapath's firewall; a bad file changes nothing.
@Suite struct SecurityGroupControlTests {
    @Test func setSecurityGroupsInstallsAndReplacesTheFirewall() throws {
        let datapath = try Datapath(configuration: DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [PortConfiguration(name: "qvo-a", tag: 1), PortConfiguration(name: "qvo-b", tag: 1)]),
        ]), pool: FramePool(frameCount: 64), now: .zero)
        let path = NSTemporaryDirectory() + "sg-control-\(getpid()).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        func set(_ yaml: String) throws -> ControlSocket.Reply {
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            return SwitchControl.handle(.init(command: "set-security-groups", arguments: [path]), datapath: datapath, now: DatapathInstant(nanoseconds: 1))
        }
        let first = try set("""
            security_groups:
              - {id: web, rules: [{direction: egress}, {direction: ingress, protocol: tcp, port_range_min: 80, port_range_max: 80}]}
            ports:
              - {name: qvo-a, mac_address: "fa:16:3e:00:00:0a", fixed_ips: [10.1.0.10], security_groups: [web]}
            """)
        #expect(first.ok, "\(first.output)")
        #expect(first.output.hasPrefix("br-int: ") && first.output.hasSuffix("flows, 0 connections cut\n"), "\(first.output)")
        let version = datapath.bridge(named: "br-int")!.flowTable.version
        #expect(datapath.flows(bridge: "br-int").contains { $0.rule.description.contains("tcp,reg5=0x1,tp_dst=80") })
        let bad = try set("""
            ports:
              - {name: qvo-a, mac_address: "fa:16:3e:00:00:0a", security_groups: [missing]}
            """)
        #expect(!bad.ok && bad.output.contains("no security group missing"), "\(bad.output)")
        #expect(datapath.bridge(named: "br-int")!.flowTable.version == version, "a refused file changes nothing")
        let nowhere = try set("ports:\n  - {name: qvo-z, mac_address: \"fa:16:3e:00:00:0a\"}\n")
        #expect(!nowhere.ok && nowhere.output.contains("qvo-z"))
        #expect(SwitchControl.registry["set-security-groups"]?.usage == "set-security-groups FILE")
    }
}
