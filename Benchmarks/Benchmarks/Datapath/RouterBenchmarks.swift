import Benchmark
import XDPDatapath
import XDPPacket
import XDPScenarios

// The router as a bridge port: a VM on br-int (access VLAN 1) sends UDP to a host on
// br-ex; the frame is switched to the qr- port (tag popped), routed (checksum check, LPM,
// TTL with RFC 1624 update, MACs), queued on qg-, drained into br-ex at the end of
// `process` and switched to the host's port. Neighbours and MACs are learned beforehand,
// so this is the steady state of a forwarding router. Per packet = metric / 64,000.

let routerQRMAC = MACAddress("fa:16:3e:00:00:01")!, routerQGMAC = MACAddress("fa:16:3e:00:00:02")!
let routerVMMAC = MACAddress("fa:16:3e:aa:00:05")!, routerExtMAC = MACAddress("02:42:ac:18:04:e1")!
let routerVMIP = IPv4Address(10, 1, 0, 5), routerExtIP = IPv4Address(172, 24, 4, 225)

let routedNode = DatapathConfiguration(bridges: [
    BridgeConfiguration(name: "br-int", ports: [
        PortConfiguration(name: "qvo-vm1", tag: 1),
        PortConfiguration(name: "qr-6a1b2c3d-4e", type: .router, tag: 1),
    ]),
    BridgeConfiguration(name: "br-ex", ports: [
        PortConfiguration(name: "eth-ext"),
        PortConfiguration(name: "qg-7f8e9d0c-1b", type: .router),
    ]),
], routers: [RouterConfiguration(name: "router1", interfaces: [
    .init(name: "qr-6a1b2c3d-4e", mac: routerQRMAC, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
    .init(name: "qg-7f8e9d0c-1b", mac: routerQGMAC, address: IPv4Address(172, 24, 4, 227), prefixLength: 28),
], defaultGateway: routerExtIP)])

func routerBenchmarks() {
    let template = FrameBuilder().ethernet(source: routerVMMAC, destination: routerQRMAC)
        .ipv4(source: routerVMIP, destination: routerExtIP, ttl: 64).udp(sourcePort: 9, destinationPort: 9).payload(count: 18).build()
    pipeline("Router: br-int VM -> qr -> qg -> br-ex host 64B x64000", try! ScenarioRig(PipelineScenario(
        name: "router", configuration: routedNode, input: "qvo-vm1", output: "eth-ext", templates: [template], prime: [
            (FrameBuilder.arpRequest(senderMAC: routerVMMAC, senderIP: routerVMIP, targetIP: IPv4Address(10, 1, 0, 1)), "qvo-vm1"),
            (FrameBuilder.arpRequest(senderMAC: routerExtMAC, senderIP: routerExtIP, targetIP: IPv4Address(172, 24, 4, 227)), "eth-ext"),
        ])))
}
