import XDPDatapath
import XDPPacket

// The text the control socket and `xdpswitch` print, built from the values the datapath
// returns (`Datapath.topology()`, `portStatistics()`, `fdb(bridge:now:)`,
// `routerSnapshot(_:)`, `conntrackConnections(zone:)`, `flowStatistics(bridge:now:)`, …).
// The layouts are those of the tools an operator of Neutron's Open vSwitch agent knows:
// `ovs-vsctl show`, `ovs-appctl fdb/show`, `ovs-ofctl dump-flows`, `dpctl/dump-conntrack`,
// `ip route`, `ip neigh`. Each function is pure: values in, text out, every line ended by
// a newline.

/// Renders the datapath's snapshot values as the text of the switch's commands.
public enum SwitchText {
    /// The bridges, their ports and the routers in the layout of `ovs-vsctl show` (ports
    /// in configuration order; `ofport` is added since there is no separate `ovs-ofctl show`).
    public static func show(_ topology: DatapathTopology, header: String = "XDPSwitch") -> String {
        var out = header + "\n"
        for bridge in topology.bridges {
            out += "    Bridge \(bridge.name)\n"
            for port in bridge.ports {
                out += "        Port \(port.name)\n"
                if port.tag != 0 { out += "            tag: \(port.tag)\n" }
                if port.tag == 0 && !port.trunks.isAll { out += "            trunks: \(port.trunks)\n" }
                out += "            Interface \(port.name)\n"
                if port.type != .system { out += "                type: \(port.type)\n" }
                if case .patch(let peer) = port.type { out += "                options: {peer=\(peer)}\n" }
                if let router = port.router { out += "                options: {router=\(router)}\n" }
                if let network = port.dhcpNetwork { out += "                options: {network=\(network)}\n" }
                out += "                ofport: \(port.ofport)\n"
                if let down = port.linkDown { out += "                link_state: down (\(down))\n" }
            }
        }
        out += routers(topology.routers)
        return out
    }

    /// Per-port counters as a table: port, rx, tx, drops and the drop reasons.
    public static func stats(_ ports: [PortStatsEntry]) -> String {
        var out = "port              rx-pkts    rx-bytes    tx-pkts    tx-bytes   drops  reasons\n"
        for port in ports {
            let s = port.stats
            out += port.name + String(repeating: " ", count: max(1, 14 - port.name.count))
            for value in [s.rxPackets, s.rxBytes, s.txPackets, s.txBytes, s.totalDrops] {
                out += rightAligned(String(value), 11)
            }
            out += "  " + dropList(s.drops) + (port.linkDown.map { "  (link down: \($0))" } ?? "") + "\n"
        }
        return out
    }

    /// A bridge's MAC learning table in the layout of `ovs-appctl fdb/show`.
    public static func fdb(_ entries: [FDBEntry]) -> String {
        var out = " port  VLAN  MAC                Age\n"
        for entry in entries {
            out += rightAligned(String(entry.ofport), 5) + rightAligned(String(entry.vlan), 6)
            out += "  \(entry.mac)  \(entry.age.components.seconds)\n"
        }
        return out
    }

    /// Flows as `ovs-ofctl dump-flows` prints them, one line each.
    public static func flows(_ flows: [FlowStatistics]) -> String {
        lines(flows)
    }

    /// The in-kernel fast path's entries like `ovs-appctl dpctl/dump-flows`, then the
    /// frames dropped while no socket ran when any; `fast path: off` without one.
    public static func fastPath(_ dump: FastPathDump?) -> String {
        guard let dump else { return "fast path: off\n" }
        return lines(dump.entries)
            + (dump.framesDroppedWithoutSocket > 0 ? "frames dropped while no socket: \(dump.framesDroppedWithoutSocket)\n" : "")
    }

    /// Drop counters as the stats verbs print them: `reason=N,...` by reason, `-` for none.
    static func dropList<Reason: RawRepresentable>(_ drops: [Reason: UInt64]) -> String
    where Reason.RawValue: Comparable {
        let items = drops.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" }
        return items.isEmpty ? "-" : items.joined(separator: ",")
    }

    /// Each value's `description` on a line of its own.
    static func lines<Value: CustomStringConvertible>(_ values: [Value]) -> String {
        values.map { $0.description + "\n" }.joined()
    }

    /// `text` preceded by spaces to `width` columns (at least one space).
    static func rightAligned(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(1, width - text.count)) + text
    }
}
