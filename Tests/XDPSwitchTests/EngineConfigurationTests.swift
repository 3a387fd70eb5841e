#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import XDPSwitch

/// `AFXDPEngine(configuration: SwitchConfiguration)` builds what `xdpswitch run` builds: the
/// same YAML (with security groups) gives the same flows, compared as `dump-flows` prints
/// them, on a veth pair (root: AF_XDP and XDP attach).
@Suite(.serialized) struct EngineConfigurationTests {
    /// Two veth pairs of this process: the switch's ports `a` and `b` (`xce<pid><set>a0`,
    /// `…b0`), each with its peer up (`…1`); removed by `remove()`.
    struct VethPair {
        let a: String, b: String
        init(set: Character = "x") throws {
            let tag = String(getpid() % 10_000) + String(set)
            (a, b) = ("xce\(tag)a0", "xce\(tag)b0")
            for end in [a, b] {
                let peer = String(end.dropLast()) + "1"
                _ = try? Self.ip(["link", "del", end])
                try Self.ip(["link", "add", end, "type", "veth", "peer", "name", peer])
                try Self.ip(["link", "set", end, "up"])
                try Self.ip(["link", "set", peer, "up"])
            }
        }
        func remove() { for end in [a, b] { _ = try? Self.ip(["link", "del", end]) } }

        @discardableResult
        static func ip(_ arguments: [String]) throws -> Int32 {
            try BuiltProducts.run("/usr/sbin/ip", arguments)
        }
    }

    /// `dump-flows` lines without what differs between two runs of the same flows:
    /// age and counters (the kernel's own frames on a new link may hit some flows).
    static func comparable(_ lines: [String]) -> [String] {
        lines.map { $0.replacing(/\s?(duration|n_packets|n_bytes|idle_age|hard_age)=[^, ]*,/, with: "") }.sorted()
    }

    static func yaml(_ pair: VethPair) -> String {
        """
        bridges:
          - name: br-int
            ports:
              - {name: \(pair.a), tag: 1}
              - {name: \(pair.b), tag: 1}
        security_groups:
          - id: web
            rules:
              - {direction: egress}
              - {direction: ingress, protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: 0.0.0.0/0}
              - {direction: ingress, protocol: icmp}
        ports:
          - {name: \(pair.a), mac_address: "fa:16:3e:00:00:0a", fixed_ips: [10.7.0.10], security_groups: [web]}
          - {name: \(pair.b), mac_address: "fa:16:3e:00:00:0b", fixed_ips: [10.7.0.11], security_groups: [web]}

        """
    }

    /// `engine`'s br-int flows while it runs; the engine is gone (its sockets closed, the
    /// interfaces free for the next one) when this returns.
    static func flows(of engine: AFXDPEngine) async throws -> [String]? {
        try engine.start()
        defer { engine.close() }
        return await engine.perform { datapath, now in try? datapath.flowStatistics(bridge: "br-int", now: now).map(\.description) } ?? nil
    }

    /// `xdpswitch`, built beside the test runner.
    static var binary: String { BuiltProducts.path("xdpswitch") }

    @Test func engineFromYAMLInstallsTheFlowsOfXDPSwitchRun() async throws {
        try #require(access(Self.binary, X_OK) == 0, "build xdpswitch first (swift build)")
        let pair = try VethPair()
        defer { pair.remove() }
        let file = "/tmp/\(pair.a).yaml", socket = "/tmp/\(pair.a).ctl", dump = "/tmp/\(pair.a).flows"
        defer { for path in [file, socket, dump] { unlink(path) } }
        try Self.yaml(pair).write(toFile: file, atomically: true, encoding: .utf8)

        // 1. `xdpswitch run`, then `xdpswitch dump-flows` against it.
        let run = Process()
        run.executableURL = URL(fileURLWithPath: Self.binary)
        run.arguments = ["run", "--config", file, "--control", socket]
        run.standardOutput = FileHandle.nullDevice
        try run.run()
        defer { if run.isRunning { run.terminate(); run.waitUntilExit() } }
        var answered = false
        for _ in 0..<200 where !answered {
            answered = (try? ControlSocket.send(.init(command: "ping"), to: socket))?.ok == true
            if !answered { usleep(50_000) }
        }
        try #require(answered, "xdpswitch run did not open its control socket")
        #expect(FileManager.default.createFile(atPath: dump, contents: nil))
        let out = try #require(FileHandle(forWritingAtPath: dump))
        #expect(try BuiltProducts.run(Self.binary, ["dump-flows", "br-int", "--control", socket], output: out) == 0)
        try out.close()
        run.terminate()
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        let fromRun = try String(contentsOfFile: dump, encoding: .utf8).split(separator: "\n").map(String.init)

        // 2. The library's one way from configuration to engine, on the same interfaces.
        let fromEngine = try #require(await Self.flows(of: AFXDPEngine(configuration: SwitchConfiguration.load(path: file))))

        #expect(fromRun.count > 20, "the security groups' flows are there: \(fromRun.count) flows")
        #expect(Self.comparable(fromEngine) == Self.comparable(fromRun))
        // The datapath configuration alone leaves the security groups out (as its init says).
        let bare = try #require(await Self.flows(of: AFXDPEngine(configuration: SwitchConfiguration.load(path: file).datapath)))
        #expect(bare.count < fromRun.count)
    }

    @Test func performRunsOnTheWorkerFromManyTasksAndAfterStop() async throws {
        let pair = try VethPair()
        defer { pair.remove() }
        let configuration = try SwitchConfiguration.parse(yaml: Self.yaml(pair))
        let engine = try AFXDPEngine(configuration: configuration)
        try engine.start()
        // Concurrent tasks change the datapath only through perform: each adds a flow.
        await withTaskGroup(of: Void.self) { group in
            for n in 1...8 {
                group.addTask {
                    _ = await engine.perform { datapath, now in
                        try? datapath.addFlow(FlowParser.parse("table=0,priority=\(1000 + n),dl_vlan=\(n) actions=drop"), bridge: "br-int", now: now)
                    }
                }
            }
        }
        engine.stop()
        // Stopped: perform runs on the caller, still serialised with start().
        let added = await engine.perform { datapath, now in
            let lines = (try? datapath.flowStatistics(bridge: "br-int", now: now).map(\.description)) ?? []
            return (1...8).filter { n in lines.contains { $0.contains("priority=\(1000 + n),dl_vlan=\(n) ") } }.count
        }
        engine.close()
        #expect(added == 8)
    }

    /// A `DatapathConfiguration` the datapath refuses is thrown as `.configuration` with
    /// the datapath's own error, before any interface is touched (the configuration has
    /// none: one internal port).
    @Test func datapathConfigurationRefusalIsTyped() throws {
        let configuration = DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br0", ports: [PortConfiguration(name: "xcebad0", type: .internal, tag: 5000)]),
        ])
        let refusal = try #require(throws: DatapathConfigurationError.self) {
            _ = try Datapath(configuration: configuration, pool: FramePool(frameCount: 8), now: .zero)
        }
        do {
            _ = try AFXDPEngine(configuration: configuration)
            Issue.record("the engine accepted VLAN tag 5000")
        } catch .configuration(let error) {
            #expect(error == refusal)
            #expect(AFXDPEngineError<DatapathConfigurationError>.configuration(error).description == refusal.description)
        } catch .system(let error) {
            Issue.record("expected the datapath's refusal, got \(error)")
        }
    }

    @Test func configurationErrorsAreTyped() throws {
        let configuration = try SwitchConfiguration.parse(yaml: "bridges:\n  - name: br0\n    ports:\n      - {name: xcenosuch0}\n")
        #expect {
            _ = try AFXDPEngine(configuration: configuration)
        } throws: { error in
            guard case .system(let system) = error as? EngineSetupError else { return false }
            return system.description.contains("xcenosuch0")
        }
    }
}
