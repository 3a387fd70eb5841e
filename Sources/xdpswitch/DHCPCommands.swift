import ArgumentParser
import XDPSwitch

/// `xdpswitch dhcp-stats [NETWORK]`: DHCP responders' messages, replies and drops by reason.
struct DHCPStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dhcp-stats", abstract: "DHCP responders' messages, replies and drops by reason.")
    @Argument(help: "One network (default: all).") var network: String?
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dhcp-stats", network.map { [$0] } ?? []) }
}

/// `xdpswitch dhcp-leases NETWORK`: a DHCP responder's static leases.
struct DHCPLeasesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dhcp-leases", abstract: "A network's static DHCP leases (MAC,hostname,address).")
    @Argument(help: "The network.") var network: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dhcp-leases", [network]) }
}
