import Testing
import XDPDatapath
import XDPPacket

/// One compute node of the reference design's GRE mode, with in-memory ports:
///
/// ```
///  vm (tag 1) ── br-int ── patch-tun ═ patch-int ── br-tun ── gre ~~ underlay eth1
/// ```
///
/// Tests join two nodes by carrying what one node's `eth1` transmitted into the other's
/// (`Node.carry`), as a cable or an L2 switch would.
final class TunnelNode {
    let pool: FramePool
    let datapath: Datapath
    let underlayConfiguration: UnderlayConfiguration
    var now: UInt64 = 1_000_000_000

    init(underlay: UnderlayConfiguration, gre: [String: GREOptions], vxlan: [String: VXLANOptions] = [:], vmTag: UInt16 = 1,
         frames: Int = 256, brTunFlows: [String] = []) throws {
        pool = FramePool(frameCount: frames)
        underlayConfiguration = underlay
        let configuration = DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "vm", tag: vmTag),
                PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
            ]),
            BridgeConfiguration(name: "br-tun", ports: [PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun"))]
                + gre.keys.sorted().map { PortConfiguration(name: $0, type: .gre(gre[$0]!)) }
                + vxlan.keys.sorted().map { PortConfiguration(name: $0, type: .vxlan(vxlan[$0]!)) }, flows: brTunFlows),
        ], underlay: underlay)
        datapath = try Datapath(configuration: configuration, pool: pool, now: .zero)
    }

    var underlay: Underlay { datapath.underlay! }
    var wire: DatapathPort { datapath.port(named: underlayConfiguration.interface)! }
    func port(_ name: String) -> DatapathPort { datapath.port(named: name)! }
    func drops(_ name: String, _ reason: DropReason) -> UInt64 { port(name).stats.drops[reason] ?? 0 }

    func send(_ frames: [UInt8]..., on name: String = "vm") { datapath.inject(frames, into: port(name), now: DatapathInstant(nanoseconds: now)) }
    func receiveOnWire(_ frames: [[UInt8]]) { datapath.inject(frames, into: wire, now: DatapathInstant(nanoseconds: now)) }

    /// What `name` transmitted since the last call (frames freed).
    func transmitted(_ name: String) -> [[UInt8]] { datapath.drainTransmitted(port(name)) }
    func wireOut() -> [[UInt8]] { transmitted(underlayConfiguration.interface) }

    /// Moves what this node's underlay transmitted to `other`'s underlay; returns the frames.
    @discardableResult
    func carry(to other: TunnelNode) -> [[UInt8]] {
        let frames = wireOut()
        other.receiveOnWire(frames)
        return frames
    }

    /// Every frame is free, queued on a port, or waiting for an ARP answer.
    var accountingHolds: Bool {
        pool.freeCount + datapath.framesQueued == pool.frameCount
    }

    /// Frees whatever is still queued anywhere (not the ARP waits).
    func discard() { datapath.discardTransmitted() }
}

/// Addresses of the two-node scenario.
enum Net {
    static let mac1 = MACAddress("02:00:00:00:01:01")!
    static let mac2 = MACAddress("02:00:00:00:02:02")!
    static let gatewayMAC = MACAddress("02:00:00:00:fe:fe")!
    static let ip1 = IPv4Address(172, 16, 0, 1)
    static let ip2 = IPv4Address(172, 16, 0, 2)
    static let gateway = IPv4Address(172, 16, 0, 254)
    static let vmA = MACAddress("fa:16:3e:00:00:0a")!
    static let vmB = MACAddress("fa:16:3e:00:00:0b")!
    static let ipA = IPv4Address(10, 1, 0, 10)
    static let ipB = IPv4Address(10, 1, 0, 11)
    static let ip6A = IPv6Address("fd00::a")!
    static let ip6B = IPv6Address("fd00::b")!

    static func underlay(_ n: Int, static neighbours: Bool = true, mtu: Int = 1500, pendingLimit: Int = 16,
                         gateway: IPv4Address? = nil, neighbourCapacity: Int = 4096) -> UnderlayConfiguration {
        let (ip, mac) = n == 1 ? (ip1, mac1) : (ip2, mac2)
        let (peerIP, peerMAC) = n == 1 ? (ip2, mac2) : (ip1, mac1)
        return UnderlayConfiguration(interface: "eth1", address: ip, prefixLength: 24, mac: mac, gateway: gateway, mtu: mtu,
                                     neighbours: neighbours ? [peerIP: peerMAC] : [:], pendingLimit: pendingLimit,
                                     neighbourCapacity: neighbourCapacity)
    }

    /// Node `n` of two, its gre port `gre` pointing at the other node.
    static func node(_ n: Int, key: GREOptions.Key = .fixed(0x2A), staticNeighbours: Bool = true, mtu: Int = 1500,
                     pendingLimit: Int = 16) throws -> TunnelNode {
        try TunnelNode(underlay: underlay(n, static: staticNeighbours, mtu: mtu, pendingLimit: pendingLimit),
                       gre: ["gre": GREOptions(remoteIP: n == 1 ? ip2 : ip1, key: key)])
    }

    /// A UDP frame from VM A to VM B with `payload` bytes.
    static func udp(payload: Int = 18, from: MACAddress = vmA, to: MACAddress = vmB, dontFragment: Bool = false) -> [UInt8] {
        FrameBuilder()
            .ethernet(source: from, destination: to)
            .ipv4(source: ipA, destination: ipB, dontFragment: dontFragment)
            .udp(sourcePort: 1000, destinationPort: 2000)
            .payload(count: payload)
            .build()
    }

    /// `frame` with an 802.1Q tag (VID `vlan`) after the MAC addresses.
    static func tagged(_ frame: [UInt8], vlan: UInt16) -> [UInt8] {
        Array(frame[0..<12]) + [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xFF)] + Array(frame[12...])
    }

    /// What the underlay carries for `inner`: scapy's
    /// `Ether()/IP(flags='DF', ttl=64, id=0, proto=47)/GRE(key_present=1, key=K, proto=0x6558)/inner`.
    static func gre(_ inner: [UInt8], key: UInt32?, from: (MACAddress, IPv4Address) = (mac1, ip1),
                    to: (MACAddress, IPv4Address) = (mac2, ip2), flags: UInt16 = 0, version: UInt8 = 0,
                    protocolType: EtherType = .transparentEthernetBridging) -> [UInt8] {
        FrameBuilder()
            .ethernet(source: from.0, destination: to.0)
            .ipv4(source: from.1, destination: to.1, ttl: 64, identification: 0, dontFragment: true)
            .gre(key: key, protocolType: protocolType, reservedBits: flags, version: version)
            .payload(inner)
            .build()
    }

    /// `frame` padded with zeros to the 60-byte Ethernet minimum.
    static func padded(_ frame: [UInt8]) -> [UInt8] { frame + [UInt8](repeating: 0, count: max(0, 60 - frame.count)) }
}

extension TunnelNode {
    /// The reference design's br-tun flows (tunnel 2 ↔ local VLAN 1), with `localMAC` the node's VM.
    static func referenceFlows(localMAC: MACAddress) -> [String] {
        [
            "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x2,NORMAL",
            "priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
            "priority=3,tun_id=0x2,dl_dst=\(localMAC) actions=mod_vlan_vid:1,NORMAL",
            "priority=1 actions=drop",
        ]
    }

    /// Node `n` of two with key=flow gre ports and the reference design's flows on br-tun.
    convenience init(referenceNode n: Int, mtu: Int = 1500) throws {
        let local = n == 1 ? Net.vmA : Net.vmB
        try self.init(underlay: Net.underlay(n, mtu: mtu), gre: ["gre": GREOptions(remoteIP: n == 1 ? Net.ip2 : Net.ip1, key: .flow)],
                      brTunFlows: Self.referenceFlows(localMAC: local))
    }
}
