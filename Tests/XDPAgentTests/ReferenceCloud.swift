import Testing
import XDPAgent
import XDPDatapath
import XDPModel
import XDPPacket

/// The reference design's cloud as host views: tenant network `net1` (GRE, tunnel id 2,
/// 10.1.0.0/24), the VM 10.1.0.2 (fa:16:3e:dd:c1:62, the MAC of the reference design's
/// br-tun dump) on compute1, a second VM 10.1.0.4 on compute2, and the network node with
/// router1 (qr- 10.1.0.1, qg- 172.24.4.227/28, default via 172.24.4.225, SNAT, floating IP
/// 172.24.4.228 ↔ 10.1.0.2) and net1's DHCP port 10.1.0.3. Underlay 172.16.0.0/24 on eth1:
/// compute1 .1, network .2, compute2 .3.
enum ReferenceCloud {
    static let net1 = "5c2d8e1a-7b3f-4a9e-8d21-0f6b2c4a9e11"
    static let extNet = "9e4f1b2c-3d5a-4e6f-8a7b-1c2d3e4f5a6b"
    static let subnet1 = "b7e3c9a1-2f4d-4c6b-9e8a-7d1f3b5c2e90"
    static let extSubnet = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
    static let vm1Port = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
    static let vm2Port = "d4c3b2a1-6f5e-4b7a-9d8c-5d4c3b2a1f0e"
    static let dhcpPort = "3c1a2b4d-5e6f-4a7b-8c9d-e0f1a2b3c4d5"
    static let routerPort = "6a1b2c3d-4e5f-4a6b-7c8d-9e0f1a2b3c4d"
    static let gatewayPort = "7f8e9d0c-1b2a-4c3d-9e8f-7a6b5c4d3e2f"
    static let router1 = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
    static let defaultGroup = "f0e1d2c3-b4a5-4968-8776-655443322110"

    static let vm1MAC = "fa:16:3e:dd:c1:62", vm2MAC = "fa:16:3e:aa:00:04"
    static let dhcpMAC = "fa:16:3e:00:00:03", routerMAC = "fa:16:3e:00:00:01", gatewayMAC = "fa:16:3e:00:00:02"
    static let compute1IP = "172.16.0.1", networkIP = "172.16.0.2", compute2IP = "172.16.0.3"
    static let segment: UInt64 = 2

    static let subnet = HostView.Subnet(id: subnet1, cidr: "10.1.0.0/24", gatewayIP: "10.1.0.1", dnsNameservers: ["8.8.8.8"])

    /// Neutron's default group (egress anywhere, ingress from the group's members) and SSH.
    static let securityGroup = HostView.SecurityGroup(id: defaultGroup, name: "default", rules: [
        HostView.Rule(direction: "egress", ethertype: "IPv4"),
        HostView.Rule(direction: "egress", ethertype: "IPv6"),
        HostView.Rule(direction: "ingress", ethertype: "IPv4", remoteGroupID: defaultGroup),
        HostView.Rule(direction: "ingress", ethertype: "IPv6", remoteGroupID: defaultGroup),
        HostView.Rule(direction: "ingress", ethertype: "IPv4", protocol: "tcp", portRangeMin: 22, portRangeMax: 22,
                      remoteIPPrefix: "0.0.0.0/0"),
    ], members: ["10.1.0.2", "10.1.0.4"])

    static func vmPort(_ id: String, mac: String, ip: String) -> HostView.Port {
        HostView.Port(id: id, networkID: net1, macAddress: mac, fixedIPs: [HostView.FixedIP(subnetID: subnet1, ipAddress: ip)],
                      securityGroups: [defaultGroup])
    }

    static let networkNodePorts = [
        HostView.RemotePort(macAddress: dhcpMAC, ipAddresses: ["10.1.0.3"], deviceOwner: "network:dhcp"),
        HostView.RemotePort(macAddress: routerMAC, ipAddresses: ["10.1.0.1"], deviceOwner: "network:router_interface"),
    ]

    static func tunnel(_ ip: String) -> HostView.Tunnel { HostView.Tunnel(ip: ip, prefixLength: 24, interface: "eth1") }

    /// compute1: vm1, with the network node and compute2 as net1's other hosts.
    static var compute1: HostView {
        HostView(revision: 7, host: HostView.Host(name: "compute1", role: .compute, tunnel: tunnel(compute1IP)),
                 networks: [HostView.Network(id: net1, name: "net1", networkType: .gre, segmentationID: segment, mtu: 1458,
                                             subnets: [subnet], remoteHosts: [
                                                HostView.RemoteHost(host: "network", tunnelIP: networkIP, ports: networkNodePorts),
                                                HostView.RemoteHost(host: "compute2", tunnelIP: compute2IP, ports: [
                                                    HostView.RemotePort(macAddress: vm2MAC, ipAddresses: ["10.1.0.4"], deviceOwner: "compute:nova"),
                                                ]),
                                             ])],
                 ports: [vmPort(vm1Port, mac: vm1MAC, ip: "10.1.0.2")],
                 securityGroups: [securityGroup])
    }

    /// The network node: router1 and net1's DHCP, with both compute nodes as net1's other hosts.
    static var networkNode: HostView {
        let external = HostView.Network(id: extNet, name: "public", networkType: .flat, physicalNetwork: "public", routerExternal: true,
                                        subnets: [HostView.Subnet(id: extSubnet, cidr: "172.24.4.224/28", gatewayIP: "172.24.4.225",
                                                                  enableDHCP: false)])
        let tenant = HostView.Network(id: net1, name: "net1", networkType: .gre, segmentationID: segment, mtu: 1458, subnets: [subnet],
                                      remoteHosts: [
                                        HostView.RemoteHost(host: "compute1", tunnelIP: compute1IP, ports: [
                                            HostView.RemotePort(macAddress: vm1MAC, ipAddresses: ["10.1.0.2"], deviceOwner: "compute:nova"),
                                        ]),
                                        HostView.RemoteHost(host: "compute2", tunnelIP: compute2IP, ports: [
                                            HostView.RemotePort(macAddress: vm2MAC, ipAddresses: ["10.1.0.4"], deviceOwner: "compute:nova"),
                                        ]),
                                      ])
        let router = HostView.Router(
            id: router1, name: "router1",
            interfaces: [HostView.RouterInterface(portID: routerPort, macAddress: routerMAC, networkID: net1, subnetID: subnet1,
                                                  ipAddress: "10.1.0.1")],
            gateway: HostView.RouterGateway(port: HostView.RouterInterface(portID: gatewayPort, macAddress: gatewayMAC, networkID: extNet,
                                                                           subnetID: extSubnet, ipAddress: "172.24.4.227"),
                                            enableSNAT: true),
            floatingIPs: [HostView.FloatingIP(floatingIPAddress: "172.24.4.228", fixedIPAddress: "10.1.0.2")])
        let dhcp = HostView.DHCPService(networkID: net1, portID: dhcpPort, macAddress: dhcpMAC,
                                        fixedIPs: [HostView.FixedIP(subnetID: subnet1, ipAddress: "10.1.0.3")], leaseTime: 120,
                                        hosts: [HostView.Lease(macAddress: vm1MAC, ipAddress: "10.1.0.2"),
                                                HostView.Lease(macAddress: vm2MAC, ipAddress: "10.1.0.4", hostname: "vm2")])
        return HostView(revision: 7, host: HostView.Host(name: "network", role: .network, tunnel: tunnel(networkIP), externalInterface: "eth-ext"),
                        networks: [tenant, external], routers: [router], dhcp: [dhcp])
    }
}

/// Compiling and loading, with the checks every test wants.
enum Compiled {
    /// Compiles `view` and parses the YAML (`SwitchConfiguration.parse`, which also builds a
    /// scratch datapath and compiles the security groups).
    static func configuration(_ view: HostView, previous: [String: UInt16] = [:],
                              options: CompileOptions = CompileOptions()) throws -> (node: CompiledNode, configuration: SwitchConfiguration) {
        let node = try NodeCompiler(view: view, previousLocalVLANs: previous, options: options).compile()
        return (node, try SwitchConfiguration.parse(yaml: node.yaml, file: "\(view.host.name).yaml"))
    }

    /// The datapath the compiled YAML describes, in memory.
    static func datapath(_ view: HostView, options: CompileOptions = CompileOptions()) throws -> Datapath {
        try configuration(view, options: options).configuration.makeDatapath(pool: FramePool(frameCount: 512), now: .zero)
    }

    /// The flows of `bridge` as rules, by table.
    static func flows(_ configuration: SwitchConfiguration, bridge: String) throws -> [Int: [FlowRule]] {
        let texts = try #require(configuration.datapath.bridges.first { $0.name == bridge }).flows
        var out: [Int: [FlowRule]] = [:]
        for text in texts {
            let rule = try FlowParser.parse(text)
            out[Int(rule.table), default: []].append(rule)
        }
        return out
    }

    /// A bridge's port configuration.
    static func port(_ configuration: SwitchConfiguration, _ name: String) -> PortConfiguration? {
        for bridge in configuration.datapath.bridges { if let p = bridge.ports.first(where: { $0.name == name }) { return p } }
        return nil
    }
}

/// The underlay seen from outside: remote tunnel endpoints answering ARP and sending GRE.
struct Underlay {
    let datapath: Datapath
    let port: DatapathPort

    init(_ datapath: Datapath, interface: String = "eth1") throws {
        self.datapath = datapath
        self.port = try #require(datapath.port(named: interface))
    }

    /// A remote endpoint's MAC (made up from its address).
    static func mac(of ip: String) -> MACAddress { MACAddress(rawValue: 0x0200_0000_0000 | UInt64(IPv4Address(ip)!.rawValue)) }

    /// Answers every ARP request waiting on the underlay; returns the other frames that left it.
    mutating func answerARP(now: DatapathInstant) -> [[UInt8]] {
        var others: [[UInt8]] = []
        for frame in datapath.drainTransmitted(port) {
            guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x06, frame[21] == 1 else {
                others.append(frame)
                continue
            }
            let target = IPv4Address(frame[38], frame[39], frame[40], frame[41])
            let asker = MACAddress(rawValue: frame[6..<12].reduce(0) { $0 << 8 | UInt64($1) })
            let askerIP = IPv4Address(frame[28], frame[29], frame[30], frame[31])
            datapath.inject(FrameBuilder.arpReply(senderMAC: Self.mac(of: "\(target)"), senderIP: target, targetMAC: asker, targetIP: askerIP),
                            into: port, now: now)
        }
        return others + datapath.drainTransmitted(port)
    }

    /// A GRE packet from `remote` to us carrying `inner` with `key`.
    func gre(from remote: String, key: UInt32, inner: [UInt8]) -> [UInt8] {
        let local = datapath.underlay!
        return FrameBuilder().ethernet(source: Self.mac(of: remote), destination: local.mac)
            .ipv4(source: IPv4Address(remote)!, destination: local.configuration.address, dontFragment: true)
            .gre(key: key, protocolType: .transparentEthernetBridging).payload(inner).build()
    }
}

/// A GRE frame on the underlay, taken apart.
struct GREFrame {
    var destination: IPv4Address
    var key: UInt32
    var inner: [UInt8]

    init?(_ frame: [UInt8]) {
        guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 47, frame[34] & 0x20 != 0 else { return nil }
        destination = IPv4Address(frame[30], frame[31], frame[32], frame[33])
        key = frame[38..<42].reduce(0) { $0 << 8 | UInt32($1) }
        inner = Array(frame[42...])
    }
}
