import Testing
import XDPSwitch

/// `dump-conntrack`, `flush-conntrack` and `conntrack-stats` on the control path, over a
/// bridge whose flows commit UDP in zone 5 from reg6.
@Suite struct ConntrackControlTests {
    static let yaml = """
        bridges:
          - name: br
            ports: [{name: p1}, {name: p2}]
            flows:
              - "table=0,priority=100,ip,in_port=1 actions=load:5->NXM_NX_REG6[0..15],ct(commit,zone=NXM_NX_REG6[0..15]),output:2"
              - "table=0,priority=0 actions=drop"
        """

    @Test func dumpFlushAndStats() throws {
        let dp = try SwitchConfiguration.parse(yaml: Self.yaml).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        func run(_ command: String, _ args: [String] = []) -> ControlSocket.Reply {
            SwitchControl.handle(.init(command: command, arguments: args), datapath: dp, now: DatapathInstant(nanoseconds: 5_000_000_000))
        }
        let a = MACAddress("fa:16:3e:00:00:0a")!, b = MACAddress("fa:16:3e:00:00:0b")!
        for sport: UInt16 in [1000, 1001] {
            dp.inject(FrameBuilder().ethernet(source: a, destination: b)
                .ipv4(source: IPv4Address(10, 1, 0, 10), destination: IPv4Address(10, 1, 0, 11))
                .udp(sourcePort: sport, destinationPort: 53).payload(count: 18).build(), into: dp.port(named: "p1")!, now: DatapathInstant(nanoseconds: 1))
        }
        #expect(run("dump-conntrack", ["zone=5"]).output == """
            udp,orig=(src=10.1.0.10,dst=10.1.0.11,sport=1000,dport=53),reply=(src=10.1.0.11,dst=10.1.0.10,sport=53,dport=1000),zone=5
            udp,orig=(src=10.1.0.10,dst=10.1.0.11,sport=1001,dport=53),reply=(src=10.1.0.11,dst=10.1.0.10,sport=53,dport=1001),zone=5

            """)
        #expect(run("conntrack-stats").output.contains("connections: 2 "))
        #expect(run("conntrack-stats").output.contains("  zone 5: 2\n"))
        #expect(run("flush-conntrack", ["zone=5", "ct_nw_proto=17,ct_tp_src=1001"]).output == "flushed 1 connection\n")
        #expect(run("dump-conntrack").output.contains("sport=1001") == false)
        #expect(run("flush-conntrack", ["zone=6"]).output == "flushed 0 connections\n")
        #expect(run("flush-conntrack").output == "flushed 1 connection\n")
        #expect(run("dump-conntrack").output == "")
        let bad = run("flush-conntrack", ["ct_tp_dst=99999"])
        #expect(!bad.ok && bad.output.contains("ct_tp_dst"))
        #expect(!run("dump-conntrack", ["zone=x"]).ok)
    }
}
