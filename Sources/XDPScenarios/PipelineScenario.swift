import XDPDatapath
import XDPPacket

/// One pipeline stage set up in memory: the datapath's configuration, the port its frames
/// enter and the one they must leave by, the frames (batch slot `i` gets
/// `templates[i % count]`) and the frames sent before measuring (MAC learning, a
/// connection committed and answered, a router's neighbour).
///
/// Written once for both in-memory measurements: `xdpswitch bench-micro STAGE` (instruction
/// counts, `make bench-instructions`) and the package benchmarks in `Benchmarks/`
/// (wall-clock, allocations). The `sg-*`, `snat`, `fip` and `compute` stages are the veth
/// bench's scenarios (`BenchScenario`) with their own configuration and frames.
public struct PipelineScenario {
    public var name: String
    public var configuration: DatapathConfiguration
    public var input: String
    public var output: String
    public var templates: [[UInt8]]
    public var prime: [(frame: [UInt8], port: String)]

    public init(name: String, configuration: DatapathConfiguration, input: String, output: String,
                templates: [[UInt8]], prime: [(frame: [UInt8], port: String)] = []) {
        self.name = name
        self.configuration = configuration
        self.input = input
        self.output = output
        self.templates = templates
        self.prime = prime
    }

    /// Every stage `named(_:)` knows, in `bench-micro list` order (`parse` and
    /// `classifier-N` measure the parser and the classifier alone: `ClassifierScenario`).
    public static let names = ["parse", "l2", "vlan-push", "vlan-pop", "flood", "gre-encap", "gre-decap",
                               "vxlan-encap", "vxlan-decap",
                               "flows-1", "flows-100", "flows-10000", "classifier-1", "classifier-100", "classifier-10000",
                               "sg-10", "sg-100", "snat", "fip", "compute"]

    /// The stage called `name` (nil for an unknown name or a `classifier-N`).
    public static func named(_ name: String) throws -> PipelineScenario? {
        let (a, b) = (hostA, hostB)
        switch name {
        case "parse":
            return PipelineScenario(name: name, configuration: access, input: "vm-a", output: "vm-b",
                                    templates: [udp64(from: a, to: b)])
        case "l2":
            return PipelineScenario(name: name, configuration: access, input: "vm-a", output: "vm-b",
                                    templates: [udp64(from: a, to: b)], prime: [(udp64(from: b, to: .broadcast), "vm-b")])
        case "vlan-push":
            return PipelineScenario(name: name, configuration: access, input: "vm-a", output: "trunk",
                                    templates: [udp64(from: a, to: b)],
                                    prime: [(udp64(from: b, to: .broadcast, vlan: 1), "trunk")])
        case "vlan-pop":
            return PipelineScenario(name: name, configuration: access, input: "trunk", output: "vm-a",
                                    templates: [udp64(from: b, to: a, vlan: 1)], prime: [(udp64(from: a, to: .broadcast), "vm-a")])
        case "flood":
            return PipelineScenario(name: name, configuration: access, input: "vm-a", output: "trunk",
                                    templates: [udp64(from: a, to: .broadcast)])
        case "gre-encap":
            return PipelineScenario(name: name, configuration: tunnelBridge, input: "int", output: "eth1",
                                    templates: [udp64(from: a, to: .broadcast, vlan: 1)])
        case "gre-decap":
            return PipelineScenario(name: name, configuration: tunnelBridge, input: "eth1", output: "int",
                                    templates: [fromTunnel(udp64(from: b, to: .broadcast))])
        case "vxlan-encap":
            return PipelineScenario(name: name, configuration: vxlanTunnelBridge, input: "int", output: "eth1",
                                    templates: [udp64(from: a, to: .broadcast, vlan: 1)])
        case "vxlan-decap":
            return PipelineScenario(name: name, configuration: vxlanTunnelBridge, input: "eth1", output: "int",
                                    templates: [fromVXLANTunnel(udp64(from: b, to: .broadcast))])
        case "sg-10", "sg-100":
            return try securityGroup(rules: name == "sg-10" ? 10 : 100)
        case "snat", "fip":
            return router(BenchScenario.nat(name == "snat" ? .snat : .fip))
        case "compute":
            return try compute()
        default:
            for n in [1, 100, 10_000] where name == "flows-\(n)" {
                return PipelineScenario(name: name, configuration: manyFlows(n), input: "p1", output: "p2",
                                        templates: (0..<64).map { udp64(from: a, to: ClassifierScenario.destination($0, of: n)) })
            }
            return nil
        }
    }

    // MARK: The in-memory stages' own topologies and frames

    static let hostA = MACAddress("fa:16:3e:00:00:0a")!, hostB = MACAddress("fa:16:3e:00:00:0b")!
    static let addressA = IPv4Address(10, 1, 0, 10), addressB = IPv4Address(10, 1, 0, 11)

    /// A 64-byte frame on the wire (60 without FCS, 64 with a tag): UDP 9 → 9 from A to B.
    public static func udp64(from source: MACAddress, to destination: MACAddress, vlan: UInt16? = nil) -> [UInt8] {
        var builder = FrameBuilder().ethernet(source: source, destination: destination)
        if let vlan { builder = builder.vlan(vid: vlan) }
        let frame = builder.ipv4(source: addressA, destination: addressB).udp(sourcePort: 9, destinationPort: 9).build()
        return frame + Array(repeating: 0, count: max(0, (vlan == nil ? 60 : 64) - frame.count))
    }

    /// br-int with access ports on VLANs 1 and 2 and a trunk of both.
    public static let access = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-int", ports: [
        PortConfiguration(name: "vm-a", tag: 1), PortConfiguration(name: "vm-b", tag: 1),
        PortConfiguration(name: "vm-c", tag: 2), PortConfiguration(name: "trunk", trunks: [1, 2]),
    ])])

    /// Neutron's br-tun flows with a GRE port: VLAN 1 from br-int is tunnelled (flow, NORMAL,
    /// GRE encapsulation onto the underlay `eth1`), GRE from the remote (172.16.0.2) is
    /// decapsulated, matched on tun_id 2 and tagged toward br-int.
    public static let tunnelBridge = tunnelBridge(PortConfiguration(
        name: "gre-1", type: .gre(GREOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow))))

    /// `tunnelBridge` with a VXLAN port (key=flow, UDP 4789) instead of the GRE one.
    public static let vxlanTunnelBridge = tunnelBridge(PortConfiguration(
        name: "vxlan-1", type: .vxlan(VXLANOptions(remoteIP: IPv4Address(172, 16, 0, 2), key: .flow))))

    static func tunnelBridge(_ tunnel: PortConfiguration) -> DatapathConfiguration {
        DatapathConfiguration(bridges: [
        BridgeConfiguration(name: "br-tun", ports: [PortConfiguration(name: "int"), tunnel], flows: [
            "priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
            "priority=3,tun_id=0x2,dl_dst=fa:16:3e:dd:c1:62 actions=mod_vlan_vid:1,NORMAL",
            "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL",
            "priority=1 actions=drop",
        ]),
    ], underlay: UnderlayConfiguration(interface: "eth1", address: IPv4Address(172, 16, 0, 1), prefixLength: 24,
                                       mac: MACAddress("02:00:00:00:00:01")!,
                                       neighbours: [IPv4Address(172, 16, 0, 2): MACAddress("02:00:00:00:00:02")!]))
    }

    /// GRE (key 2) from the remote endpoint 172.16.0.2 to `tunnelBridge`'s underlay, carrying `inner`.
    public static func fromTunnel(_ inner: [UInt8]) -> [UInt8] {
        FrameBuilder().ethernet(source: MACAddress("02:00:00:00:00:02")!, destination: MACAddress("02:00:00:00:00:01")!)
            .ipv4(source: IPv4Address(172, 16, 0, 2), destination: IPv4Address(172, 16, 0, 1), dontFragment: true)
            .gre(key: 2, protocolType: .transparentEthernetBridging).payload(inner).build()
    }

    /// VXLAN (VNI 2, UDP 4789) from the remote endpoint 172.16.0.2 to `vxlanTunnelBridge`'s
    /// underlay, carrying `inner`.
    public static func fromVXLANTunnel(_ inner: [UInt8]) -> [UInt8] {
        FrameBuilder().ethernet(source: MACAddress("02:00:00:00:00:02")!, destination: MACAddress("02:00:00:00:00:01")!)
            .ipv4(source: IPv4Address(172, 16, 0, 2), destination: IPv4Address(172, 16, 0, 1), identification: 0, dontFragment: true)
            .udp(sourcePort: 49152, destinationPort: VXLANHeader.defaultPort, checksum: false).vxlan(vni: 2).payload(inner).build()
    }

    /// One bridge `br` (ports p1, p2) with `n` exact `dl_dst` flows to p2 and a catch-all drop.
    public static func manyFlows(_ n: Int) -> DatapathConfiguration {
        DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p1"), PortConfiguration(name: "p2")],
            flows: (0..<n).map { "priority=10,dl_dst=\(ClassifierScenario.flowDestination($0)) actions=output:2" }
                + ["priority=0 actions=drop"])])
    }

    // MARK: The veth bench's scenarios in memory

    /// `sg-N`: the bench's security-group flows (the compiler's) between `a` and the VM on `b`;
    /// one connection committed and answered before measuring, the measured stream is the
    /// VM's established ingress. `egress`: the VM's replies (its established egress) instead.
    public static func securityGroup(rules: Int, egress: Bool = false) throws -> PipelineScenario {
        let config = DatapathConfiguration(bridges: [BridgeConfiguration(name: "br", ports: [
            PortConfiguration(name: "a", ofport: 1, tag: BenchScenario.vlan),
            PortConfiguration(name: "b", ofport: 2, tag: BenchScenario.vlan),
        ], flows: try BenchScenario.securityGroupFlows(rules: rules))])
        let scenario = BenchScenario.securityGroup(rules: rules)
        let forward = scenario.generatorFrame(size: 60).frame
        let reply = scenario.replyFrame(size: 60).frame
        return PipelineScenario(name: egress ? "sg-\(rules)-egress" : "sg-\(rules)", configuration: config,
                                input: egress ? "b" : "a", output: egress ? "a" : "b",
                                templates: [egress ? reply : forward], prime: [(forward, "a"), (reply, "b")])
    }

    /// `snat`/`fip`: the bench's router (Neutron's bridges, qr-/qg- router ports, NAT); the
    /// sink's MAC learned from its ARP request first, one connection translated before measuring.
    static func router(_ scenario: BenchScenario) -> PipelineScenario {
        let frame = scenario.generatorFrame(size: 60).frame
        let arp = scenario.primeFrame(size: 60)!.frame
        return PipelineScenario(name: scenario.name, configuration: scenario.natDatapathConfiguration(a: "a", b: "b"),
                                input: "a", output: "b", templates: [frame],
                                prime: [(scenario.generatorPrimeFrame()!, "a"), (arp, "b"), (frame, "a")])
    }

    /// `compute`: the bench's compute node (br-int with the security-group flows, patch,
    /// br-tun, GRE out of the underlay `b`), the VM's stream made established first.
    /// `ComputePathCheck` checks this path frame by frame.
    static func compute() throws -> PipelineScenario {
        let scenario = BenchScenario.computeScenario
        let forward = scenario.generatorFrame(size: 60).frame
        return PipelineScenario(name: "compute", configuration: try scenario.computeDatapathConfiguration(a: "a", b: "b"),
                                input: "a", output: "b", templates: [forward],
                                prime: [(forward, "a"), (scenario.computeReplyFrame(size: 60).frame, "b")])
    }
}

/// `classifier-N`: the flow classifier alone, `n` exact `dl_dst` flows and a catch-all,
/// looked up with 64 keys spread over the flows (as `flows-N` sends them).
public struct ClassifierScenario {
    public let table: FlowClassifier
    public let keys: [FlowKey]

    public init(flows n: Int) {
        table = FlowClassifier((0..<n).map { i in
            var m = FlowMatch()
            m.set(.ethDst, Self.flowDestination(i).rawValue)
            return .init(value: m.value, mask: m.mask, priority: 10, id: Int32(i))
        } + [.init(value: FlowKey(), mask: FlowKey(), priority: 0, id: Int32(n))])
        keys = (0..<64).map { i in
            var k = FlowKey()
            k.dlDst = Self.destination(i, of: n).rawValue
            return k
        }
    }

    /// Flow `i`'s destination: 02:00:00:00:00:00 + i.
    public static func flowDestination(_ i: Int) -> MACAddress { MACAddress(rawValue: 0x0200_0000_0000 + UInt64(i)) }

    /// The `i`-th key's destination among `n` flows: 02:00:00:00:00:00 + i·7919 mod n, so 64
    /// keys land scattered over the table.
    public static func destination(_ i: Int, of n: Int) -> MACAddress {
        MACAddress(rawValue: 0x0200_0000_0000 + UInt64(i * 7919 % n))
    }
}
