/// Floating IPs: an address of an external network (held by a `network:floatingip` port),
/// associated with a port's fixed IP through the router that connects the port's subnet to
/// that external network.
extension NetworkingService {
    func createFloatingIP(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        var floatingIP = request
        let networkID = request.text("floating_network_id") ?? ""
        let network = try existing(.network, networkID, tx)
        guard network["router:external"] == .bool(true) else {
            throw NeutronError.badResourceRequest("floatingip", "Network \(networkID) is not a valid external network")
        }
        var fixedIP: [String: JSONValue] = [:]
        if let subnetID = request.text("subnet_id") { fixedIP["subnet_id"] = .string(subnetID) }
        if let address = request.text("floating_ip_address") { fixedIP["ip_address"] = .string(address) }
        var portRequest = try RequestValidation.checked(.port, [
            "network_id": .string(networkID), "device_owner": .string("network:floatingip"),
            "device_id": .string(floatingIP.id),
        ], create: true)
        if !fixedIP.isEmpty { portRequest["fixed_ips"] = .array([.object(fixedIP)]) }
        let port = try create(.port, portRequest, project: "", tx)
        guard let address = port["fixed_ips"]?.array?.first?.object?["ip_address"] else {
            throw NeutronError.badResourceRequest("floatingip", "Network \(networkID) does not contain any IPv4 subnet")
        }
        floatingIP["floating_ip_address"] = address
        floatingIP["subnet_id"] = nil
        floatingIP["status"] = .string("DOWN")
        floatingIP["router_id"] = .null
        floatingIP["port_details"] = .null
        floatingIP["port_forwardings"] = .array([])
        if let portID = request.text("port_id") {
            try associate(&floatingIP, portID: portID, fixedIP: request.text("fixed_ip_address"), tx)
        } else {
            floatingIP["fixed_ip_address"] = .null
        }
        try tx.insert(.floatingip, floatingIP)
        return floatingIP
    }

    func updateFloatingIP(_ current: Resource, _ changes: Resource, _ tx: ModelTransaction) throws -> Resource {
        var floatingIP = current.merging(changes) { $1 }
        if let portID = changes["port_id"] {
            if let portID = portID.string {
                try associate(&floatingIP, portID: portID, fixedIP: changes.text("fixed_ip_address"), tx)
            } else {
                floatingIP["fixed_ip_address"] = .null
                floatingIP["router_id"] = .null
                floatingIP["port_id"] = .null
            }
        }
        return floatingIP
    }

    func deleteFloatingIP(_ floatingIP: Resource, _ tx: ModelTransaction) throws {
        for port in try tx.resources(.port, deviceID: floatingIP.id) where port.text("device_owner") == "network:floatingip" {
            try removePort(port, tx)
        }
        try tx.delete(.floatingip, floatingIP.id)
    }

    /// Points the floating IP at a fixed IP of the port, through a router with a gateway on the
    /// floating IP's network and an interface on the fixed IP's subnet.
    func associate(_ floatingIP: inout Resource, portID: String, fixedIP requested: String?, _ tx: ModelTransaction) throws {
        let port = try existing(.port, portID, tx)
        let networkID = floatingIP.text("floating_network_id") ?? ""
        let fixedIPs = (port["fixed_ips"]?.array ?? []).compactMap(\.object)
        guard !fixedIPs.isEmpty else {
            throw NeutronError.badResourceRequest("floatingip", "Cannot add floating IP to port \(portID) that has no fixed IPv4 addresses")
        }
        let chosen: [String: JSONValue]
        if let requested {
            guard let match = fixedIPs.first(where: { $0["ip_address"]?.string == requested }) else {
                throw NeutronError.badResourceRequest("floatingip", "Port \(portID) does not have fixed ip \(requested)")
            }
            chosen = match
        } else {
            chosen = fixedIPs[0]
        }
        let fixedAddress = chosen["ip_address"]?.string ?? ""
        let subnetID = chosen["subnet_id"]?.string ?? ""
        let routerIDs = try tx.resources(.port).filter { candidate in
            candidate.text("device_owner") == "network:router_interface"
                && (candidate["fixed_ips"]?.array ?? []).contains { $0.object?["subnet_id"]?.string == subnetID }
        }.compactMap { $0.text("device_id") }
        let router = try routerIDs.sorted().compactMap { try tx.resource(.router, $0) }.first { router in
            router["external_gateway_info"]?.object?["network_id"]?.string == networkID
        }
        guard let router else {
            throw NeutronError.notFound("ExternalGatewayForFloatingIPNotFound", "External network \(networkID) is not reachable from subnet \(subnetID).  Therefore, cannot associate Port \(portID) with a Floating IP.")
        }
        for other in try tx.resources(.floatingip) where other.id != floatingIP.id
            && other.text("port_id") == portID && other.text("fixed_ip_address") == fixedAddress
            && other.text("floating_network_id") == networkID {
            throw NeutronError.conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP \(floatingIP.text("floating_ip_address") ?? "") (\(floatingIP.id)) with port \(portID) using fixed IP \(fixedAddress), as that fixed IP already has a floating IP on external network \(networkID).")
        }
        floatingIP["port_id"] = .string(portID)
        floatingIP["fixed_ip_address"] = .string(fixedAddress)
        floatingIP["router_id"] = .string(router.id)
    }
}
