#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Testing
import XDPLab
import XDPSwitch

/// A running engine brought to new configurations (`Engine.reconfigure`) and interfaces that
/// come and go under it, with real traffic on veths (docs/operations.md, "Changing a running
/// switch").
extension AFXDPIntegrationTests {
@Suite("changing a running switch")
struct ReconfigurationLiveTests {
    /// A bridge `br-int` of access ports on VLAN 1 over `ports`, with `flows`.
    static func yaml(_ ports: [String], flows: [String] = [], extra: String = "") -> String {
        var text = "bridges:\n  - name: br-int\n    ports:\n"
        for port in ports { text += "      - {name: \(port), tag: 1}\n" }
        if !flows.isEmpty {
            text += "    flows:\n"
            for flow in flows { text += "      - \"\(flow)\"\n" }
        }
        return text + extra
    }

    static func configuration(_ ports: [String], flows: [String] = [], extra: String = "") throws -> SwitchConfiguration {
        try SwitchConfiguration.parse(yaml: yaml(ports, flows: flows, extra: extra), file: "test.yaml")
    }

    /// Packets of each flow of `bridge`, by its printed match and actions.
    static func flowPackets(_ engine: Engine, bridge: String = "br-int") async -> [String: UInt64] {
        await engine.perform { datapath, _ in
            var out: [String: UInt64] = [:]
            for flow in datapath.bridge(named: bridge)?.flowTable.flows ?? [] {
                out["\(flow.rule)", default: 0] += flow.counters.packets
            }
            return out
        } ?? [:]
    }

    /// `ping` from `namespace` to `address` on a thread of its own, started now.
    static func startPing(_ namespace: String, _ address: String, count: Int, interval: String = "0.05") -> Task<Shell.Result, Never> {
        Task.detached {
            Shell.run(["ip", "netns", "exec", namespace, "ping", "-n", "-q", "-c", "\(count)", "-i", interval, "-W", "2", address])
        }
    }

    /// "N packets transmitted, M received": both numbers.
    static func pingCounts(_ output: String) -> (sent: Int, received: Int)? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("packets transmitted") }) else { return nil }
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return numbers.count >= 2 ? (numbers[0], numbers[1]) : nil
    }

    @Test func addsAPortAndRemovesAnotherWhileTrafficFlowsKeepingFlowCounters() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.97.0.1", mac: "02:00:00:97:00:01")
        try topo.addHost("b", ip: "10.97.0.2", mac: "02:00:00:97:00:02")
        try topo.addHost("c", ip: "10.97.0.3", mac: "02:00:00:97:00:03")
        let flows = ["priority=10,icmp actions=NORMAL", "priority=0 actions=NORMAL"]
        let engine = try Engine(configuration: Self.configuration([topo.port("a"), topo.port("b")], flows: flows))
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b").succeeded)
        let icmpBefore = try #require(await Self.flowPackets(engine)["priority=10,icmp actions=NORMAL"])
        #expect(icmpBefore >= 6)
        let portB = topo.port("b")
        let ofportB = await engine.perform { datapath, _ in datapath.port(named: portB)?.ofport }

        // Add port c and a flow, while a ping a → b runs.
        let running = Self.startPing(topo.namespace("a"), "10.97.0.2", count: 40)
        try await Task.sleep(for: .milliseconds(300))
        let added = try await engine.reconfigure(to: Self.configuration(
            [topo.port("a"), topo.port("c"), topo.port("b")], flows: flows + ["priority=20,udp actions=NORMAL"]))
        #expect(added.portsAdded == [topo.port("c")], "\(added)")
        #expect(added.portsRemoved.isEmpty && added.portsKept == 2, "\(added)")
        #expect(added.flowsAdded == 1 && added.flowsKept == 2 && added.flowsRemoved == 0, "\(added)")
        #expect(added.interfacesAttached == [topo.port("c")], "\(added)")
        #expect(added.macEntriesKept >= 2, "\(added)")
        #expect(await engine.interfaceStates()[topo.port("c")] == .attached)
        // b keeps its OpenFlow port number though c comes before it in the new list.
        #expect(await engine.perform { datapath, _ in datapath.port(named: portB)?.ofport } == ofportB)
        #expect(topo.ping("a", "c").succeeded, "the new port carries traffic")
        let firstRun = await running.value
        let first = try #require(Self.pingCounts(firstRun.output), "\(firstRun.output)")
        #expect(first.sent == 40 && first.received == 40, "ping a → b across the reconfiguration: \(firstRun.output)")
        let icmpAfter = try #require(await Self.flowPackets(engine)["priority=10,icmp actions=NORMAL"])
        #expect(icmpAfter >= icmpBefore + 80, "the unchanged flow kept its counters: \(icmpBefore) → \(icmpAfter)")

        // Remove b while a ping a → c runs: no loss.
        let second = Self.startPing(topo.namespace("a"), "10.97.0.3", count: 40)
        try await Task.sleep(for: .milliseconds(300))
        let removed = try await engine.reconfigure(to: Self.configuration([topo.port("a"), topo.port("c")], flows: flows))
        #expect(removed.portsRemoved == [topo.port("b")], "\(removed)")
        #expect(removed.flowsRemoved == 1 && removed.flowsKept == 2, "\(removed)")
        #expect(removed.interfacesDetached == [topo.port("b")], "\(removed)")
        let secondRun = await second.value
        let counts = try #require(Self.pingCounts(secondRun.output), "\(secondRun.output)")
        #expect(counts.sent == 40 && counts.received == 40, "ping a → c while b was removed: \(secondRun.output)")
        #expect(!xdpAttached(topo.port("b")), "the removed port's interface is detached")
        #expect(!topo.ping("a", "b", count: 2, timeout: 1).succeeded, "the removed port no longer forwards")
        #expect(await engine.interfaceStates()[topo.port("b")] == nil)
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
        #expect(stats.framesLost == 0)
    }
}
}
