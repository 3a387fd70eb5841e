import XDPDatapath

extension SwitchConfiguration {
    /// The `conntrack:` section (docs/configuration.md):
    ///
    /// ```yaml
    /// conntrack:
    ///   max_connections: 65536        # global limit = table size
    ///   zone_limit: 0                 # default per-zone limit, 0: none
    ///   zone_limits: [{zone: 5, limit: 1000}]
    ///   tcp_loose: false              # pick up TCP connections without a SYN
    ///   tcp_window_checking: true
    ///   timeouts: {tcp_established: 86400, udp_first: 30, ...}   # seconds
    ///   fragment_timeout: 15
    ///   fragment_contexts: 32
    /// ```
    static func readConntrack(_ node: YAMLNode) throws(ConfigurationError) -> ConntrackConfiguration {
        let keys = try node.mapping(allowed: ["max_connections", "zone_limit", "zone_limits", "tcp_loose", "tcp_window_checking",
                                              "timeouts", "fragment_timeout", "fragment_contexts"])
        var c = ConntrackConfiguration()
        if let n = keys["max_connections"] { c.capacity = try n.integer(in: 16...(1 << 24)) }
        if let n = keys["zone_limit"] { c.defaultZoneLimit = UInt32(try n.integer(in: 0...(1 << 24))) }
        for entry in try keys["zone_limits"]?.sequence() ?? [] {
            let pair = try entry.mapping(allowed: ["zone", "limit"])
            guard let zone = pair["zone"], let limit = pair["limit"] else { throw entry.error("a zone limit is {zone: N, limit: N}") }
            c.zoneLimits[UInt16(try zone.integer(in: 0...65535))] = UInt32(try limit.integer(in: 0...(1 << 24)))
        }
        if let n = keys["tcp_loose"] { c.tcpLoose = try n.boolean() }
        if let n = keys["tcp_window_checking"] { c.tcpWindowChecking = try n.boolean() }
        if let n = keys["fragment_timeout"] { c.fragmentTimeout = .seconds(try n.integer(in: 1...3600)) }
        if let n = keys["fragment_contexts"] { c.fragmentContexts = try n.integer(in: 1...4096) }
        if let timeouts = keys["timeouts"] {
            let paths: [(String, WritableKeyPath<ConntrackTimeouts, Duration>)] = [
                ("tcp_syn_sent", \.tcpSynSent), ("tcp_syn_recv", \.tcpSynReceived), ("tcp_established", \.tcpEstablished),
                ("tcp_fin_wait", \.tcpFinWait), ("tcp_time_wait", \.tcpTimeWait), ("udp_first", \.udpFirst),
                ("udp_multiple", \.udpMultiple), ("icmp_first", \.icmpFirst), ("icmp_reply", \.icmpReply),
                ("other_first", \.otherFirst), ("other_multiple", \.otherMultiple),
            ]
            let t = try timeouts.mapping(allowed: Set(paths.map(\.0)))
            for (name, path) in paths {
                if let n = t[name] { c.timeouts[keyPath: path] = .seconds(try n.integer(in: 1...(30 * 86_400))) }
            }
        }
        return c
    }
}
