import XDPDatapath

/// `sg` scenarios: packets the VM's ingress filter let through as established connections
/// and as new ones (the rule), from the peer's own counters — the proof that the measured
/// stream is established (the `+est` flow / the RELATED,ESTABLISHED rule), not re-checked
/// against the rules packet by packet. `compute`: the same for the VM's egress filter.
public struct FirewallCounts: Sendable {
    public var established: UInt64
    public var new: UInt64

    /// From Open vSwitch's `ovs-ofctl dump-flows` lines of `table` (82: `sg`'s ingress rules,
    /// 72: `compute`'s egress rules).
    public init(dumpLines: [String], table: Int = 82) {
        func packets(_ line: String) -> UInt64 {
            guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("n_packets=") }) else { return 0 }
            return UInt64(field.dropFirst("n_packets=".count).prefix { $0.isNumber }) ?? 0
        }
        self.init(counted: dumpLines.filter { $0.contains("table=\(table),") }.map { ($0, packets($0)) })
    }

    /// From our datapath's flows (`Datapath.flowStatistics(bridge:now:)`) of `table`.
    public init(flows: [FlowStatistics], table: Int = 82) {
        self.init(counted: flows.filter { Int($0.rule.table) == table }.map { ($0.rule.matchDescription, $0.packets) })
    }

    /// The packets of the `+est` and of the `+new` flows among `flows` (match text, packets).
    private init(counted flows: [(match: String, packets: UInt64)]) {
        established = flows.filter { $0.match.contains("ct_state=+est") }.map(\.packets).reduce(0, +)
        new = flows.filter { $0.match.contains("ct_state=+new") }.map(\.packets).reduce(0, +)
    }

    /// From `iptables -nvxL sg-ingress` / `sg-egress` (pkts is the first column).
    public init(iptablesLines: [String]) {
        func packets(_ line: String) -> UInt64 { UInt64(line.split(separator: " ").first ?? "") ?? 0 }
        established = iptablesLines.filter { $0.contains("RELATED,ESTABLISHED") }.map(packets).reduce(0, +)
        new = iptablesLines.filter { $0.contains("ACCEPT") && !$0.contains("RELATED,ESTABLISHED") }.map(packets).reduce(0, +)
    }
}
