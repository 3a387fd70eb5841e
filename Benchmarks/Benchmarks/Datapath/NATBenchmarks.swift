import Benchmark
import XDPDatapath
import XDPPacket

// The router with NAT (the `snat` and `fip` stages of `xdpswitch bench-micro`, the
// seed's router namespace in the datapath): br-int (the VM side, local VLAN 1, `qr-`)
// and br-ex (the external side, `qg-`), the router between them.
//
// - SNAT: VM 10.77.0.1 on br-int → external host 10.78.0.2 on br-ex, leaving as the
//   router's gateway address 10.78.0.1.
// - Floating IP: external host 10.78.0.2 → floating IP 10.78.0.100, translated to the
//   VM's fixed address 10.77.0.2.
// Before measuring, the receiving host's ARP request to the router teaches the router
// its MAC, and one packet sets the connection up; the measured packets are that
// connection's. Per packet = metric / 64,000, as in DatapathBenchmarks.swift.

func natBenchmarks() {
    let outsideMAC = MACAddress("fa:16:3e:00:aa:01")!, insideMAC = MACAddress("fa:16:3e:00:bb:01")!
    let senderMAC = MACAddress("02:00:00:00:00:0a")!, receiverMAC = MACAddress("02:00:00:00:00:0b")!
    let internalRouterIP = IPv4Address(10, 77, 0, 254), externalRouterIP = IPv4Address(10, 78, 0, 1)
    let externalHostIP = IPv4Address(10, 78, 0, 2), floatingIP = IPv4Address(10, 78, 0, 100)
    let vmIP = IPv4Address(10, 77, 0, 1), fixedIP = IPv4Address(10, 77, 0, 2)

    for snat in [true, false] {
        // The sender is on `a`, the receiver on `b`; the router's MAC on the sender's side
        // is `outsideMAC` (the frames are addressed to it).
        let (inside, outside) = snat ? ("a", "b") : ("b", "a")
        let (qrMAC, qgMAC) = snat ? (outsideMAC, insideMAC) : (insideMAC, outsideMAC)
        let router = RouterConfiguration(name: "bench", interfaces: [
            .init(name: "qr-bench", mac: qrMAC, address: internalRouterIP, prefixLength: 24),
            .init(name: "qg-bench", mac: qgMAC, address: externalRouterIP, prefixLength: 24),
        ], snat: .init(), floatingIPs: snat ? [] : [.init(floating: floatingIP, fixed: fixedIP)])
        let config = DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: [PortConfiguration(name: inside, tag: 1),
                                                        PortConfiguration(name: "qr-bench", type: .router, tag: 1)]),
            BridgeConfiguration(name: "br-ex", ports: [PortConfiguration(name: outside),
                                                       PortConfiguration(name: "qg-bench", type: .router)]),
        ], routers: [router])
        let (from, to) = snat ? (vmIP, externalHostIP) : (externalHostIP, floatingIP)
        let (receiver, routerOnReceiverSide) = snat ? (externalHostIP, externalRouterIP) : (fixedIP, internalRouterIP)
        let frame = FrameBuilder().ethernet(source: senderMAC, destination: outsideMAC)
            .ipv4(source: from, destination: to).udp(sourcePort: 9, destinationPort: 9).payload(count: 18).build()
        let arp = FrameBuilder.arpRequest(senderMAC: receiverMAC, senderIP: receiver, targetIP: routerOnReceiverSide)
        let rig = Rig(configuration: config, input: "a", templates: [frame], learn: [(arp, "b"), (frame, "a")])
        precondition(rig.datapath.port(named: "b")!.stats.txPackets >= 1, "the first packet went through the router")
        pipeline(snat ? "Router SNAT: br-int VM -> qr -> SNAT -> qg -> br-ex host 64B x64000"
                      : "Router floating IP: br-ex host -> qg -> DNAT -> qr -> br-int VM 64B x64000",
                 output: "b", rig)
    }
}
