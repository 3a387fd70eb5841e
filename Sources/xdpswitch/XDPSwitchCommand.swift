import ArgumentParser
import XDPSwitch

/// `xdpswitch`: run, inspect, replay and benchmark the XDPSwitch datapath.
@main
struct XDPSwitchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdpswitch",
        abstract: "An Open vSwitch-style datapath for OpenStack Neutron with an AF_XDP fast path.",
        subcommands: [ShowCommand.self, ReplayCommand.self, RunCommand.self, BenchCommand.self, BenchMicroCommand.self, StatsCommand.self, FDBShowCommand.self, DumpFastPathCommand.self,
                      DumpFlowsCommand.self, AddFlowCommand.self, DelFlowsCommand.self, ModFlowsCommand.self, TraceCommand.self,
                      DumpConntrackCommand.self, FlushConntrackCommand.self, ConntrackStatsCommand.self,
                      RouteShowCommand.self, RouteGetCommand.self, NeighShowCommand.self, NATShowCommand.self,
                      FloatingIPAssociateCommand.self, FloatingIPDisassociateCommand.self, RouterStatsCommand.self, DHCPStatsCommand.self, DHCPLeasesCommand.self, DHCPHostAddCommand.self, DHCPHostDelCommand.self,
                      SetSecurityGroupsCommand.self, ListCommandsCommand.self, ReloadCommand.self, AgentCommand.self] + ControlPlaneCommands.all
    )
}
