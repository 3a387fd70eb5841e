import XDPDatapath
import XDPPacket

/// The commands a running switch answers on its control socket (`xdpswitch run`), as a
/// registry an embedding program can serve from its own engine, extend or narrow.
///
/// Handlers run on the thread that owns the datapath (the engine's worker, via
/// `AFXDPEngine.perform`), with that thread's clock.
public enum SwitchControl {
    /// Every switch command: bridges, flows, conntrack, security groups, routers, DHCP.
    public static let registry = ControlCommandRegistry(
        bridgeCommands + flowCommands + conntrackCommands + securityGroupCommands + routerCommands + dhcpCommands
            + [reloadCommand])

    /// Runs `request` with `registry` (see `ControlCommandRegistry.handle`).
    public static func handle(_ request: ControlSocket.Request, datapath: Datapath, now: DatapathInstant) -> ControlSocket.Reply {
        registry.handle(request, datapath: datapath, now: now)
    }

    /// The name of `reloadCommand`.
    public static let reload = "reload"

    /// `reload`: re-read the configuration file and bring the running switch to it
    /// (`AFXDPEngine.reconfigure`). Answered by whoever owns the file and the engine —
    /// `xdpswitch run` answers it before the registry sees the request, since a
    /// reconfiguration waits for the worker the registry's handlers run on. Here for
    /// `list-commands` and the CLI's help; a server without a file refuses it.
    public static let reloadCommand = ControlCommand(
        reload, summary: "re-read the configuration file of xdpswitch run and apply it without restarting") { _ in
        throw ControlCommand.Failure("reload: this server has no configuration file to re-read (xdpswitch run --config FILE answers it)")
    }

    /// `show`, `stats`, `fdb/show`.
    static let bridgeCommands: [ControlCommand] = [
        ControlCommand("show", summary: "bridges and ports, like ovs-vsctl show") { SwitchText.show($0.datapath.topology()) },
        ControlCommand("stats", summary: "per-port counters and drop reasons") { SwitchText.stats($0.datapath.portStatistics()) },
        ControlCommand("dump-fastpath", summary: "the in-kernel fast path's entries, like ovs-appctl dpctl/dump-flows") {
            SwitchText.fastPath($0.datapath.fastPathDump(now: $0.now))
        },
        ControlCommand("fdb/show", "BRIDGE", summary: "the MAC learning table, like ovs-appctl fdb/show") { call in
            guard let entries = call.datapath.fdb(bridge: call.arguments[0], now: call.now) else {
                throw ControlCommand.Failure("\(call.arguments[0]): no such bridge")
            }
            return SwitchText.fdb(entries)
        },
    ]
}
