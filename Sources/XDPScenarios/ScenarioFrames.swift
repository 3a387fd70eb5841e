import XDPPacket

/// The frames the bench scenarios send, built with `FrameBuilder` (lengths and checksums
/// from the packet layer): the generator's UDP stream, the same wrapped in GRE as a remote
/// tunnel endpoint sends it, and addresses given as bytes (`[UInt8]`, shorter ones
/// zero-padded), as the lab's commands and the generator's offsets use them.
///
/// The UDP frames carry no UDP checksum (0: "none" over IPv4), so the generator can rewrite
/// the source port per flow without making them invalid; their IPv4 identification is 0.
public enum ScenarioFrames {
    /// Ethernet (+ 802.1Q `vlan`) + IPv4 + UDP 10.77.0.1:9 → 10.77.0.2:9, zero payload, UDP
    /// checksum 0, padded to `size` bytes (at least 60; 4 more with a tag). The UDP source
    /// port is at 34 (38 with a tag): the generator's `portOffset`.
    public static func udp(destination: [UInt8], source: [UInt8], size: Int, vlan: UInt16? = nil,
                           from: [UInt8] = [10, 77, 0, 1], to: [UInt8] = [10, 77, 0, 2]) -> [UInt8] {
        let tag = vlan == nil ? 0 : 4
        let size = max(60 + tag, size)
        var builder = FrameBuilder().ethernet(source: mac(source), destination: mac(destination))
        if let vlan { builder = builder.vlan(vid: vlan) }
        return builder.ipv4(source: ipv4(from), destination: ipv4(to), identification: 0)
            .udp(sourcePort: 9, destinationPort: 9, checksum: false)
            .payload([UInt8](repeating: 0, count: size - 14 - tag - 28))
            .build()
    }

    /// `inner` encapsulated like a GRE tunnel endpoint sends it: Ethernet (`destination` ←
    /// `source`) + IPv4 (`from` → `to`, DF, TTL 64, id 0, protocol 47) + GRE (protocol
    /// 0x6558, Transparent Ethernet Bridging; with the K bit and `key` when given, RFC 2890):
    /// `greHeaderBytes(key:)` before `inner`.
    public static func gre(inner: [UInt8], destination: [UInt8], source: [UInt8], from: [UInt8], to: [UInt8],
                           key: UInt32? = nil) -> [UInt8] {
        FrameBuilder().ethernet(source: mac(source), destination: mac(destination))
            .ipv4(source: ipv4(from), destination: ipv4(to), identification: 0, dontFragment: true)
            .gre(key: key, protocolType: .transparentEthernetBridging)
            .payload(inner)
            .build()
    }

    /// `inner` encapsulated like a VXLAN tunnel endpoint sends it: Ethernet (`destination` ←
    /// `source`) + IPv4 (`from` → `to`, DF, TTL 64, id 0, protocol 17) + UDP (`sourcePort` →
    /// 4789, checksum 0) + VXLAN (the I flag, `vni`): `vxlanHeaderBytes` before `inner`.
    public static func vxlan(inner: [UInt8], destination: [UInt8], source: [UInt8], from: [UInt8], to: [UInt8],
                             vni: UInt32 = 0, sourcePort: UInt16 = 49152) -> [UInt8] {
        FrameBuilder().ethernet(source: mac(source), destination: mac(destination))
            .ipv4(source: ipv4(from), destination: ipv4(to), identification: 0, dontFragment: true)
            .udp(sourcePort: sourcePort, destinationPort: VXLANHeader.defaultPort, checksum: false)
            .vxlan(vni: vni)
            .payload(inner)
            .build()
    }

    /// Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
    public static let vxlanHeaderBytes = 50

    /// Ethernet 14 + IPv4 20 + GRE 4, and 4 more with a key.
    public static func greHeaderBytes(key: UInt32?) -> Int { key == nil ? 38 : 42 }

    /// An ARP request from `senderMAC`/`sender` for `target`, padded to 60 bytes.
    public static func arpRequest(senderMAC: [UInt8], sender: [UInt8], target: [UInt8]) -> [UInt8] {
        let f = FrameBuilder.arpRequest(senderMAC: mac(senderMAC), senderIP: ipv4(sender), targetIP: ipv4(target))
        return f + [UInt8](repeating: 0, count: max(0, 60 - f.count))
    }

    /// `bytes` (zero-padded to 6) as a MAC address.
    public static func mac(_ bytes: [UInt8]) -> MACAddress {
        MACAddress(rawValue: Array(bytes.prefix(6) + [UInt8](repeating: 0, count: max(0, 6 - bytes.count)))
            .reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// `bytes` (zero-padded to 4) as an IPv4 address.
    public static func ipv4(_ bytes: [UInt8]) -> IPv4Address {
        let b = Array(bytes.prefix(4) + [UInt8](repeating: 0, count: max(0, 4 - bytes.count)))
        return IPv4Address(b[0], b[1], b[2], b[3])
    }
}
