import XDPDatapath

extension SwitchControl {
    /// Connection-tracking commands; nil when `request` is not one of them.
    ///
    /// - `dump-conntrack [zone=N]`: like `ovs-appctl dpctl/dump-conntrack`
    /// - `flush-conntrack [zone=N] [TUPLE]`: like `ovs-appctl dpctl/flush-conntrack`,
    ///   TUPLE being `ct_nw_src=IP,ct_nw_dst=IP,ct_nw_proto=N,ct_tp_src=P,ct_tp_dst=P`
    /// - `conntrack-stats`: live connections per zone and the tracker's counters
    static func handleConntrackCommand(_ request: ControlSocket.Request, datapath: Datapath) -> ControlSocket.Reply? {
        switch request.command {
        case "dump-conntrack":
            var zone: UInt16?
            for arg in request.arguments {
                guard arg.hasPrefix("zone="), let z = UInt16(arg.dropFirst(5)) else {
                    return .failure("usage: dump-conntrack [zone=N] (\(arg): expected zone=0-65535)")
                }
                zone = z
            }
            return .success(datapath.dumpConntrack(zone: zone).map { $0 + "\n" }.joined())
        case "flush-conntrack":
            var zone: UInt16?
            var tuple: ConntrackTupleFilter?
            for arg in request.arguments {
                if arg.hasPrefix("zone=") {
                    guard let z = UInt16(arg.dropFirst(5)) else { return .failure("flush-conntrack: \(arg): expected zone=0-65535") }
                    zone = z
                } else {
                    do {
                        tuple = try ConntrackTupleFilter(parsing: arg)
                    } catch {
                        return .failure("flush-conntrack: \(error)")
                    }
                }
            }
            let n = datapath.flushConntrack(zone: zone, tuple: tuple)
            return .success("flushed \(n) connection\(n == 1 ? "" : "s")\n")
        case "conntrack-stats":
            return .success(datapath.conntrackStatsDescription())
        default:
            return nil
        }
    }
}
