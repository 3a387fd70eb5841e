#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization
import Testing
import XDPLab
import XDPSwitch
@testable import XDPNodeAgent

/// What the agent does with the views it receives, on the real engine (no server: the views
/// are handed in as they arrive): a view applied, a view that changes nothing but the
/// revision not applied again, a view the compiler refuses logged with its message while the
/// previous configuration keeps running, and the next good revision applied in place.
@Suite(.serialized) struct NodeAgentReconcileTests {
    static var isRoot: Bool {
        if getuid() != 0 { print("NodeAgentReconcileTests: skipped: needs root (AF_XDP)") }
        return getuid() == 0
    }

    /// A view of host h1 (role all, the tunnel on `underlay`) with network net-a, its DHCP
    /// service and the VM ports `ports` (index → port id suffix); `broken` adds a port on a
    /// network the view does not have.
    static func view(revision: Int, underlay: String, ports: [Int], broken: Bool = false) -> Data {
        var portList = ports.map { i in
            """
            {"id": "port\(i)aaaaaaaaaaaa", "network_id": "net-a", "mac_address": "fa:16:3e:00:01:0\(i)",
             "fixed_ips": [{"subnet_id": "sub-a", "ip_address": "10.64.0.1\(i)"}], "device_owner": "compute:nova"}
            """
        }
        if broken {
            portList.append("""
                {"id": "portbroken", "network_id": "net-missing", "mac_address": "fa:16:3e:00:01:99", "device_owner": "compute:nova"}
                """)
        }
        return Data("""
            {"format_version": 1, "revision": \(revision),
             "host": {"name": "h1", "role": "all", "tunnel": {"ip": "172.30.9.1", "prefix_length": 24, "interface": "\(underlay)"}},
             "networks": [{"id": "net-a", "network_type": "gre", "segmentation_id": 7,
                           "subnets": [{"id": "sub-a", "cidr": "10.64.0.0/24", "gateway_ip": "10.64.0.1"}]}],
             "ports": [\(portList.joined(separator: ","))],
             "dhcp": [{"network_id": "net-a", "port_id": "dhcpaaaaaaaaaaaa", "mac_address": "fa:16:3e:00:01:02",
                       "fixed_ips": [{"subnet_id": "sub-a", "ip_address": "10.64.0.2"}], "hosts": []}]}
            """.utf8)
    }

    @Test(.enabled(if: isRoot)) func viewsAreAppliedComparedAndRefused() async throws {
        let lab = LabNetwork(tag: "r")
        defer { lab.tearDown() }
        let underlay = lab.prefix + "ul"
        try Shell.check(["ip", "link", "add", underlay, "type", "veth", "peer", "name", lab.prefix + "up"])
        defer { Shell.run(["ip", "link", "del", underlay]) }
        try Shell.check(["ip", "link", "set", underlay, "up"])
        let folder = NSTemporaryDirectory() + "xdpswitch-agent-\(getpid())-\(lab.prefix)"
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let lines = Mutex<[String]>([])
        let settings = try AgentSettings(AgentSettings.Fields([
            "server": "http://127.0.0.1:1", "host": "h1", "role": "all", "tunnel-ip": "172.30.9.1/24",
            "tunnel-interface": underlay, "state-dir": folder]))
        let datapath = EngineNodeDatapath()
        defer { datapath.close() }
        let levels = Mutex<[String: Logger.Level]>([:])
        let logger = Logger(label: "test") { _ in CapturingLogHandler { level, line in
            lines.withLock { $0.append(line) }
            levels.withLock { $0[line] = level }
        } }
        let agent = try NodeAgent(settings: settings, datapath: datapath, logger: logger)
        func applies() -> Int { lines.withLock { $0.filter { $0.contains(" applied: ") }.count } }
        func flows() -> String { datapath.answerControlRequest(ControlSocket.Request(command: "dump-flows", arguments: ["br-int"])).output }

        #expect(await agent.receive(Self.view(revision: 1, underlay: underlay, ports: [1])) == 1)
        #expect(await agent.appliedRevision == 1)
        #expect(applies() == 1)
        #expect(flows().contains("fa:16:3e:00:01:01"))
        let first = try String(contentsOfFile: folder + "/node.yaml", encoding: .utf8)

        // The same node at a later revision: not applied again; node.yaml names the revision.
        #expect(await agent.receive(Self.view(revision: 2, underlay: underlay, ports: [1])) == 2)
        #expect(await agent.appliedRevision == 2)
        #expect(applies() == 1)
        let second = try String(contentsOfFile: folder + "/node.yaml", encoding: .utf8)
        #expect(second.hasPrefix("# h1 (all), host view revision 2"))
        #expect(NodeAgent.withoutHeader(second) == NodeAgent.withoutHeader(first))

        // Refused by the compiler: logged with its message, revision 2 keeps running.
        #expect(await agent.receive(Self.view(revision: 3, underlay: underlay, ports: [1, 2], broken: true)) == 3)
        #expect(await agent.appliedRevision == 2)
        let refusal = lines.withLock { $0.first { $0.contains("revision 3 refused") } }
        #expect(refusal == "revision 3 refused: host view: ports[2].network_id: network net-missing is not in the view's networks; revision 2 keeps running")
        #expect(levels.withLock { $0[refusal ?? ""] } == .error, "a refusal is logged as an error")
        #expect(!flows().contains("fa:16:3e:00:01:02"))
        #expect(try String(contentsOfFile: folder + "/node.yaml", encoding: .utf8) == second)

        // Not even a view: refused, nothing changes.
        #expect(await agent.receive(Data("{\"format_version\": 2, \"revision\": 4}".utf8)) == 4)
        #expect(lines.withLock { $0.contains { $0.hasPrefix("revision 4 refused: host view: format_version: unknown format version 2") } })
        #expect(await agent.appliedRevision == 2)

        // The next good revision: applied in place, the new port's flows there.
        #expect(await agent.receive(Self.view(revision: 5, underlay: underlay, ports: [1, 2])) == 5)
        #expect(await agent.appliedRevision == 5)
        #expect(applies() == 2)
        #expect(flows().contains("fa:16:3e:00:01:02"))
        #expect(lines.withLock { $0.last { $0.contains(" applied: ") } ?? "" }.contains("added:tapport2aaaaaa"))
    }
}

/// A `LogHandler` handing each event's level and message to `record`.
struct CapturingLogHandler: LogHandler {
    let record: @Sendable (Logger.Level, String) -> Void
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { record(event.level, "\(event.message)") }
}
