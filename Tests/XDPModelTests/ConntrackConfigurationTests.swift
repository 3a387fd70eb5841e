import Testing
import XDPDatapath
import XDPModel

/// The `conntrack:` section of the YAML configuration.
@Suite struct ConntrackConfigurationTests {
    static let bridges = "bridges:\n  - name: br\n    ports: [{name: p1}]\n"

    @Test func readsEveryKey() throws {
        let yaml = Self.bridges + """
        conntrack:
          max_connections: 1000
          zone_limit: 50
          zone_limits: [{zone: 5, limit: 7}]
          tcp_loose: true
          tcp_window_checking: false
          fragment_timeout: 4
          fragment_contexts: 8
          timeouts: {tcp_established: 600, udp_first: 10, icmp_reply: 3}
        """
        let c = try SwitchConfiguration.parse(yaml: yaml).datapath.conntrack
        #expect(c.capacity == 1000 && c.defaultZoneLimit == 50 && c.zoneLimits == [5: 7])
        #expect(c.tcpLoose && !c.tcpWindowChecking && c.fragmentTimeout == .seconds(4) && c.fragmentContexts == 8)
        #expect(c.timeouts.tcpEstablished == .seconds(600) && c.timeouts.udpFirst == .seconds(10) && c.timeouts.icmpReply == .seconds(3))
        #expect(c.timeouts.tcpSynSent == ConntrackTimeouts().tcpSynSent)
    }

    @Test func defaultsWithoutTheSection() throws {
        #expect(try SwitchConfiguration.parse(yaml: Self.bridges).datapath.conntrack == ConntrackConfiguration())
    }

    @Test func refusalsNameTheKey() {
        func refusal(_ body: String) -> String? {
            do { _ = try SwitchConfiguration.parse(yaml: Self.bridges + body, file: "t.yaml"); return nil } catch { return "\(error)" }
        }
        #expect(refusal("conntrack: {max_connections: 3}")?.contains("conntrack.max_connections") == true)
        #expect(refusal("conntrack: {timeouts: {tcp_forever: 1}}")?.contains("unknown key") == true)
        #expect(refusal("conntrack: {tcp_loose: maybe}")?.contains("true or false") == true)
        #expect(refusal("conntrack: {zone_limits: [{zone: 70000, limit: 1}]}")?.contains("outside") == true)
    }
}
