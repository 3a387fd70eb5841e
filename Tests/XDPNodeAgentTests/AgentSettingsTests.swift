import Testing
import XDPAgent
@testable import XDPNodeAgent

/// `xdpswitch agent`'s settings: flags and the YAML file with the same keys, each refusal
/// naming the setting.
@Suite struct AgentSettingsTests {
    @Test func flagsGiveTheHostTheAgentRegisters() throws {
        let settings = try AgentSettings(AgentSettings.Fields([
            "server": "http://127.0.0.1:9696", "host": "compute1", "role": "all", "tunnel-ip": "172.16.0.1/24",
            "tunnel-interface": "eth1", "bridge-mappings": "physnet1:eth2,physnet2:eth3", "state-dir": "/tmp/x",
        ]))
        #expect(settings.hostDescription == HostView.Host(
            name: "compute1", role: .all, tunnel: HostView.Tunnel(ip: "172.16.0.1", prefixLength: 24, interface: "eth1"),
            bridgeMappings: ["physnet1": "eth2", "physnet2": "eth3"]))
        #expect(settings.reportInterval == 10)
        let report = AgentReport(settings: settings)
        #expect(report.tunnelIP == "172.16.0.1" && report.tunnelPrefixLength == 24 && report.revisionApplied == 0)
    }

    @Test func yamlKeysAreTheFlagsAndFlagsOverrideThem() throws {
        let file = try AgentSettings.Fields.parse(yaml: """
            server: http://10.0.0.1:9696
            host: network1
            role: network
            tunnel-ip: 172.16.0.2/16
            tunnel-interface: eth1
            bridge-mappings: {physnet1: eth2}
            external-interface: eth3
            state-dir: /var/lib/agent
            report-interval: 2.5
            """, file: "agent.yaml")
        let settings = try AgentSettings(file.overridden(by: AgentSettings.Fields(["host": "network2"])))
        #expect(settings.host == "network2")
        #expect(settings.role == .network)
        #expect(settings.tunnel?.prefixLength == 16)
        #expect(settings.bridgeMappings == ["physnet1": "eth2"])
        #expect(settings.externalInterface == "eth3")
        #expect(settings.reportInterval == 2.5)
    }

    @Test func refusalsNameTheSetting() {
        let base = ["server": "http://127.0.0.1:9696", "host": "h", "state-dir": "/tmp/x"]
        let cases: [([String: String], String)] = [
            (["server": "ftp://x"], "--server ftp://x: expected http://HOST:PORT"),
            (["role": "router"], "--role router: expected compute, network or all"),
            (["tunnel-ip": "172.16.0.1/33", "tunnel-interface": "eth1"], "--tunnel-ip 172.16.0.1/33: expected A.B.C.D[/LEN], LEN 1-32"),
            (["tunnel-ip": "172.16.0.1"], "--tunnel-ip needs --tunnel-interface (the interface carrying the tunnels)"),
            (["tunnel-interface": "eth1"], "--tunnel-interface needs --tunnel-ip"),
            (["bridge-mappings": "physnet1"], "--bridge-mappings physnet1: expected PHYSNET:INTERFACE[,…]"),
            (["bridge-mappings": "physnet1:averyveryverylongname"], "--bridge-mappings averyveryverylongname: expected an interface name of 1-15 bytes"),
            (["report-interval": "0"], "--report-interval 0: expected seconds, 0.1-3600"),
        ]
        for (extra, message) in cases {
            #expect(throws: AgentSettingsError.self) { try AgentSettings(AgentSettings.Fields(base.merging(extra) { $1 })) }
            do {
                _ = try AgentSettings(AgentSettings.Fields(base.merging(extra) { $1 }))
            } catch {
                #expect(error.description == message)
            }
        }
        #expect(throws: AgentSettingsError.self) { try AgentSettings(AgentSettings.Fields(["host": "h", "state-dir": "/tmp/x"])) }
        #expect(throws: AgentSettingsError.self) { try AgentSettings.Fields.parse(yaml: "tunnel: x", file: "a.yaml") }
    }
}
