// Example: a Neutron router with SNAT and a floating IP, from YAML, in memory. A VM's
// datagram leaves with the router's gateway address; a datagram to the floating IP
// reaches the VM's fixed address after the router resolved it with ARP. Pure products
// only (XDPModel, XDPDatapath, XDPPacket). Exits non-zero if what it shows does not happen.
import XDPDatapath
import XDPModel
import XDPPacket

/// Stops the program with `message` when `condition` is false.
func check(_ condition: Bool, _ message: String) {
    guard condition else { fatalError("RouterNAT: \(message)") }
    print("ok: \(message)")
}

let yaml = """
    bridges:
      - name: br-int
        ports:
          - {name: qvo-vm1, tag: 1}
          - {name: qr-6a1b2c3d-4e, type: router, tag: 1}
      - name: br-ex
        ports:
          - {name: eth-ext}
          - {name: qg-7f8e9d0c-1b, type: router}
    routers:
      - name: router1
        interfaces:
          - {name: qr-6a1b2c3d-4e, mac: fa:16:3e:00:00:01, address: 10.1.0.1/24}
          - {name: qg-7f8e9d0c-1b, mac: fa:16:3e:00:00:02, address: 172.24.4.227/28}
        default_gateway: 172.24.4.225
        snat: true
        floating_ips: [{floating: 172.24.4.228, fixed: 10.1.0.7}]
    """
let node = try EmbeddedDatapath(configuration: SwitchConfiguration.parse(yaml: yaml, file: "router.yaml"))

let routerInside = MACAddress("fa:16:3e:00:00:01")!, routerOutside = MACAddress("fa:16:3e:00:00:02")!
let gatewayMAC = MACAddress("02:42:ac:18:04:e1")!, gateway = IPv4Address(172, 24, 4, 225)
let vm5 = MACAddress("fa:16:3e:aa:00:05")!, vm7 = MACAddress("fa:16:3e:aa:00:07")!

/// The MAC address at `offset` of `frame` (0: destination, 6: source).
func mac(_ frame: [UInt8], at offset: Int) -> MACAddress {
    MACAddress(rawValue: frame[offset..<offset + 6].reduce(0) { $0 << 8 | UInt64($1) })
}

/// The IPv4 source and destination of an untagged frame.
func addresses(_ frame: [UInt8]) -> (source: IPv4Address, destination: IPv4Address) {
    (IPv4Address(frame[26], frame[27], frame[28], frame[29]), IPv4Address(frame[30], frame[31], frame[32], frame[33]))
}

// The external gateway asks for the router's address: the router answers and learns it.
try node.writeInbound(FrameBuilder.arpRequest(senderMAC: gatewayMAC, senderIP: gateway, targetIP: IPv4Address(172, 24, 4, 227)),
                      on: "eth-ext")
let arpReply = try node.readOutbound(on: "eth-ext")
check(arpReply.map { Array($0[12..<14]) } == [0x08, 0x06] && arpReply.map { mac($0, at: 6) } == routerOutside,
      "the router answers ARP for its gateway address")

// SNAT: 10.1.0.5 → 172.24.4.225 leaves as 172.24.4.227 → 172.24.4.225.
try node.writeInbound(FrameBuilder().ethernet(source: vm5, destination: routerInside)
    .ipv4(source: IPv4Address(10, 1, 0, 5), destination: gateway)
    .udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build(), on: "qvo-vm1")
let out = try node.readOutbound(on: "eth-ext")
check(out.map(addresses)?.source == IPv4Address(172, 24, 4, 227) && out.map(addresses)?.destination == gateway,
      "SNAT: the VM's datagram leaves with the router's gateway address")
check(out.map { mac($0, at: 0) } == gatewayMAC, "to the gateway's MAC, learned from its ARP request")

// Floating IP: a datagram to 172.24.4.228 is for 10.1.0.7; the router asks who has it.
try node.writeInbound(FrameBuilder().ethernet(source: gatewayMAC, destination: routerOutside)
    .ipv4(source: gateway, destination: IPv4Address(172, 24, 4, 228))
    .udp(sourcePort: 5000, destinationPort: 80).payload(count: 18).build(), on: "eth-ext")
let request = try node.readOutbound(on: "qvo-vm1")
check(request.map { Array($0[12..<14]) } == [0x08, 0x06] && request.map { Array($0[38..<42]) } == [10, 1, 0, 7],
      "the router asks for the fixed address on the internal network")
try node.writeInbound(FrameBuilder.arpReply(senderMAC: vm7, senderIP: IPv4Address(10, 1, 0, 7),
                                            targetMAC: routerInside, targetIP: IPv4Address(10, 1, 0, 1)), on: "qvo-vm1")
let delivered = try node.readOutbound(on: "qvo-vm1")
check(delivered.map(addresses)?.destination == IPv4Address(10, 1, 0, 7) && delivered.map(addresses)?.source == gateway,
      "DNAT: the datagram to the floating IP reaches the fixed address")
check(delivered.map { mac($0, at: 0) } == vm7, "to the MAC the ARP reply gave")
check(node.finish().isClean, "no frame left unread or held")
