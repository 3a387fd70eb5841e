import XDPDatapath
import XDPPacket

/// One `xdpswitch bench` scenario: the same forwarding work asked of every peer. Its
/// topology, flows and frames are written here once: the veth bench (XDPBench) runs them
/// through every peer, `bench-micro` and the package benchmarks (`PipelineScenario`) through
/// our datapath in memory.
///
/// Topology (every scenario): `ns gen: g0 ⇄ <p>a [ns fwd: forwarder] <p>b ⇄ s0 :ns sink`.
/// The generator sends into `a`; the sink counts what leaves `b`. A scenario says what
/// the generator's frame looks like and how each peer is configured to do the work.
public struct BenchScenario: Sendable {
    public enum Role: Sendable { case access, trunk }

    public var name: String
    public var summary: String
    /// Why the scenario cannot be measured yet; nil when it can.
    public var pending: String?
    /// 802.1Q tag on the generator's frames (nil: untagged).
    public var generatorVLAN: UInt16? = nil
    /// How ports `a` and `b` are configured (every peer: our bridge, OVS, Linux bridge).
    public var portA: Role = .access
    public var portB: Role = .access
    /// Tunnel scenarios: which side is the underlay (`a`: decapsulation, `b`: encapsulation);
    /// the other side is a trunk port of the bridge that also holds the tunnel port.
    public var tunnel: Tunnel? = nil

    public enum Tunnel: Sendable { case encap, decap }
    /// Tunnel scenarios: the tunnel's protocol (`gre` or `vxlan` ports, OVS's `type=`).
    public var tunnelProtocol: TunnelProtocol = .gre

    public enum TunnelProtocol: String, Sendable { case gre, vxlan }
    /// `sg` scenarios: the number of ingress rules of the VM's security group
    /// (BenchScenario+SecurityGroup.swift); the peers run its flows / iptables rules.
    public var securityGroupRules: Int? = nil
    /// `snat`/`fip`: the router scenarios (BenchScenario+NAT.swift).
    public var nat: NAT? = nil
    /// `compute`: the reference design's compute-node path, two bridges (BenchScenario+Compute.swift).
    public var compute = false

    public static let vlan: UInt16 = 100
    /// The lab's MACs: the generator (host side of `a`), the sink (host side of `b`), and the
    /// forwarder's side of each veth (the underlay's MAC in the GRE scenarios, the router's).
    public static let generatorMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01], sinkMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x04]
    public static let aMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x0a], bMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x0b]
    /// Underlay addresses: ours (the forwarder's) and the remote tunnel endpoint's.
    public static let localIP: [UInt8] = [172, 31, 0, 1], remoteIP: [UInt8] = [172, 31, 0, 2]
    public static func dotted(_ a: [UInt8]) -> String { a.map(String.init).joined(separator: ".") }

    public static let all: [BenchScenario] = [
        BenchScenario(name: "l2", summary: "NORMAL between two access ports (VLAN 100)"),
        BenchScenario(name: "vlan-push", summary: "access (VLAN 100) → trunk: tag pushed",
                      portA: .access, portB: .trunk),
        BenchScenario(name: "vlan-pop", summary: "trunk → access (VLAN 100): tag popped",
                      generatorVLAN: vlan, portA: .trunk, portB: .access),
        BenchScenario(name: "gre-encap", summary: "trunk port → gre port: GRE encapsulation out of the underlay (b)",
                      portA: .trunk, portB: .trunk, tunnel: .encap),
        BenchScenario(name: "gre-decap", summary: "GRE in on the underlay (a) → decapsulation → trunk port",
                      portA: .trunk, portB: .trunk, tunnel: .decap),
        BenchScenario(name: "vxlan-encap", summary: "trunk port → vxlan port: VXLAN encapsulation out of the underlay (b)",
                      portA: .trunk, portB: .trunk, tunnel: .encap, tunnelProtocol: .vxlan),
        BenchScenario(name: "vxlan-decap", summary: "VXLAN in on the underlay (a) → decapsulation → trunk port",
                      portA: .trunk, portB: .trunk, tunnel: .decap, tunnelProtocol: .vxlan),
        securityGroup(rules: 10),
        securityGroup(rules: 100),
        nat(.snat),
        nat(.fip),
        computeScenario,
    ]

    /// `all`, `vlan` (both directions) or one name.
    public static func select(_ name: String) -> [BenchScenario]? {
        switch name {
        case "all": all
        case "vlan": all.filter { $0.name.hasPrefix("vlan-") }
        case "sg": all.filter { $0.securityGroupRules != nil }
        default: all.first { $0.name == name }.map { [$0] }
        }
    }

    /// The generator's frame (inner frame of `size` bytes on the wire for the GRE scenarios)
    /// and the offset of the UDP source port the flows rewrite.
    public func generatorFrame(size: Int) -> (frame: [UInt8], portOffset: Int) {
        if nat != nil { return (Self.routedFrame(from: natAddresses.from, to: natAddresses.to, size: size), 34) }
        let tag = generatorVLAN == nil ? 0 : 4
        let inner = ScenarioFrames.udp(destination: Self.sinkMAC, source: Self.generatorMAC, size: size + tag,
                                       vlan: generatorVLAN)
        guard tunnel == .decap else { return (inner, 34 + tag) }
        if tunnelProtocol == .vxlan {
            return (ScenarioFrames.vxlan(inner: inner, destination: Self.aMAC, source: Self.generatorMAC,
                                         from: Self.remoteIP, to: Self.localIP), ScenarioFrames.vxlanHeaderBytes + 34)
        }
        return (ScenarioFrames.gre(inner: inner, destination: Self.aMAC, source: Self.generatorMAC,
                                   from: Self.remoteIP, to: Self.localIP), ScenarioFrames.greHeaderBytes(key: nil) + 34)
    }

    /// Our datapath's configuration: one bridge, ports `a` and `b` as the roles say, NORMAL;
    /// tunnel scenarios: the underlay side is the datapath's underlay, the bridge holds the other
    /// side and a `gre` or `vxlan` port (VNI 0, as OVS's without a key) to the remote endpoint (a static neighbour: no ARP in the run).
    public func datapathConfiguration(a: String, b: String) throws -> DatapathConfiguration {
        func port(_ name: String, _ role: Role) -> PortConfiguration {
            role == .access ? PortConfiguration(name: name, tag: Self.vlan) : PortConfiguration(name: name, trunks: [Self.vlan])
        }
        if nat != nil { return natDatapathConfiguration(a: a, b: b) }
        if compute { return try computeDatapathConfiguration(a: a, b: b) }
        if let rules = securityGroupRules {
            return DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-bench", ports: [
                PortConfiguration(name: a, ofport: 1, tag: Self.vlan), PortConfiguration(name: b, ofport: 2, tag: Self.vlan),
            ], flows: try Self.securityGroupFlows(rules: rules))])
        }
        if let tunnel {
            let (underlay, port, mac, remoteMAC) = tunnel == .encap ? (b, a, BenchScenario.bMAC, BenchScenario.sinkMAC)
                : (a, b, BenchScenario.aMAC, BenchScenario.generatorMAC)
            let remote = IPv4Address(Self.dotted(Self.remoteIP))!
            return DatapathConfiguration(
                bridges: [BridgeConfiguration(name: "br-bench", ports: [
                    PortConfiguration(name: port),
                    tunnelProtocol == .vxlan ? PortConfiguration(name: "vxlan-bench", type: .vxlan(VXLANOptions(remoteIP: remote)))
                        : PortConfiguration(name: "gre-bench", type: .gre(GREOptions(remoteIP: remote))),
                ])],
                underlay: UnderlayConfiguration(interface: underlay, address: IPv4Address(Self.dotted(Self.localIP))!,
                                                prefixLength: 24, mac: MACAddress(Self.colon(mac)),
                                                neighbours: [remote: MACAddress(Self.colon(remoteMAC))!]))
        }
        return DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-bench", ports: [port(a, portA), port(b, portB)])])
    }
}

extension BenchScenario {
    /// A frame the sink sends before measuring, nil for none: the replies that make an `sg`
    /// stream established (`perFlow`: rewritten per flow like the generator's; `compute`:
    /// GRE-encapsulated), the ARP request that teaches our router the sink's MAC (`snat`, `fip`),
    /// or on `l2`, `vlan-*` and `gre-*` the sink's ARP request (through the tunnel for
    /// `gre-encap`) that every bridge learns its MAC from, so the stream is learned unicast,
    /// not flooded (what the in-kernel fast path repeats).
    public func primeFrame(size: Int) -> (frame: [UInt8], portOffset: Int, perFlow: Bool)? {
        if compute {
            let reply = computeReplyFrame(size: size)
            return (reply.frame, reply.portOffset, true)
        }
        if securityGroupRules != nil {
            let reply = replyFrame(size: size)
            return (reply.frame, reply.portOffset, true)
        }
        if nat != nil {
            return (ScenarioFrames.arpRequest(senderMAC: Self.sinkMAC, sender: natSinkSide.sink, target: natSinkSide.router),
                    34, false)
        }
        if tunnel == .encap && tunnelProtocol == .gre {
            // The host behind the remote endpoint says who it is through the tunnel: the
            // bridge learns its MAC on the gre port.
            let arp = ScenarioFrames.arpRequest(senderMAC: Self.sinkMAC, sender: [10, 76, 0, 2], target: [10, 76, 0, 1])
            return (ScenarioFrames.gre(inner: arp, destination: Self.bMAC, source: Self.sinkMAC, from: Self.remoteIP, to: Self.localIP),
                    ScenarioFrames.greHeaderBytes(key: nil) + 34, false)
        }
        if name == "l2" || name.hasPrefix("vlan-") || (tunnel == .decap && tunnelProtocol == .gre) {
            var arp = ScenarioFrames.arpRequest(senderMAC: Self.sinkMAC, sender: [10, 76, 0, 2], target: [10, 76, 0, 1])
            // The sink behind a trunk tags it, as its frames are.
            if portB == .trunk && tunnel == nil { arp.insert(contentsOf: [0x81, 0x00, UInt8(Self.vlan >> 8), UInt8(Self.vlan & 0xFF)], at: 12) }
            return (arp, 34, false)
        }
        return nil
    }

    /// A frame the generator's side sends before measuring, nil for none: on `snat` and
    /// `fip` the ARP request for the router's address on that side (the VM's gateway, the
    /// floating IP) that a host sends before its first packet — the router's answer teaches
    /// the bridge on that side the router's MAC, so the stream reaches the router as
    /// learned unicast, not flooded (what the in-kernel fast path repeats).
    public func generatorPrimeFrame() -> [UInt8]? {
        guard let nat else { return nil }
        let (from, to) = natAddresses
        return ScenarioFrames.arpRequest(senderMAC: Self.generatorMAC, sender: from,
                                         target: nat == .snat ? Self.internalRouterIP : to)
    }

    /// Where the measured stream's conntrack verdict is counted, nil for no firewall: the
    /// OpenFlow table (`sg`: the VM's ingress, 82; `compute`: its egress, 72) on our bridge,
    /// and the iptables chain of the Linux peer.
    public var firewallCounter: (bridge: String, table: Int, chain: String)? {
        if compute { return ("br-int", 72, "sg-egress") }
        return securityGroupRules == nil ? nil : ("br-bench", 82, "sg-ingress")
    }

    public static func colon(_ mac: [UInt8]) -> String {
        mac.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
