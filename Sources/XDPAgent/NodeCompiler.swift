// The node agent's compiler: a host view (HostView) → the node's YAML configuration, the
// file `SwitchConfiguration.parse` reads. It does, as configuration, what Neutron's Open
// vSwitch, L3 and DHCP agents do to a node:
//
//   br-int     one access port per VM interface (`tap` + 11 characters of the port id) with
//              its network's local VLAN (LocalVLANAllocator), the security groups of the
//              ports compiled by the `security_groups:`/`ports:` sections (Neutron's OVS
//              firewall tables, docs/security-groups.md), `patch-tun` to br-tun, one
//              `int-br-IFACE` per physical network, and on a network node the routers'
//              `qr-` ports and the DHCP ports, each with its network's local VLAN.
//   br-tun     `patch-int` (ofport 1), one `gre-XXXXXXXX` port per remote host that shares a
//              tunnelled network (the remote address in hex, as Neutron names them; key=flow),
//              and Neutron's tunnel tables (NodeCompiler+Tunnel.swift): 0 (classify by input
//              port), 2 (from br-int: unicast → 20, flood → 22, ARP broadcast → 21), 3 (GRE
//              tun_id → local VLAN), 4 (VXLAN, empty), 10 (learn the remote MAC, to br-int),
//              20 (l2population: unicast to known remote MACs), 21 (the ARP responder),
//              22 (flood to the tunnels of the hosts that have the network).
//   br-IFACE   per bridge mapping: `phy-br-IFACE` (ofport 1) and the interface (ofport 2);
//              local VLAN ↔ provider VLAN (vlan) or untagged (flat), both ways.
//   br-ex      the external interface and the routers' `qg-` ports.
//   underlay   the tunnel endpoint (docs/tunnels.md).
//   routers    one per router: `qr-`/`qg-` interfaces, the external subnet's gateway as
//              default route, SNAT (enable_snat), floating IPs, extra routes.
//   dhcp       one responder per network with the network's subnets and static leases.
//   metadata   (CompileOptions.metadata) per DHCP network a metadata port `md` + 11
//              characters of the network id on br-int, and the on-link host route
//              169.254.169.254/32 in its subnets' DHCP options (NodePlan+Services.swift).
//
// Where the design differs from Neutron's, because the configuration has no key for
// Neutron's way (docs/agent-protocol.md, "Differences"):
//   - The provider VLAN translation runs on br-IFACE in both directions. Neutron rewrites
//     provider → local in br-int's table 0, but br-int's table is the security-group
//     compiler's whole output (the `flows:` of a bridge with bound ports are replaced), and
//     its table 0 already takes the tag of a trunk port (int-br-IFACE) as the network.
//
// The output is deterministic: the same view and the same previous local VLANs give the
// same text, byte for byte. Every refusal is an AgentError; the compiler parses its own
// output with `SwitchConfiguration.parse` before returning it, so nothing that the
// datapath would refuse is ever produced.
import XDPDatapath
import XDPModel
import XDPPacket

/// Choices of the agent that are not in the model (Neutron's agent configuration).
public struct CompileOptions: Sendable, Equatable {
    /// Answer ARP for remote ports in br-tun's table 21 (Neutron's `arp_responder`, with
    /// l2population). Off by default: the datapath does not write rewritten ARP fields
    /// (`load`/`move` into `NXM_OF_ARP_*`, `NXM_NX_ARP_*`) back into the frame yet, so the
    /// answers would leave with the request's ARP payload; ARP then floods to the hosts of
    /// the network as with Neutron's `arp_responder = False`.
    public var arpResponder: Bool
    /// Serve instance metadata at 169.254.169.254 on the networks whose DHCP this node
    /// serves (Neutron's `enable_isolated_metadata` with `force_metadata`): a metadata port
    /// `md` + 11 characters of the network id on br-int with the network's local VLAN, and
    /// the on-link host route `169.254.169.254/32` (next hop 0.0.0.0) in each subnet's DHCP
    /// options (docs/agent-protocol.md, "Metadata"). The agent turns it on; off here so that
    /// a compile says only what the view says unless asked.
    public var metadata: Bool

    public init(arpResponder: Bool = false, metadata: Bool = false) {
        self.arpResponder = arpResponder
        self.metadata = metadata
    }
}

/// What one compile produced.
public struct CompiledNode: Sendable, Equatable {
    /// The node's configuration (docs/configuration.md).
    public var yaml: String
    /// Network id → local VLAN: give it back as `previousLocalVLANs` to the next compile.
    public var localVLANs: [String: UInt16]
    /// The view's revision.
    public var revision: UInt64
}

/// Compiles a host view into the node's YAML configuration (see the essay above).
public struct NodeCompiler: Sendable {
    public let view: HostView
    public let previousLocalVLANs: [String: UInt16]
    public let options: CompileOptions

    /// br-tun's OpenFlow port of patch-int.
    public static let patchIntOfport = 1
    /// A physical bridge's OpenFlow ports: the patch to br-int and the interface.
    public static let physicalOfports = (patch: 1, interface: 2)

    public init(view: HostView, previousLocalVLANs: [String: UInt16] = [:], options: CompileOptions = CompileOptions()) {
        self.view = view
        self.previousLocalVLANs = previousLocalVLANs
        self.options = options
    }

    /// Compiles the view, checked (`HostView.validate`) first and the result parsed by
    /// `SwitchConfiguration.parse` last.
    public func compile() throws(AgentError) -> CompiledNode {
        try view.validate()
        let local = try localNetworks()
        let vlans = try LocalVLANAllocator.allocate(networks: local.map(\.id), previous: previousLocalVLANs)
        let plan = try NodePlan(view: view, localNetworks: local, vlans: vlans, options: options)
        let yaml = plan.yaml()
        do {
            _ = try SwitchConfiguration.parse(yaml: yaml, file: "\(view.host.name).yaml")
        } catch {
            throw AgentError("", "the node configuration compiled from this view is refused by the datapath: \(error)")
        }
        return CompiledNode(yaml: yaml, localVLANs: vlans, revision: view.revision)
    }

    /// The networks that have something on br-int (a VM port, a router interface, a DHCP
    /// service), in view order; each needs a local VLAN and must be one this node can carry.
    func localNetworks() throws(AgentError) -> [HostView.Network] {
        var ids = Set(view.ports.filter { !$0.isNetworkService }.map(\.networkID))
        for router in view.routers { for interface in router.interfaces { ids.insert(interface.networkID) } }
        for service in view.dhcp { ids.insert(service.networkID) }
        var out: [HostView.Network] = []
        var segments: [String: String] = [:]
        for (i, network) in view.networks.enumerated() where ids.contains(network.id) {
            let path = "networks[\(i)]"
            let segment: String
            switch network.networkType {
            case .gre, .vxlan:
                guard view.host.tunnel != nil else {
                    throw AgentError("\(path).network_type",
                                     "network \(network.id) is a \(network.networkType.rawValue) network but the host has no tunnel endpoint (host.tunnel)")
                }
                segment = "\(network.networkType.rawValue) \(network.segmentationID ?? 0)"
            case .vlan, .flat:
                let physnet = network.physicalNetwork ?? ""
                guard view.host.bridgeMappings[physnet] != nil else {
                    throw AgentError("\(path).physical_network", "network \(network.id) is on physical network \(physnet), which the host does not map (host.bridge_mappings)")
                }
                segment = "\(physnet) \(network.segmentationID.map { "vlan \($0)" } ?? "flat")"
            }
            if let other = segments[segment] {
                throw AgentError("\(path).segmentation_id", "networks \(other) and \(network.id) share one segment (\(segment))")
            }
            segments[segment] = network.id
            out.append(network)
        }
        return out
    }
}
