// Example: an in-memory datapath with two bridges and flows, from the value forms of the
// configuration, driven through EmbeddedDatapath. Pure products only (XDPDatapath,
// XDPModel, XDPPacket): no libxdp, no root. Exits non-zero if what it shows does not happen.
import XDPDatapath
import XDPModel
import XDPPacket

/// Stops the program with `message` when `condition` is false.
func check(_ condition: Bool, _ message: String) {
    guard condition else { fatalError("InMemoryFlows: \(message)") }
    print("ok: \(message)")
}

// br-int carries two VLANs; br-tun, behind a patch pair, sends VLAN 1 up the uplink tagged
// 100 and drops VLAN 2: the flows of a small br-tun.
let configuration = DatapathConfiguration(bridges: [
    BridgeConfiguration(name: "br-int", ports: [
        PortConfiguration(name: "vm1", tag: 1),
        PortConfiguration(name: "vm2", tag: 2),
        PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
    ]),
    BridgeConfiguration(name: "br-tun", ports: [
        PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun"), ofport: 1),
        PortConfiguration(name: "uplink", ofport: 2),
    ], flows: [
        "table=0,priority=10,in_port=1,dl_vlan=1 actions=mod_vlan_vid:100,output:2",
        "table=0,priority=0 actions=drop",
    ]),
])
let node = EmbeddedDatapath(datapath: try Datapath(configuration: configuration,
                                                   pool: FramePool(frameCount: 256), now: .zero))

let vm1: [UInt8] = [0x02, 0, 0, 0, 0, 1], vm2: [UInt8] = [0x02, 0, 0, 0, 0, 2]
func broadcast(from source: [UInt8]) -> [UInt8] {
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + source + [0x88, 0xb5] + [UInt8](repeating: 0, count: 46)
}

try node.writeInbound(broadcast(from: vm1), on: "vm1")
let up = try node.readOutbound(on: "uplink").map { PacketParser.parse($0) }
check(up?.outerVLAN?.id == 100, "VLAN 1 leaves the uplink tagged 100: \(up?.description ?? "nothing")")

try node.writeInbound(broadcast(from: vm2), on: "vm2")
check(try node.readOutbound(on: "uplink") == nil, "VLAN 2 is dropped by br-tun's table 0")

// A flow added at run time, as `xdpswitch add-flow` would: VLAN 2 goes up tagged 200.
try node.datapath.addFlow(FlowParser.parse("table=0,priority=10,in_port=1,dl_vlan=2 actions=mod_vlan_vid:200,output:2"),
                          bridge: "br-tun", now: node.now)
try node.writeInbound(broadcast(from: vm2), on: "vm2")
let second = try node.readOutbound(on: "uplink").map { PacketParser.parse($0) }
check(second?.outerVLAN?.id == 200 && second?.sourceMAC == MACAddress("02:00:00:00:00:02"),
      "after add-flow, VLAN 2 leaves tagged 200")

let flows = try node.datapath.flowStatistics(bridge: "br-tun", now: node.now)
check(flows.contains { $0.packets == 1 && $0.rule.description.contains("dl_vlan=2") }, "dump-flows counts the new flow's packet")
check(node.finish().isClean, "no frame left unread")
