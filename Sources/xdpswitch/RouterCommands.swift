import ArgumentParser
import XDPSwitch

/// `xdpswitch route-show ROUTER`: a router's routing table, like `ip route` in its namespace.
struct RouteShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("route-show")
    @Argument(help: "The router.") var router: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("route-show", [router]) }
}

/// `xdpswitch route-get ROUTER ADDRESS`: the route one destination takes, like `ip route get`.
struct RouteGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("route-get")
    @Argument(help: "The router.") var router: String
    @Argument(help: "The destination address.") var address: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("route-get", [router, address]) }
}

/// `xdpswitch neigh-show ROUTER`: the neighbours a router learned, like `ip neigh`.
struct NeighShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("neigh-show")
    @Argument(help: "The router.") var router: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("neigh-show", [router]) }
}

/// `xdpswitch nat-show ROUTER`: a router's NAT connections, like `conntrack -L` in its namespace.
struct NATShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("nat-show")
    @Argument(help: "The router.") var router: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("nat-show", [router]) }
}

/// `xdpswitch floatingip-associate ROUTER FLOATING FIXED`: add or move a floating IP.
struct FloatingIPAssociateCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("floatingip-associate")
    @Argument(help: "The router.") var router: String
    @Argument(help: "The floating address.") var floating: String
    @Argument(help: "The fixed address behind it.") var fixed: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("floatingip-associate", [router, floating, fixed]) }
}

/// `xdpswitch floatingip-disassociate ROUTER FLOATING`: remove a floating IP, cutting its connections.
struct FloatingIPDisassociateCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("floatingip-disassociate")
    @Argument(help: "The router.") var router: String
    @Argument(help: "The floating address.") var floating: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("floatingip-disassociate", [router, floating]) }
}

/// `xdpswitch router-stats [ROUTER]`: forwarding counters and drops by reason.
struct RouterStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("router-stats")
    @Argument(help: "One router (default: all).") var router: String?
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("router-stats", router.map { [$0] } ?? []) }
}
