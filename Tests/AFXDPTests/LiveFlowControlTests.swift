#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Testing
import XDPSwitch

extension AFXDPIntegrationTests {
/// Flow tables changed while traffic runs, through the control socket the way
/// `xdpswitch add-flow` / `del-flows` / `dump-flows` do it.
@Suite("flow changes on a running switch")
struct LiveFlowControlTests {
    @Test func addFlowDropsTrafficAndDelFlowsRestoresIt() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.96.0.1", mac: "02:00:00:96:00:01")
        try topo.addHost("b", ip: "10.96.0.2", mac: "02:00:00:96:00:02")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 3), (topo.port("b"), 3)]))
        defer { engine.close() }
        try engine.start()
        let path = "/tmp/\(topo.lab.prefix)-ctl.sock"
        let server = try ControlServer(path: path) { request in
            engine.perform { datapath, now in SwitchControl.handle(request, datapath: datapath, now: now) } ?? .failure("no datapath")
        }
        defer { server.close() }
        func control(_ command: String, _ args: String...) throws -> ControlSocket.Reply {
            try ControlSocket.send(.init(command: command, arguments: args), to: path)
        }

        #expect(topo.ping("a", "b").succeeded)
        let add = try control("add-flow", "br-int", "priority=10,icmp actions=drop")
        #expect(add.ok, "\(add.output)")
        let blocked = topo.ping("a", "b", count: 2, timeout: 1)
        #expect(!blocked.succeeded, "ICMP passes a drop flow: \(blocked.output)")
        let dump = try control("dump-flows", "br-int")
        let dropLine = try #require(dump.output.split(separator: "\n").first { $0.contains("priority=10,icmp") })
        #expect(!dropLine.contains("n_packets=0,"), "\(dropLine)")
        #expect(dump.output.contains("priority=0 actions=NORMAL"))
        #expect(try control("del-flows", "br-int", "priority=10,icmp", "--strict").output == "deleted 1 flow\n")
        #expect(topo.ping("a", "b").succeeded, "traffic flows again after del-flows")
        let fdb = try control("fdb/show", "br-int")
        #expect(fdb.output.contains("02:00:00:96:00:01") && fdb.output.contains("02:00:00:96:00:02"), "\(fdb.output)")
        #expect(!(try control("dump-flows", "br-nope")).ok)
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }
}
}
