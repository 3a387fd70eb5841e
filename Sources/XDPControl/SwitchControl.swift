import XDPDatapath
import XDPPacket

/// The commands a running switch answers on its control socket (`xdpswitch run`), as a
/// registry an embedding program can serve from its own engine, extend or narrow.
///
/// Handlers run on the thread that owns the datapath (the engine's worker, via
/// `Engine.perform`), with that thread's clock.
public enum SwitchControl {
    /// Every switch command: bridges, flows, conntrack, security groups, routers, DHCP.
    public static let registry = ControlCommandRegistry(
        bridgeCommands + flowCommands + conntrackCommands + securityGroupCommands + routerCommands + dhcpCommands)

    /// Runs `request` with `registry` (see `ControlCommandRegistry.handle`).
    public static func handle(_ request: ControlSocket.Request, datapath: Datapath, now: UInt64) -> ControlSocket.Reply {
        registry.handle(request, datapath: datapath, now: now)
    }

    /// `show`, `stats`, `fdb/show`.
    static let bridgeCommands: [ControlCommand] = [
        ControlCommand("show", summary: "bridges and ports, like ovs-vsctl show") { $0.datapath.showDescription() },
        ControlCommand("stats", summary: "per-port counters and drop reasons") { $0.datapath.statsDescription() },
        ControlCommand("fdb/show", "BRIDGE", summary: "the MAC learning table, like ovs-appctl fdb/show") { call in
            guard let bridge = call.datapath.bridge(named: call.arguments[0]) else {
                throw ControlCommand.Failure("\(call.arguments[0]): no such bridge")
            }
            return call.datapath.fdbDescription(bridge, now: call.now)
        },
    ]
}
