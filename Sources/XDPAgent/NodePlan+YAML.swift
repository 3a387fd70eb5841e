extension NodePlan {
    /// The node's configuration text (docs/configuration.md), sections in the order the
    /// datapath builds them.
    func yaml() -> String {
        var w = YAMLWriter()
        w.line(0, "# \(view.host.name) (\(view.host.role.rawValue)), host view revision \(view.revision): compiled by xdpswitch agent")
        w.line(0, "bridges:")
        for bridge in bridges {
            w.item(2, Value(text: "name: \(YAMLWriter.quoted(bridge.name))"))
            // A bridge with no port yet (a host with neither tunnel nor VM) is an empty list, not a null.
            w.line(4, bridge.ports.isEmpty ? "ports: []" : "ports:")
            for port in bridge.ports { w.item(6, port.fields) }
            if !bridge.flows.isEmpty {
                w.line(4, "flows:")
                for flow in bridge.flows { w.item(6, .string(flow)) }
            }
        }
        if let tunnel = view.host.tunnel {
            w.line(0, "underlay:")
            w.field(2, "interface", .string(tunnel.interface))
            w.field(2, "address", .string("\(tunnel.ip)/\(tunnel.prefixLength)"))
            if let gateway = tunnel.gateway { w.field(2, "gateway", .string(gateway)) }
            if let mtu = tunnel.mtu { w.field(2, "mtu", .int(mtu)) }
        }
        writeRouters(&w)
        writeDHCP(&w)
        writeSecurityGroups(&w)
        return w.text
    }
}
