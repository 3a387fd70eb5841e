import XDPPacket

extension Datapath {
    /// The bridges and ports in the layout of `ovs-vsctl show` (ports in configuration
    /// order; `ofport` is added since there is no separate `ovs-ofctl show`).
    public func showDescription(header: String = "XDPSwitch") -> String {
        var out = header + "\n"
        for bridge in bridges {
            out += "    Bridge \(bridge.name)\n"
            for id in bridge.portIDs {
                let port = ports[id]
                out += "        Port \(port.name)\n"
                if port.tag != 0 { out += "            tag: \(port.tag)\n" }
                if port.tag == 0 && !port.trunks.isAll { out += "            trunks: \(port.trunks)\n" }
                out += "            Interface \(port.name)\n"
                if port.type != .system { out += "                type: \(port.type)\n" }
                if case .patch(let peer) = port.type { out += "                options: {peer=\(peer)}\n" }
                if port.serviceKind == .router { out += "                options: {router=\(routers[port.serviceIndex].name)}\n" }
                if port.serviceKind == .dhcp { out += "                options: {network=\(dhcpResponders[port.serviceIndex].network)}\n" }
                out += "                ofport: \(port.ofport)\n"
                if let down = port.linkDown { out += "                link_state: down (\(down))\n" }
            }
        }
        out += routersDescription()
        return out
    }

    /// Drop counters as the stats verbs print them: `reason=N,...` by reason, `-` for none.
    static func dropList<Reason: RawRepresentable>(_ drops: [Reason: UInt64]) -> String
    where Reason.RawValue: Comparable {
        let items = drops.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" }
        return items.isEmpty ? "-" : items.joined(separator: ",")
    }

    /// Per-port counters as a table: port, rx, tx, drops and the drop reasons.
    public func statsDescription() -> String {
        var out = "port              rx-pkts    rx-bytes    tx-pkts    tx-bytes   drops  reasons\n"
        for port in ports {
            let s = port.stats
            let reasons = s.drops.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            out += port.name + String(repeating: " ", count: max(1, 14 - port.name.count))
            for value in [s.rxPackets, s.rxBytes, s.txPackets, s.txBytes, s.totalDrops] {
                out += rightAligned(String(value), 11)
            }
            out += "  " + (reasons.isEmpty ? "-" : reasons) + (port.linkDown.map { "  (link down: \($0))" } ?? "") + "\n"
        }
        return out
    }

    /// The MAC learning table of `bridge` in the layout of `ovs-appctl fdb/show`.
    public func fdbDescription(_ bridge: Bridge, now: DatapathInstant) -> String {
        var out = " port  VLAN  MAC                Age\n"
        for entry in bridge.macTable.entries(now: now) {
            out += rightAligned(String(ports[entry.port].ofport), 5) + rightAligned(String(entry.vlan), 6)
            out += "  \(MACAddress(rawValue: entry.mac))  \(entry.age)\n"
        }
        return out
    }
}

/// `text` preceded by spaces to `width` columns (at least one space).
func rightAligned(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(1, width - text.count)) + text
}
