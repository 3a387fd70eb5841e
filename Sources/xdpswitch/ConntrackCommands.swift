import ArgumentParser
import XDPSwitch

/// `xdpswitch dump-conntrack [zone=N]`: the running switch's tracked connections, as
/// `ovs-appctl dpctl/dump-conntrack` prints them.
struct DumpConntrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dump-conntrack")
    @Argument(help: "zone=N to show one zone.") var zone: String?
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dump-conntrack", zone.map { [$0] } ?? []) }
}

/// `xdpswitch flush-conntrack [zone=N] [TUPLE]`.
struct FlushConntrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control(
        "flush-conntrack",
        discussion: "TUPLE: any of ct_nw_src=IP,ct_nw_dst=IP,ct_ipv6_src=IP,ct_ipv6_dst=IP,ct_nw_proto=N,ct_tp_src=P,ct_tp_dst=P")
    @Argument(help: "zone=N and/or a tuple.") var selectors: [String] = []
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("flush-conntrack", selectors) }
}

/// `xdpswitch conntrack-stats`: connections per zone and the tracker's counters.
struct ConntrackStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("conntrack-stats")
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("conntrack-stats") }
}
