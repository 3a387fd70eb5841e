/// Networks and their segments (ML2's type drivers: flat, vlan, gre, vxlan).
extension NetworkingService {
    func createNetwork(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        var network = request
        let segment = try allocateSegment(request, networkID: network.id, tx)
        network["provider:network_type"] = .string(segment.type)
        network["provider:physical_network"] = segment.physicalNetwork.map(JSONValue.string) ?? .null
        network["provider:segmentation_id"] = segment.id.map(JSONValue.int) ?? .null
        let maximum = settings.mtu(segment.type)
        if let mtu = request["mtu"]?.int {
            if mtu > maximum { throw NeutronError.invalidInput("Requested MTU is too big, maximum is \(maximum)") }
            if mtu < 68 { throw NeutronError.invalidAttribute("mtu", "'\(mtu)' is too small - must be at least '68'") }
        } else {
            network["mtu"] = .int(maximum)
        }
        network["status"] = .string("ACTIVE")
        network["availability_zones"] = .array([])
        network["l2_adjacency"] = .bool(true)
        network["ipv4_address_scope"] = .null
        network["ipv6_address_scope"] = .null
        try tx.insert(.network, network)
        try ensureDefaultSecurityGroup(project: network.text("project_id") ?? defaultProjectID, tx)
        return network
    }

    func updateNetwork(_ current: Resource, _ changes: Resource, _ tx: ModelTransaction) throws -> Resource {
        if current["router:external"] == .bool(true), changes["router:external"] == .bool(false) {
            let gatewayOwners: Set<String> = ["network:router_gateway", "network:floatingip"]
            if try tx.resources(.port, networkID: current.id).contains(where: { gatewayOwners.contains($0.text("device_owner") ?? "") }) {
                throw NeutronError.conflict("ExternalNetworkInUse", "External network \(current.id) cannot be updated to be made non-external, since it has existing gateway ports.")
            }
        }
        if let mtu = changes["mtu"]?.int, mtu > settings.mtu(current.text("provider:network_type") ?? "") {
            throw NeutronError.invalidInput("Requested MTU is too big, maximum is \(settings.mtu(current.text("provider:network_type") ?? ""))")
        }
        return current.merging(changes) { $1 }
    }

    func deleteNetwork(_ network: Resource, _ tx: ModelTransaction) throws {
        let ports = try tx.resources(.port, networkID: network.id)
        let inUse = ports.filter { $0.text("device_owner") != "network:dhcp" }.map(\.id)
        if !inUse.isEmpty {
            throw NeutronError.conflict("NetworkInUse", "Unable to complete operation on network \(network.id). There are one or more ports still in use on the network, id for these ports is: \(inUse.joined(separator: ", ")).")
        }
        for port in ports { try removePort(port, tx) }
        for subnet in try tx.resources(.subnet, networkID: network.id) { try tx.delete(.subnet, subnet.id) }
        try tx.releaseSegments(networkID: network.id)
        try tx.delete(.network, network.id)
    }

    /// A network's segment: the one the request names (checked and reserved) or one allocated
    /// for a tenant network.
    func allocateSegment(_ request: Resource, networkID: String, _ tx: ModelTransaction)
        throws -> (type: String, physicalNetwork: String?, id: Int?) {
        let physicalNetwork = request.text("provider:physical_network")
        let segmentationID = request["provider:segmentation_id"]?.int
        guard let type = request.text("provider:network_type") else {
            if physicalNetwork != nil || segmentationID != nil {
                throw NeutronError.invalidInput("network_type required")
            }
            for type in settings.tenantNetworkTypes {
                if let segment = try allocateTenantSegment(type, networkID: networkID, tx) { return segment }
            }
            throw NeutronError(status: 503, type: "NoNetworkAvailable",
                               message: "Unable to create the network. No tenant network is available for allocation.")
        }
        switch type {
        case "flat":
            if segmentationID != nil { throw NeutronError.invalidInput("segmentation_id specified for flat network") }
            guard let physicalNetwork else { throw NeutronError.invalidInput("physical_network required for flat provider network") }
            guard settings.flatNetworks.contains("*") || settings.flatNetworks.contains(physicalNetwork) else {
                throw NeutronError.invalidInput("physical_network '\(physicalNetwork)' unknown for flat provider network")
            }
            if try tx.segmentHolder(type: "flat", physicalNetwork: physicalNetwork, id: 0) != nil {
                throw NeutronError.conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network \(physicalNetwork) is in use.")
            }
            try tx.reserveSegment(type: "flat", physicalNetwork: physicalNetwork, id: 0, networkID: networkID)
            return ("flat", physicalNetwork, nil)
        case "vlan":
            guard let physicalNetwork else {
                if segmentationID != nil { throw NeutronError.invalidInput("segmentation_id requires physical_network for VLAN provider network") }
                if let segment = try allocateTenantSegment("vlan", networkID: networkID, tx) { return segment }
                throw NeutronError(status: 503, type: "NoNetworkAvailable",
                                   message: "Unable to create the network. No tenant network is available for allocation.")
            }
            guard let range = settings.vlanRanges[physicalNetwork] else {
                throw NeutronError.invalidInput("physical_network '\(physicalNetwork)' unknown for VLAN provider network")
            }
            guard let segmentationID else {
                if let range, let id = firstFree(in: [range], taken: try tx.segmentIDs(type: "vlan", physicalNetwork: physicalNetwork)) {
                    try tx.reserveSegment(type: "vlan", physicalNetwork: physicalNetwork, id: id, networkID: networkID)
                    return ("vlan", physicalNetwork, id)
                }
                throw NeutronError(status: 503, type: "NoNetworkAvailable",
                                   message: "Unable to create the network. No tenant network is available for allocation.")
            }
            let valid = ML2Settings.validRange("vlan")
            guard valid.contains(segmentationID) else {
                throw NeutronError.invalidInput("segmentation_id out of range (\(valid.lowerBound) through \(valid.upperBound))")
            }
            if try tx.segmentHolder(type: "vlan", physicalNetwork: physicalNetwork, id: segmentationID) != nil {
                throw NeutronError.conflict("VlanIdInUse", "Unable to create the network. The VLAN \(segmentationID) on physical network \(physicalNetwork) is in use.")
            }
            try tx.reserveSegment(type: "vlan", physicalNetwork: physicalNetwork, id: segmentationID, networkID: networkID)
            return ("vlan", physicalNetwork, segmentationID)
        case "gre", "vxlan":
            if physicalNetwork != nil {
                throw NeutronError.invalidInput("provider:physical_network specified for \(type.uppercased()) network")
            }
            guard let segmentationID else {
                if let segment = try allocateTenantSegment(type, networkID: networkID, tx) { return segment }
                throw NeutronError(status: 503, type: "NoNetworkAvailable",
                                   message: "Unable to create the network. No tenant network is available for allocation.")
            }
            let valid = ML2Settings.validRange(type)
            guard valid.contains(segmentationID) else {
                throw NeutronError.invalidInput("segmentation_id out of range (\(valid.lowerBound) through \(valid.upperBound))")
            }
            if try tx.segmentHolder(type: type, physicalNetwork: "", id: segmentationID) != nil {
                throw NeutronError.conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID \(segmentationID) is in use.")
            }
            try tx.reserveSegment(type: type, physicalNetwork: "", id: segmentationID, networkID: networkID)
            return (type, nil, segmentationID)
        default:
            throw NeutronError.invalidInput("network_type value '\(type)' not supported")
        }
    }

    /// The lowest free id of a tenant segment type, reserved; nil when none is left.
    func allocateTenantSegment(_ type: String, networkID: String, _ tx: ModelTransaction)
        throws -> (type: String, physicalNetwork: String?, id: Int?)? {
        switch type {
        case "vlan":
            for (physicalNetwork, range) in settings.vlanRanges.sorted(by: { $0.key < $1.key }) {
                guard let range else { continue }
                if let id = firstFree(in: [range], taken: try tx.segmentIDs(type: "vlan", physicalNetwork: physicalNetwork)) {
                    try tx.reserveSegment(type: "vlan", physicalNetwork: physicalNetwork, id: id, networkID: networkID)
                    return ("vlan", physicalNetwork, id)
                }
            }
            return nil
        case "gre", "vxlan":
            let ranges = type == "gre" ? settings.greRanges : settings.vxlanRanges
            guard let id = firstFree(in: ranges, taken: try tx.segmentIDs(type: type, physicalNetwork: "")) else { return nil }
            try tx.reserveSegment(type: type, physicalNetwork: "", id: id, networkID: networkID)
            return (type, nil, id)
        default:
            return nil
        }
    }

    func firstFree(in ranges: [ClosedRange<Int>], taken: Set<Int>) -> Int? {
        for range in ranges { if let id = range.first(where: { !taken.contains($0) }) { return id } }
        return nil
    }
}
