import XDPDatapath
import XDPPacket

/// The node laid out: bridges with their ports and flows, underlay, routers, DHCP and
/// security groups, as the YAML will say them. Built by `NodeCompiler` from a validated
/// view; `yaml()` writes it.
struct NodePlan {
    typealias Value = YAMLWriter.Value

    /// A bridge port: its YAML mapping.
    struct Port {
        var name: String
        var fields: Value
    }

    struct Bridge {
        var name: String
        var ports: [Port] = []
        var flows: [String] = []
    }

    let view: HostView
    let vlans: [String: UInt16]
    let options: CompileOptions
    let networks: [String: HostView.Network]
    var bridges: [Bridge] = []

    init(view: HostView, localNetworks: [HostView.Network], vlans: [String: UInt16], options: CompileOptions) throws(AgentError) {
        self.view = view
        self.vlans = vlans
        self.options = options
        var byID: [String: HostView.Network] = [:]
        for network in view.networks { byID[network.id] = network }
        self.networks = byID
        var integration = Bridge(name: "br-int")
        if view.host.tunnel != nil {
            integration.ports.append(Port(name: "patch-tun", fields: .map(["name": .string("patch-tun"), "type": .string("patch"),
                                                                           "options": .map(["peer": .string("patch-int")])])))
        }
        for (physnet, interface) in view.host.bridgeMappings.sorted(by: { $0.key < $1.key }) {
            let name = "int-br-\(interface)"
            integration.ports.append(Port(name: name, fields: .map(["name": .string(name), "type": .string("patch"),
                                                                    "options": .map(["peer": .string("phy-br-\(interface)")])])))
            bridges.append(physicalBridge(physnet: physnet, interface: interface, localNetworks: localNetworks))
        }
        for router in view.routers.sorted(by: { $0.id < $1.id }) {
            for interface in router.interfaces {
                let name = Self.routerPortName("qr-", interface.portID)
                integration.ports.append(Port(name: name, fields: .map(["name": .string(name), "type": .string("router"),
                                                                        "tag": .int(vlans[interface.networkID]!)])))
            }
        }
        for service in view.dhcp.sorted(by: { $0.networkID < $1.networkID }) {
            let name = Self.dhcpPortName(service.portID)
            integration.ports.append(Port(name: name, fields: .map(["name": .string(name), "type": .string("dhcp"),
                                                                    "tag": .int(vlans[service.networkID]!),
                                                                    "options": .map(["network": .string(service.networkID)])])))
        }
        if options.metadata {
            for networkID in metadataNetworks {
                let name = MetadataPort.interfaceName(networkID: networkID)
                integration.ports.append(Port(name: name, fields: .map(["name": .string(name), "tag": .int(vlans[networkID]!)])))
            }
        }
        for port in vmPorts {
            integration.ports.append(Port(name: port.tapName, fields: .map(["name": .string(port.tapName),
                                                                            "tag": .int(vlans[port.networkID]!)])))
        }
        bridges.insert(integration, at: 0)
        if view.host.tunnel != nil { bridges.insert(tunnelBridge(localNetworks: localNetworks), at: 1) }
        if let external = externalBridge() { bridges.append(external) }
        try checkNamesAreUnique()
    }

    /// The VM ports: bound ports no other role serves, by id.
    var vmPorts: [HostView.Port] { view.ports.filter { !$0.isNetworkService }.sorted { $0.id < $1.id } }

    /// `qr-`/`qg-` + 11 characters of the port id (Neutron's router device names).
    static func routerPortName(_ prefix: String, _ portID: String) -> String { prefix + portID.prefix(11) }

    /// `tap` + 11 characters of the DHCP port's id (Neutron's DHCP device name).
    static func dhcpPortName(_ portID: String) -> String { "tap" + portID.prefix(11) }

    /// Two ports with one name (two ids sharing their first 11 characters, an interface
    /// name given twice) would be one port: refused, naming both.
    private func checkNamesAreUnique() throws(AgentError) {
        var seen: [String: String] = [:]
        for bridge in bridges {
            for port in bridge.ports {
                if let other = seen[port.name] {
                    throw AgentError("ports", "two ports would both be named \(port.name) (\(other) and \(bridge.name)): port ids that share their first 11 characters need interface_name")
                }
                seen[port.name] = bridge.name
            }
        }
    }

    // MARK: physical bridges

    /// br-IFACE: the patch to br-int and the interface; local VLAN ↔ provider VLAN (vlan) or
    /// untagged (flat) for the networks of `physnet` present on the node; everything else dropped.
    private func physicalBridge(physnet: String, interface: String, localNetworks: [HostView.Network]) -> Bridge {
        let (patch, nic) = NodeCompiler.physicalOfports
        var bridge = Bridge(name: "br-\(interface)")
        bridge.ports = [
            Port(name: "phy-br-\(interface)", fields: .map(["name": .string("phy-br-\(interface)"), "type": .string("patch"),
                                                            "ofport": .int(patch), "options": .map(["peer": .string("int-br-\(interface)")])])),
            Port(name: interface, fields: .map(["name": .string(interface), "ofport": .int(nic)])),
        ]
        for network in localNetworks where network.physicalNetwork == physnet && !network.networkType.isTunnelled {
            let local = vlans[network.id]!
            if let provider = network.segmentationID {
                bridge.flows.append("priority=4,in_port=\(patch),dl_vlan=\(local) actions=mod_vlan_vid:\(provider),output:\(nic)")
                bridge.flows.append("priority=4,in_port=\(nic),dl_vlan=\(provider) actions=mod_vlan_vid:\(local),output:\(patch)")
            } else {
                bridge.flows.append("priority=4,in_port=\(patch),dl_vlan=\(local) actions=strip_vlan,output:\(nic)")
                bridge.flows.append("priority=4,in_port=\(nic),vlan_tci=0x0000/0x1fff actions=mod_vlan_vid:\(local),output:\(patch)")
            }
        }
        bridge.flows.append("priority=0 actions=drop")
        return bridge
    }

    // MARK: br-ex

    /// br-ex: the external interface and the routers' `qg-` ports; nil when no router has a gateway.
    private func externalBridge() -> Bridge? {
        let gateways = view.routers.sorted { $0.id < $1.id }.compactMap(\.gateway)
        guard !gateways.isEmpty, let interface = view.host.externalInterface else { return nil }
        var bridge = Bridge(name: "br-ex")
        bridge.ports.append(Port(name: interface, fields: .map(["name": .string(interface)])))
        for gateway in gateways {
            let name = Self.routerPortName("qg-", gateway.port.portID)
            bridge.ports.append(Port(name: name, fields: .map(["name": .string(name), "type": .string("router")])))
        }
        return bridge
    }
}
