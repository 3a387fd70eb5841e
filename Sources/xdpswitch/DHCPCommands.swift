import ArgumentParser
import XDPSwitch

/// `xdpswitch dhcp-stats [NETWORK]`: DHCP responders' messages, replies and drops by reason.
struct DHCPStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dhcp-stats")
    @Argument(help: "One network (default: all).") var network: String?
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dhcp-stats", network.map { [$0] } ?? []) }
}

/// `xdpswitch dhcp-leases NETWORK`: a DHCP responder's static leases.
struct DHCPLeasesCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dhcp-leases")
    @Argument(help: "The network.") var network: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dhcp-leases", [network]) }
}

/// `xdpswitch dhcp-host-add NETWORK MAC ADDRESS [HOSTNAME]`: add or replace a static lease.
struct DHCPHostAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dhcp-host-add")
    @Argument(help: "The network.") var network: String
    @Argument(help: "The port's MAC.") var mac: String
    @Argument(help: "The port's fixed IP.") var address: String
    @Argument(help: "Option 12 (default: host-A-B-C-D).") var hostname: String?
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dhcp-host-add", [network, mac, address] + (hostname.map { [$0] } ?? [])) }
}

/// `xdpswitch dhcp-host-del NETWORK MAC`: remove a static lease.
struct DHCPHostDelCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("dhcp-host-del")
    @Argument(help: "The network.") var network: String
    @Argument(help: "The port's MAC.") var mac: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("dhcp-host-del", [network, mac]) }
}
