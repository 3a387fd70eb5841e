import XDPDatapath
import XDPPacket

// The `compute` scenario: the reference design's compute-node path for a VM's traffic to a VM on
// another node, the same work for every peer.
//
//   VM (the generator: 10.77.0.1, its MAC) → port `a` of br-int (access, local VLAN 100,
//   the VM's security group) → NORMAL → patch-tun ⇄ patch-int → br-tun (local VLAN →
//   tunnel id 1001) → `gre` port, remote 172.31.0.2 → the underlay `b` (our address
//   172.31.0.1/24, the remote a static neighbour with the sink's MAC) → the sink.
//
// br-int runs the security-group compiler's flows (Neutron's OVS firewall tables, as the
// `sg` scenarios do) for the VM on `a` (ofport 1, port security: its MAC and 10.77.0.1)
// in a group with Neutron's default egress rules and a few ingress rules; patch-tun is
// ofport 2, a trunk, reached by table 94's NORMAL. br-tun runs Neutron's tunnel-bridge
// tables (neutron/plugins/ml2/drivers/openvswitch/agent: PATCH_LV_TO_TUN 2, GRE_TUN_TO_LV 3,
// LEARN_FROM_TUN 10, UCAST_TO_TUN 20, FLOOD_TO_TUN 22) with l2population's unicast entry for
// the remote VM (the sink's MAC): patch-int is ofport 1, the `gre` port (key=flow) ofport 2.
//
// The measured stream (UDP 10.77.0.1:sport → 10.77.0.2:9) is VM egress: table 71 anti-
// spoofing → ct(table=72) → established → 73 → 91 → 94 NORMAL → patch → table 0 → 2 → 20 →
// `strip_vlan,set_tunnel:1001,output:2`. It is made established as in the `sg` scenarios:
// after the warm-up the sink answers every flow — GRE-encapsulated (Ether/IPv4 172.31.0.2 →
// 172.31.0.1/GRE key 1001/the inner reply) into `b` — and the reply goes gre → table 3
// (tun_id → VLAN 100) → 10 (learn, output to patch-int) → br-int table 0 (reg6 from the tag)
// → 60 → 81 → ct(table=82) → +est → 92 → the VM. Each run reports the share of the window's
// packets that table 72 passed as +est (ours, OVS) / sg-egress's RELATED,ESTABLISHED rule
// passed (Linux).
//
// Open vSwitch gets the same two flow tables, patch ports between its br-int and br-tun, and
// its userspace tunnelling exactly as in `gre-encap` (br-phy owns `b` and the local address,
// `ovs/route/add`, `tnl/arp/set`). Linux does it the Linux-bridge way: one bridge with the
// VM's port and a gretap (local 172.31.0.1, remote 172.31.0.2, key 1001), the `sg`
// iptables chains on br_netfilter for the VM, the underlay address on `b`.
extension BenchScenario {
    /// The network's segmentation id: the GRE key on the wire.
    public static let computeTunnelID: UInt32 = 1001
    /// Ingress rules of the VM's group (one of each kind the `sg` scenarios use, then the UDP one).
    public static let computeRules = 5
    /// OpenFlow ports: br-int `a` 1, patch-tun 2; br-tun patch-int 1, gre 2.
    public static let computePorts = (vm: 1, patchTun: 2, patchInt: 1, gre: 2)

    public static let computeScenario: BenchScenario = {
        var s = BenchScenario(name: "compute", summary: "VM port → SG (\(computeRules) ingress rules, established egress) → br-int "
                              + "(VLAN \(vlan)) → patch → br-tun (tun_id \(computeTunnelID)) → GRE out of the underlay (b)")
        s.compute = true
        return s
    }()

    /// The security-group model: the VM on `a` (the generator's MAC and 10.77.0.1).
    public static func computeSecurityGroupModel() -> SecurityGroupConfiguration {
        securityGroupModel(rules: computeRules, bridge: "br-int", vm: "a", mac: BenchScenario.generatorMAC, address: "10.77.0.1")
    }

    /// br-int's flows: the security-group compiler's output for the VM on ofport 1 (VLAN 100)
    /// beside the trunk patch-tun (ofport 2).
    public static func computeIntegrationFlows() throws -> [String] {
        let ports = [FirewallBridgePort(name: "a", ofport: computePorts.vm, tag: vlan),
                     FirewallBridgePort(name: "patch-tun", ofport: computePorts.patchTun, tag: 0)]
        do {
            return try SecurityGroupCompiler(configuration: computeSecurityGroupModel(), bridgePorts: ports).flowTexts()
        } catch {
            throw ScenarioError("security-group compiler: \(error)")
        }
    }

    /// br-tun's flows: Neutron's tunnel bridge for one network (local VLAN 100 ↔ tun_id 1001)
    /// with one remote VM (the sink's MAC) known by l2population.
    public static var computeTunnelFlows: [String] {
        let (patch, gre) = (computePorts.patchInt, computePorts.gre)
        let out = "strip_vlan,set_tunnel:\(computeTunnelID),output:\(gre)"
        return [
            "table=0,priority=1,in_port=\(patch) actions=resubmit(,2)",
            "table=0,priority=1,in_port=\(gre) actions=resubmit(,3)",
            "table=0,priority=0 actions=drop",
            "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)",
            "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)",
            "table=3,priority=1,tun_id=\(computeTunnelID) actions=mod_vlan_vid:\(vlan),resubmit(,10)",
            "table=3,priority=0 actions=drop",
            "table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],"
                + "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],"
                + "output:OXM_OF_IN_PORT[]),output:\(patch)",
            "table=20,priority=2,dl_vlan=\(vlan),dl_dst=\(colon(BenchScenario.sinkMAC)) actions=\(out)",
            "table=20,priority=0 actions=resubmit(,22)",
            "table=22,priority=1,dl_vlan=\(vlan) actions=\(out)",
            "table=22,priority=0 actions=drop",
        ]
    }

    /// Ours: br-int and br-tun joined by patch ports, the underlay on `b`.
    public func computeDatapathConfiguration(a: String, b: String) throws -> DatapathConfiguration {
        let remote = IPv4Address(Self.dotted(Self.remoteIP))!
        let ports = Self.computePorts
        return DatapathConfiguration(
            bridges: [
                BridgeConfiguration(name: "br-int", ports: [
                    PortConfiguration(name: a, ofport: ports.vm, tag: Self.vlan),
                    PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int"), ofport: ports.patchTun),
                ], flows: try Self.computeIntegrationFlows()),
                BridgeConfiguration(name: "br-tun", ports: [
                    PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun"), ofport: ports.patchInt),
                    PortConfiguration(name: "gre-bench", type: .gre(GREOptions(remoteIP: remote, key: .flow)), ofport: ports.gre),
                ], flows: Self.computeTunnelFlows),
            ],
            underlay: UnderlayConfiguration(interface: b, address: IPv4Address(Self.dotted(Self.localIP))!, prefixLength: 24,
                                            mac: MACAddress(Self.colon(BenchScenario.bMAC)),
                                            neighbours: [remote: MACAddress(Self.colon(BenchScenario.sinkMAC))!]))
    }

    /// The sink's reply to the VM's stream as it arrives on the underlay: Ether (sink → `b`)
    /// / IPv4 172.31.0.2 → 172.31.0.1 / GRE with key 1001 / the inner reply (`replyFrame`).
    /// The offset is that of the inner UDP destination port (the flows' port).
    public func computeReplyFrame(size: Int) -> (frame: [UInt8], portOffset: Int) {
        let inner = replyFrame(size: size)
        return (ScenarioFrames.gre(inner: inner.frame, destination: Self.bMAC, source: Self.sinkMAC,
                                   from: Self.remoteIP, to: Self.localIP, key: Self.computeTunnelID),
                ScenarioFrames.greHeaderBytes(key: Self.computeTunnelID) + inner.portOffset)
    }

    /// Linux: the VM's port and a gretap on one bridge, the `sg` iptables chains for the VM
    /// (its outside is the gretap), the underlay address on `b`. Commands in the forwarder
    /// namespace; `gretap` and `bridge` are the device names to create; `rules` the
    /// iptables-restore file (written by the caller from `computeIptables`).
    public static func computeKernelCommands(a: String, b: String, bridge: String, gretap: String, rules: String) -> [[String]] {
        let local = dotted(localIP), remote = dotted(remoteIP)
        return [
            ["ip", "addr", "add", "\(local)/24", "dev", b], ["ip", "link", "set", b, "up"],
            ["ip", "neigh", "replace", remote, "lladdr", colon(BenchScenario.sinkMAC), "dev", b, "nud", "permanent"],
            ["ip", "link", "add", gretap, "type", "gretap", "local", local, "remote", remote, "key", "\(computeTunnelID)"],
            ["ip", "link", "add", bridge, "type", "bridge"],
            ["ip", "link", "set", a, "master", bridge], ["ip", "link", "set", gretap, "master", bridge],
            ["ip", "link", "set", gretap, "up"], ["ip", "link", "set", a, "up"], ["ip", "link", "set", bridge, "up"],
            // GRO on both veths: frames XDP_TX'd into g0 and s0 (see KernelPeer).
            ["ethtool", "-K", a, "gro", "on"], ["ethtool", "-K", b, "gro", "on"],
            ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"], ["iptables-restore", rules],
        ]
    }

    /// The `sg` chains with the VM on `a` and the gretap as its outside: the stream is
    /// counted in sg-egress (the VM's egress), its replies pass sg-ingress as established.
    public static func computeIptables(a: String, gretap: String) -> String {
        securityGroupIptables(rules: computeRules, a: gretap, b: a)
    }

    /// Undoes `computeKernelCommands` (errors ignored).
    public static func computeKernelCleanup(a: String, b: String, bridge: String, gretap: String) -> [[String]] {
        [["ip", "link", "del", bridge], ["ip", "link", "del", gretap], ["ip", "addr", "flush", "dev", b],
         ["ip", "neigh", "del", dotted(remoteIP), "dev", b],
         ["iptables", "-t", "raw", "-F"], ["iptables", "-F"], ["iptables", "-X"], ["iptables", "-P", "FORWARD", "ACCEPT"],
         ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0"], ["conntrack", "-F"],
         ["ethtool", "-K", a, "gro", "off"], ["ethtool", "-K", b, "gro", "off"]]
    }
}

/// What one frame of the VM's stream and one reply did in our datapath (in memory):
/// the bench's `compute` configuration checked frame by frame (bench-micro, BenchLabTests).
public struct ComputePathCheck {
    /// Problems found; empty when the path is right.
    public var problems: [String] = []

    /// Sends the VM's frame into `a`, the sink's GRE reply into `b`, then the VM's frame
    /// again, and checks what leaves: the first and last leave `b` GRE-encapsulated with key
    /// 1001, the underlay's addresses and the inner frame untagged and unchanged; the reply
    /// reaches `a` decapsulated and untagged; the last frame passes table 72 as +est.
    public init(datapath: Datapath, a: String, b: String, now: DatapathInstant) {
        let scenario = BenchScenario.computeScenario
        let forward = scenario.generatorFrame(size: 60).frame
        let reply = scenario.replyFrame(size: 60).frame
        guard let vm = datapath.port(named: a), let underlay = datapath.port(named: b) else {
            problems.append("no port \(a) or \(b)")
            return
        }
        func checkEncapsulated(_ out: [[UInt8]], _ what: String) {
            guard out.count == 1, let f = out.first else {
                problems.append("\(what): \(out.count) frames left \(b), expected 1 (\(datapath.portStatistics().map(\.description).joined(separator: "; ")))")
                return
            }
            let expected = ScenarioFrames.gre(inner: forward, destination: BenchScenario.sinkMAC, source: BenchScenario.bMAC,
                                              from: BenchScenario.localIP, to: BenchScenario.remoteIP,
                                              key: BenchScenario.computeTunnelID)
            guard f.count == expected.count else {
                problems.append("\(what): \(f.count) bytes on \(b), expected \(expected.count)")
                return
            }
            // Everything but the IPv4 identification and checksum (ours may number packets).
            let fields: [(String, Range<Int>)] = [("Ethernet", 0..<14), ("IPv4 version/length", 14..<18),
                                                   ("IPv4 flags/TTL/protocol", 20..<24), ("IPv4 addresses", 26..<34),
                                                   ("GRE flags/protocol", 34..<38), ("GRE key", 38..<42),
                                                   ("inner frame", 42..<f.count)]
            for (name, range) in fields where Array(f[range]) != Array(expected[range]) {
                problems.append("\(what): \(name) \(Array(f[range]).prefix(16)) ≠ \(Array(expected[range]).prefix(16))")
            }
        }
        datapath.inject(forward, into: vm, now: now)
        checkEncapsulated(datapath.drainTransmitted(underlay), "VM's first frame")
        if !datapath.drainTransmitted(vm).isEmpty { problems.append("VM's first frame came back to \(a)") }

        let gre = scenario.computeReplyFrame(size: 60).frame
        datapath.inject(gre, into: underlay, now: now + .nanoseconds(1_000))
        let back = datapath.drainTransmitted(vm)
        if back != [reply] {
            problems.append("reply: \(back.count) frames reached \(a)" + (back.first.map { ", first \(Array($0.prefix(18)))" } ?? "")
                + ", expected the inner reply untagged (\(datapath.portStatistics().map(\.description).joined(separator: "; ")))")
        }

        let before = Self.established(datapath)
        datapath.inject(forward, into: vm, now: now + .nanoseconds(2_000))
        checkEncapsulated(datapath.drainTransmitted(underlay), "VM's frame after the reply")
        let after = Self.established(datapath)
        if after.established != before.established + 1 || after.new != before.new {
            problems.append("table 72: +est \(before.established) → \(after.established), +new \(before.new) → \(after.new); "
                + "expected the second frame counted as +est")
        }
    }

    public static func established(_ datapath: Datapath) -> FirewallCounts {
        FirewallCounts(flows: (try? datapath.flowStatistics(bridge: "br-int", now: .zero)) ?? [], table: 72)
    }
}
