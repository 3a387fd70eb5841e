import ArgumentParser
import XDPSwitch

/// `xdpswitch route-show ROUTER`: a router's routing table, like `ip route` in its namespace.
struct RouteShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route-show", abstract: "A router's routing table (ip route in its qrouter- namespace).")
    @Argument(help: "The router.") var router: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("route-show", [router]) }
}

/// `xdpswitch route-get ROUTER ADDRESS`: the route one destination takes, like `ip route get`.
struct RouteGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route-get", abstract: "The route and next hop a router uses for one destination (ip route get).")
    @Argument(help: "The router.") var router: String
    @Argument(help: "The destination address.") var address: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("route-get", [router, address]) }
}

/// `xdpswitch neigh-show ROUTER`: the neighbours a router learned, like `ip neigh`.
struct NeighShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neigh-show", abstract: "The neighbours a router learned (ip neigh in its qrouter- namespace).")
    @Argument(help: "The router.") var router: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("neigh-show", [router]) }
}

/// `xdpswitch nat-show ROUTER`: a router's NAT connections, like `conntrack -L` in its namespace.
struct NATShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nat-show", abstract: "A router's NAT connections (translated reply tuples) and floating IPs.")
    @Argument(help: "The router.") var router: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("nat-show", [router]) }
}

/// `xdpswitch floatingip-associate ROUTER FLOATING FIXED`: add or move a floating IP.
struct FloatingIPAssociateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floatingip-associate", abstract: "Add or move a router's floating IP (1:1 NAT to a fixed address).")
    @Argument(help: "The router.") var router: String
    @Argument(help: "The floating address.") var floating: String
    @Argument(help: "The fixed address behind it.") var fixed: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("floatingip-associate", [router, floating, fixed]) }
}

/// `xdpswitch floatingip-disassociate ROUTER FLOATING`: remove a floating IP, cutting its connections.
struct FloatingIPDisassociateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floatingip-disassociate", abstract: "Remove a router's floating IP and flush its connections.")
    @Argument(help: "The router.") var router: String
    @Argument(help: "The floating address.") var floating: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("floatingip-disassociate", [router, floating]) }
}

/// `xdpswitch router-stats [ROUTER]`: forwarding counters and drops by reason.
struct RouterStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router-stats", abstract: "Routers' forwarding counters, drops by reason and interface counters.")
    @Argument(help: "One router (default: all).") var router: String?
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("router-stats", router.map { [$0] } ?? []) }
}
