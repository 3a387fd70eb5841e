import XDPSwitch

/// One `xdpswitch bench` scenario: the same forwarding work asked of every peer.
///
/// Topology (every scenario): `ns gen: g0 ⇄ <p>a [ns fwd: forwarder] <p>b ⇄ s0 :ns sink`.
/// The generator sends into `a`; the sink counts what leaves `b`. A scenario says what
/// the generator's frame looks like and how each peer is configured to do the work.
struct BenchScenario: Sendable {
    enum Role: Sendable { case access, trunk }

    var name: String
    var summary: String
    /// Why the scenario cannot be measured yet; nil when it can.
    var pending: String?
    /// 802.1Q tag on the generator's frames (nil: untagged).
    var generatorVLAN: UInt16? = nil
    /// How ports `a` and `b` are configured (every peer: our bridge, OVS, Linux bridge).
    var portA: Role = .access
    var portB: Role = .access

    static let vlan: UInt16 = 100

    static let all: [BenchScenario] = [
        BenchScenario(name: "l2", summary: "NORMAL between two access ports (VLAN 100)"),
        BenchScenario(name: "vlan-push", summary: "access (VLAN 100) → trunk: tag pushed",
                      portA: .access, portB: .trunk),
        BenchScenario(name: "vlan-pop", summary: "trunk → access (VLAN 100): tag popped",
                      generatorVLAN: vlan, portA: .trunk, portB: .access),
        BenchScenario(name: "gre-encap", summary: "access port → br-tun → GRE out of the underlay",
                      pending: "feature not landed in the AF_XDP engine (GRE exists in the datapath, "
                        + "but Engine does not attach the underlay interface yet)"),
        BenchScenario(name: "gre-decap", summary: "GRE in on the underlay → access port",
                      pending: "feature not landed in the AF_XDP engine (GRE exists in the datapath, "
                        + "but Engine does not attach the underlay interface yet)"),
        BenchScenario(name: "sg", summary: "stateful security group with N rules, conntrack",
                      pending: "feature not landed (conntrack / security groups)"),
        BenchScenario(name: "snat", summary: "router SNAT",
                      pending: "feature not landed (router / NAT)"),
        BenchScenario(name: "fip", summary: "floating IP (DNAT + SNAT)",
                      pending: "feature not landed (router / NAT)"),
        BenchScenario(name: "compute", summary: "VM port → SG → br-int (local VLAN) → br-tun → GRE out",
                      pending: "feature not landed (security groups, br-tun, GRE in the engine)"),
    ]

    /// `all`, `vlan` (both directions) or one name.
    static func select(_ name: String) -> [BenchScenario]? {
        switch name {
        case "all": all
        case "vlan": all.filter { $0.name.hasPrefix("vlan-") }
        default: all.first { $0.name == name }.map { [$0] }
        }
    }

    /// Our datapath's configuration: one bridge, ports `a` and `b` as the roles say, NORMAL.
    func datapathConfiguration(a: String, b: String) -> DatapathConfiguration {
        func port(_ name: String, _ role: Role) -> PortConfiguration {
            role == .access ? PortConfiguration(name: name, tag: Self.vlan) : PortConfiguration(name: name, trunks: [Self.vlan])
        }
        return DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-bench", ports: [port(a, portA), port(b, portB)])])
    }
}
