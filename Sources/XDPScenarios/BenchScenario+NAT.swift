import XDPDatapath
import XDPPacket

// The `snat` and `fip` scenarios: the reference design's router namespace, as each peer does it.
//
//   snat: VM 10.77.0.1 (generator, internal network on `a`) → external host 10.78.0.2
//         (the sink, on `b`), translated to the router's gateway address 10.78.0.1.
//   fip:  external host 10.78.0.2 (generator, on `a`) → floating IP 10.78.0.100,
//         translated to the VM's fixed address 10.77.0.2 (the sink, on `b`).
//
// The generator's frames are addressed to the router's MAC on its side (`a`'s MAC, which
// every peer uses for that interface). Peers:
// * xdpswitch: the router in the datapath (Router + NAT, `type: router` ports) on the
//   reference design's two bridges — br-int with the internal port and `qr-`, br-ex with the external
//   port and `qg-` — SNAT to the gateway address / a floating IP.
// * Open vSwitch: the same translation in flows, as an OVS-based router does it:
//   `ct(table=1,zone=1,nat)`, then `ct(commit,zone=1,nat(src=…))` / `nat(dst=…)` for a
//   new connection, MACs rewritten, `dec_ttl`, output.
// * Linux: the namespace of the reference design's L3 agent: ip_forward, the addresses on the two sides
//   (the floating IP as a /32 on the external side), iptables `-j SNAT --to-source` in
//   nat POSTROUTING, and for a floating IP `-j DNAT --to-destination` in PREROUTING plus
//   the 1:1 SNAT back. The Linux stack rewrites the generator's live frames in place, so
//   the generator restores their headers before each send (TrafficGenerator.restoreHeaders,
//   for every peer of these scenarios).
// The sink never answers ARP: ours learns its MAC from an ARP request the sink sends to
// the router before measuring (`primeFrame`); Linux gets a permanent neighbour entry;
// OVS's flows write the MAC.
extension BenchScenario {
    public enum NAT: Sendable { case snat, fip }

    public static let internalRouterIP: [UInt8] = [10, 77, 0, 254], externalRouterIP: [UInt8] = [10, 78, 0, 1]
    public static let externalHostIP: [UInt8] = [10, 78, 0, 2], floatingIP: [UInt8] = [10, 78, 0, 100]
    public static let vmIP: [UInt8] = [10, 77, 0, 1], fixedIP: [UInt8] = [10, 77, 0, 2]

    public static func nat(_ kind: NAT) -> BenchScenario {
        var s = kind == .snat
            ? BenchScenario(name: "snat", summary: "router SNAT: 10.77.0.1 → 10.78.0.2 leaves as 10.78.0.1")
            : BenchScenario(name: "fip", summary: "floating IP: 10.78.0.2 → 10.78.0.100 arrives at 10.77.0.2")
        s.nat = kind
        return s
    }

    /// Source and destination address of the generator's stream.
    public var natAddresses: (from: [UInt8], to: [UInt8]) {
        nat == .snat ? (Self.vmIP, Self.externalHostIP) : (Self.externalHostIP, Self.floatingIP)
    }

    /// The sink's address and the router's address on the sink's side.
    public var natSinkSide: (sink: [UInt8], router: [UInt8]) {
        nat == .snat ? (Self.externalHostIP, Self.externalRouterIP) : (Self.fixedIP, Self.internalRouterIP)
    }

    /// A UDP frame to the router's MAC (`a`'s) with the scenario's addresses.
    public static func routedFrame(from: [UInt8], to: [UInt8], size: Int) -> [UInt8] {
        ScenarioFrames.udp(destination: aMAC, source: generatorMAC, size: size, from: from, to: to)
    }

    /// Ours: the reference design's bridges and router. `a` is on br-int (snat) or br-ex (fip).
    public func natDatapathConfiguration(a: String, b: String) -> DatapathConfiguration {
        let (inside, outside) = nat == .snat ? (a, b) : (b, a)
        let (qrMAC, qgMAC) = nat == .snat ? (BenchScenario.aMAC, BenchScenario.bMAC) : (BenchScenario.bMAC, BenchScenario.aMAC)
        let ip = { (x: [UInt8]) in IPv4Address(x[0], x[1], x[2], x[3]) }
        let router = RouterConfiguration(name: "bench", interfaces: [
            .init(name: "qr-bench", mac: MACAddress(Self.colon(qrMAC))!, address: ip(Self.internalRouterIP), prefixLength: 24),
            .init(name: "qg-bench", mac: MACAddress(Self.colon(qgMAC))!, address: ip(Self.externalRouterIP), prefixLength: 24),
        ], snat: .init(), floatingIPs: nat == .fip ? [.init(floating: ip(Self.floatingIP), fixed: ip(Self.fixedIP))] : [])
        return DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [PortConfiguration(name: inside, tag: 1),
                                                        PortConfiguration(name: "qr-bench", type: .router, tag: 1)]),
            BridgeConfiguration(name: "br-ex", ports: [PortConfiguration(name: outside),
                                                       PortConfiguration(name: "qg-bench", type: .router)]),
        ], routers: [router])
    }

    /// Open vSwitch: the translation in flows (ofport 1 = `a`, 2 = `b`).
    public var natFlows: [String] {
        let to = Self.dotted(natAddresses.to)
        let translate = nat == .snat ? "nat(src=\(Self.dotted(Self.externalRouterIP)))" : "nat(dst=\(Self.dotted(Self.fixedIP)))"
        let rewrite = "mod_dl_src:\(Self.colon(BenchScenario.bMAC)),mod_dl_dst:\(Self.colon(BenchScenario.sinkMAC)),dec_ttl,output:2"
        return [
            "table=0,priority=100,ip,in_port=1,nw_dst=\(to) actions=ct(table=1,zone=1,nat)",
            "table=0,priority=0 actions=drop",
            "table=1,priority=100,ct_state=+new+trk,ip,in_port=1 actions=ct(commit,zone=1,\(translate)),\(rewrite)",
            "table=1,priority=90,ct_state=+est+trk,ip,in_port=1 actions=\(rewrite)",
            "table=1,priority=0 actions=drop",
        ]
    }

    /// Linux: the L3 agent's namespace, as commands run in the forwarder namespace.
    public func natKernelCommands(a: String, b: String) -> [[String]] {
        let sink = Self.dotted(natSinkSide.sink)
        let (internalDevice, externalDevice) = nat == .snat ? (a, b) : (b, a)
        var c: [[String]] = [["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
                             ["ip", "addr", "add", "\(Self.dotted(Self.internalRouterIP))/24", "dev", internalDevice],
                             ["ip", "addr", "add", "\(Self.dotted(Self.externalRouterIP))/24", "dev", externalDevice]]
        if nat == .snat {
            c.append(["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", b, "-s", "10.77.0.0/24",
                      "-j", "SNAT", "--to-source", Self.dotted(Self.externalRouterIP)])
        } else {
            c += [["ip", "addr", "add", "\(Self.dotted(Self.floatingIP))/32", "dev", a],
                  ["iptables", "-t", "nat", "-A", "PREROUTING", "-d", "\(Self.dotted(Self.floatingIP))/32",
                   "-j", "DNAT", "--to-destination", Self.dotted(Self.fixedIP)],
                  ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "\(Self.dotted(Self.fixedIP))/32",
                   "-j", "SNAT", "--to-source", Self.dotted(Self.floatingIP)]]
        }
        c += [["ip", "link", "set", a, "up"], ["ip", "link", "set", b, "up"],
              ["ip", "neigh", "replace", sink, "lladdr", Self.colon(BenchScenario.sinkMAC), "dev", b, "nud", "permanent"],
              ["ethtool", "-K", a, "gro", "on"]]
        return c
    }

    /// Undoes `natKernelCommands` (errors ignored).
    public func natKernelCleanup(a: String, b: String) -> [[String]] {
        [["iptables", "-t", "nat", "-F"], ["ip", "addr", "flush", "dev", a], ["ip", "addr", "flush", "dev", b],
         ["ip", "neigh", "del", Self.dotted(natSinkSide.sink), "dev", b], ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"],
         ["conntrack", "-F"], ["ethtool", "-K", a, "gro", "off"]]
    }
}
