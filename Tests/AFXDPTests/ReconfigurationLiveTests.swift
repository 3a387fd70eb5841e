#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Testing
import XDPLab
import XDPSwitch

/// A running engine brought to new configurations (`AFXDPEngine.reconfigure`) and interfaces that
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
    static func flowPackets(_ engine: AFXDPEngine, bridge: String = "br-int") async -> [String: UInt64] {
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

    static let icmpFlows = ["priority=10,icmp actions=NORMAL", "priority=0 actions=NORMAL"]

    /// Hosts a, b, c (10.NET.0.1-3, MACs 02:00:00:MAC:00:0N) and a started engine whose
    /// br-int has a and b with `icmpFlows`; a pings b through it.
    static func startThreeHostLab(_ topo: Topology, net: Int, mac: String) throws -> AFXDPEngine {
        for (n, h) in ["a", "b", "c"].enumerated() {
            try topo.addHost(h, ip: "10.\(net).0.\(n + 1)", mac: "02:00:00:\(mac):00:0\(n + 1)")
        }
        let engine = try AFXDPEngine(configuration: configuration([topo.port("a"), topo.port("b")], flows: icmpFlows))
        try engine.start()
        #expect(topo.ping("a", "b").succeeded)
        return engine
    }

    @Test func addsAPortAndRemovesAnotherWhileTrafficFlowsKeepingFlowCounters() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        let flows = Self.icmpFlows
        let engine = try Self.startThreeHostLab(topo, net: 97, mac: "97")
        defer { engine.close() }
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

    /// Polls `engine.interfaceStates()` until `name` is in `state` (at most `seconds`).
    static func waitFor(_ engine: AFXDPEngine, _ name: String, _ state: InterfaceState?, seconds: Double = 5) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await engine.interfaceStates()[name] == state { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await engine.interfaceStates()[name] == state
    }

    @Test func aPortConfiguredBeforeItsInterfaceExistsIsAttachedWhenItAppears() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.98.0.1", mac: "02:00:00:98:00:01")
        let late = topo.lab.prefix + "late"
        let engine = try AFXDPEngine(configuration: Self.configuration([topo.port("a")]))
        defer { engine.close() }
        try engine.start()
        let summary = try await engine.reconfigure(to: Self.configuration([topo.port("a"), late]))
        #expect(summary.portsAdded == [late] && summary.interfacesAbsent == [late], "\(summary)")
        #expect(await engine.interfaceStates()[late] == .absent)
        let show = await engine.perform { datapath, _ in SwitchText.show(datapath.topology()) } ?? ""
        #expect(show.contains("link_state: down (absent)"), "\(show)")
        // Frames for the absent port are counted and dropped: a's broadcasts flood to it.
        // (ARP requests for an address nobody has).
        topo.lab.run(in: topo.namespace("a"), ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "10.98.0.9"])
        let downDrops = await engine.perform { datapath, _ in datapath.port(named: late)?.stats.drops[.portDown] ?? 0 } ?? 0
        #expect(downDrops > 0, "frames flooded to the absent port are port-down drops")

        try topo.addHost("late", ip: "10.98.0.2", mac: "02:00:00:98:00:02")
        #expect(topo.port("late") == late)
        let lateAttached = await Self.waitFor(engine, late, .attached)
        #expect(lateAttached, "attached once the veth exists: \(engine.attachments)")
        #expect(topo.ping("a", "late").succeeded, "traffic flows through the late port")
        #expect(engine.attachments.contains { $0.interface == late })
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    @Test func anInterfaceDeletedUnderTheEngineGoesDownAndIsReattachedWhenItComesBack() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.99.0.1", mac: "02:00:00:99:00:01")
        try topo.addHost("b", ip: "10.99.0.2", mac: "02:00:00:99:00:02")
        let b = topo.port("b")
        let engine = try AFXDPEngine(configuration: Self.configuration([topo.port("a"), b]))
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b").succeeded)

        let beforeLoss = try #require(engine.statistics().interface(b))
        try Shell.check(["ip", "link", "del", b])
        let wentDown = await Self.waitFor(engine, b, .absent)
        #expect(wentDown, "the deleted interface's port goes down")
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "every frame of the deleted interface's rings is back: \(stats.frames)")
        #expect(stats.framesLost == 0)
        #expect(!topo.ping("a", "b", count: 2, timeout: 1).succeeded)
        let port = await engine.perform { datapath, _ in
            (datapath.port(named: b)?.linkDown, SwitchText.stats(datapath.portStatistics()))
        }
        #expect(port?.0 == "absent", "\(String(describing: port))")
        #expect(port?.1.contains("link down: absent") == true, "\(String(describing: port?.1))")
        // Nothing spins on the dead socket: the worker sleeps while idle.
        let before = engine.statistics()
        try await Task.sleep(for: .milliseconds(500))
        let after = engine.statistics()
        #expect(after.iterations - before.iterations < 2_000, "idle worker iterations: \(after.iterations - before.iterations)")
        #expect(after.frames.isBalanced, "\(after.frames)")

        try topo.lab.addHost(namespace: topo.namespace("b"), switchSide: "b", mac: "02:00:00:99:00:02", address: "10.99.0.2/24")
        let reattached = await Self.waitFor(engine, b, .attached)
        #expect(reattached, "re-attached: \(engine.attachments)")
        #expect(topo.ping("a", "b").succeeded, "traffic flows again through the re-created interface")
        let last = engine.statistics()
        #expect(last.frames.isBalanced, "\(last.frames)")
        #expect(await engine.perform { datapath, _ in datapath.port(named: b)?.linkDown } == .some(nil))
        // The interface's counters carry over its loss: those of the sockets closed with it
        // are added to the new ones', and they keep counting.
        let afterReturn = try #require(last.interface(b))
        #expect(afterReturn.rxPackets > beforeLoss.rxPackets && afterReturn.txPackets > beforeLoss.txPackets,
                "before the loss \(beforeLoss), after the return \(afterReturn)")
        // And a closed engine's (its sockets closed, the interfaces free) stay readable.
        engine.close()
        let closed = try #require(engine.statistics().interface(b))
        #expect(closed.queues == 0 && closed.rxPackets >= afterReturn.rxPackets && closed.txPackets >= afterReturn.txPackets,
                "after close \(closed)")
    }

    @Test func aDeviceSetDownIsNotKickedInALoop() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        let engine = try Self.startThreeHostLab(topo, net: 103, mac: "a3")
        defer { engine.close() }
        let b = topo.port("b")
        try Shell.check(["ip", "link", "set", b, "down"])
        // Frames for b pile up on its TX ring; the kernel refuses to send them.
        _ = topo.ping("a", "b", count: 3, timeout: 1)
        try await Task.sleep(for: .milliseconds(200))
        let before = try #require(engine.statistics().interface(b))
        try await Task.sleep(for: .milliseconds(1000))
        let after = try #require(engine.statistics().interface(b))
        #expect(after.txKicks - before.txKicks < 20, "kicks on a down device in a second: \(after.txKicks - before.txKicks)")
        try Shell.check(["ip", "link", "set", b, "up"])
        try await Task.sleep(for: .milliseconds(300))
        #expect(topo.ping("a", "b").succeeded, "traffic flows once the device is up again")
        #expect(engine.statistics().frames.isBalanced)
    }

    @Test func aRefusedConfigurationChangesNothing() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        let flows = Self.icmpFlows
        let engine = try Self.startThreeHostLab(topo, net: 100, mac: "a0")
        defer { engine.close() }
        let before = await Self.flowPackets(engine)
        let show = await engine.perform { datapath, _ in SwitchText.show(datapath.topology()) }
        do {
            _ = try await engine.reconfigure(to: Self.configuration(
                [topo.port("a"), topo.port("b"), topo.port("c")], flows: flows + ["priority=20,tcp,nonsense=1 actions=NORMAL"]))
            Issue.record("a bad flow was accepted")
        } catch {
            #expect("\(error)".contains("test.yaml") && "\(error)".contains("nonsense"), "\(error)")
        }
        #expect(await engine.perform { datapath, _ in SwitchText.show(datapath.topology()) } == show, "the ports are as before")
        #expect(await Self.flowPackets(engine) == before, "the flows and their counters are as before")
        #expect(await engine.interfaceStates()[topo.port("c")] == nil)
        #expect(!xdpAttached(topo.port("c")), "the refused configuration's new interface was never attached")
        #expect(topo.ping("a", "b").succeeded)
        #expect(engine.statistics().frames.isBalanced)
    }

    @Test func pingsThroughASecurityGroupKeepFlowingAcross20Reconfigurations() async throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.101.0.1", mac: "02:00:00:a1:00:01")
        try topo.addHost("b", ip: "10.101.0.2", mac: "02:00:00:a1:00:02")
        for x in ["x", "y"] { try topo.addHost(x, ip: "10.101.0.\(x == "x" ? 3 : 4)", mac: "02:00:00:a1:00:0\(x == "x" ? 3 : 4)") }
        func config(extra: [String], rules: Int) throws -> SwitchConfiguration {
            var groups = "security_groups:\n  - id: web\n    rules:\n      - {direction: egress}\n"
            groups += "      - {direction: ingress, protocol: icmp}\n"
            for r in 0..<rules { groups += "      - {direction: ingress, protocol: tcp, port_range_min: \(2000 + r), port_range_max: \(2000 + r)}\n" }
            groups += "ports:\n"
            for (h, n) in [("a", 1), ("b", 2)] + extra.map({ ($0, $0 == "x" ? 3 : 4) }) {
                groups += "  - {name: \(topo.port(h)), mac_address: 02:00:00:a1:00:0\(n), fixed_ips: [10.101.0.\(n)], security_groups: [web]}\n"
            }
            return try Self.configuration(([topo.port("a"), topo.port("b")] + extra.map { topo.port($0) }), extra: groups)
        }
        let engine = try AFXDPEngine(configuration: config(extra: [], rules: 0))
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b").succeeded, "the group admits ICMP")
        let portA = topo.port("a")
        let zoneA = try #require(await engine.perform { datapath, _ in datapath.port(named: portA).map { UInt16($0.ofport) } })

        let count = 300
        let running = Self.startPing(topo.namespace("a"), "10.101.0.2", count: count, interval: "0.02")
        try await Task.sleep(for: .milliseconds(200))
        let entryBefore = await engine.perform { datapath, _ in datapath.conntrackConnections(zone: zoneA).map(\.description).filter { $0.contains("icmp") } } ?? []
        #expect(!entryBefore.isEmpty, "the ping's connection is tracked in a's zone")
        var kept = 0
        for round in 0..<20 {
            let extra = [["x"], ["x", "y"], ["y"], []][round % 4]
            let summary = try await engine.reconfigure(to: config(extra: extra, rules: round % 3))
            #expect(summary.conntrackKept, "\(summary)")
            kept += summary.flowsKept
        }
        #expect(kept > 0)
        let result = await running.value
        let counts = try #require(Self.pingCounts(result.output), "\(result.output)")
        #expect(counts.sent == count && counts.received == count, "ping through the group across 20 reconfigurations: \(result.output)")
        let entryAfter = await engine.perform { datapath, _ in datapath.conntrackConnections(zone: zoneA).map(\.description).filter { $0.contains("icmp") } } ?? []
        let idOf = { (line: String) in line.split(separator: ",").first { $0.hasPrefix("id=") } }
        #expect(!entryAfter.isEmpty && entryAfter.map(idOf) == entryBefore.map(idOf),
                "the same connection, kept: \(entryBefore) → \(entryAfter)")
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
        #expect(stats.framesLost == 0)
    }

    @Test func xdpswitchReloadReReadsTheFileAndAppliesIt() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.102.0.1", mac: "02:00:00:a2:00:01")
        try topo.addHost("b", ip: "10.102.0.2", mac: "02:00:00:a2:00:02")
        try topo.addHost("c", ip: "10.102.0.3", mac: "02:00:00:a2:00:03")
        let config = "/tmp/\(topo.lab.prefix)-reload.yaml"
        let control = "/tmp/\(topo.lab.prefix)-reload.ctl"
        let log = "/tmp/\(topo.lab.prefix)-reload.log"
        defer { Shell.run(["rm", "-f", config, control, log]) }
        func write(_ text: String) throws { try Shell.check(["sh", "-c", "cat > \(config) <<'EOF'\n\(text)EOF"]) }
        try write(Self.yaml([topo.port("a"), topo.port("b")]))
        let pid = try Shell.spawn([binary, "run", "--config", config, "--control", control], logPath: log)
        defer { kill(pid, SIGTERM); _ = Shell.wait(pid) }
        for _ in 0..<100 where !(xdpAttached(topo.port("a")) && xdpAttached(topo.port("b"))) { usleep(50_000) }
        usleep(100_000)
        #expect(topo.ping("a", "b").succeeded)
        #expect(!topo.ping("a", "c", count: 1, timeout: 1).succeeded)

        try write(Self.yaml([topo.port("a"), topo.port("b"), topo.port("c")]))
        let reload = Shell.run([binary, "reload", "--control", control])
        #expect(reload.succeeded && reload.output.contains("ports +1 -0 =2"), "\(reload.output)")
        #expect(topo.ping("a", "c").succeeded, "the reloaded configuration's new port forwards")
        let help = Shell.run([binary, "list-commands", "--control", control])
        #expect(help.output.contains("reload"), "\(help.output)")

        try write("bridges:\n  - name: br-int\n    ports:\n      - {name: \(topo.port("a")), tag: 5000}\n")
        let refused = Shell.run([binary, "reload", "--control", control])
        #expect(!refused.succeeded && refused.output.contains("tag"), "\(refused.output)")
        #expect(topo.ping("a", "c").succeeded, "a refused reload changes nothing")
        #expect(topo.ping("b", "a").succeeded)
    }
}
}
