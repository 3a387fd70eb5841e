import XDPDatapath

extension SwitchControl {
    /// Connection-tracking commands, like `ovs-appctl dpctl/…`. `flush-conntrack`'s TUPLE
    /// is `ct_nw_src=IP,ct_nw_dst=IP,ct_nw_proto=N,ct_tp_src=P,ct_tp_dst=P`.
    static let conntrackCommands: [ControlCommand] = [
        ControlCommand("dump-conntrack", "[zone=N]", summary: "tracked connections, like ovs-appctl dpctl/dump-conntrack") { call in
            var zone: UInt16?
            for arg in call.arguments {
                guard arg.hasPrefix("zone="), let z = UInt16(arg.dropFirst(5)) else {
                    throw ControlCommand.Failure("usage: dump-conntrack [zone=N] (\(arg): expected zone=0-65535)")
                }
                zone = z
            }
            return SwitchText.conntrack(call.datapath.conntrackConnections(zone: zone))
        },
        ControlCommand("flush-conntrack", "[zone=N] [TUPLE]",
                       summary: "remove tracked connections (all, by zone, by ct_nw_src=...,ct_tp_dst=...)") { call in
            var zone: UInt16?
            var tuple: ConntrackTupleFilter?
            for arg in call.arguments {
                if arg.hasPrefix("zone=") {
                    guard let z = UInt16(arg.dropFirst(5)) else { throw ControlCommand.Failure("flush-conntrack: \(arg): expected zone=0-65535") }
                    zone = z
                } else {
                    do {
                        tuple = try ConntrackTupleFilter(parsing: arg)
                    } catch {
                        throw ControlCommand.Failure("flush-conntrack: \(error)")
                    }
                }
            }
            let n = call.datapath.flushConntrack(zone: zone, tuple: tuple)
            return "flushed \(n) connection\(n == 1 ? "" : "s")\n"
        },
        ControlCommand("conntrack-stats", summary: "connections per zone and conntrack counters") { call in
            SwitchText.conntrackStats(call.datapath.conntrackStatistics())
        },
    ]
}
