/// Ports: MAC addresses (`fa:16:3e:…` unless given), fixed IPs from the subnets' pools,
/// security groups (the project's `default` unless given), allowed address pairs, binding.
extension NetworkingService {
    /// Owners whose ports only the L3 code may delete (Neutron's `L3PortInUse`).
    static let routerOwners: Set<String> = ["network:router_interface", "network:router_gateway", "network:floatingip",
                                            "network:router_interface_distributed", "network:ha_router_replicated_interface"]

    func createPort(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        var port = request
        let network = try existing(.network, request.text("network_id") ?? "", tx)
        port["status"] = .string("DOWN")
        let mac = try reserveMAC(request.text("mac_address"), networkID: network.id, portID: port.id, tx)
        port["mac_address"] = .string(mac)
        port["fixed_ips"] = try allocateFixedIPs(request["fixed_ips"], network: network, portID: port.id, tx)
        let portSecurity = request["port_security_enabled"]?.bool ?? network["port_security_enabled"]?.bool ?? true
        port["port_security_enabled"] = .bool(portSecurity)
        let owner = request.text("device_owner") ?? ""
        if let groups = request["security_groups"], !groups.isNull {
            port["security_groups"] = try checkedSecurityGroups(groups, portSecurity: portSecurity, tx)
        } else if portSecurity && !owner.hasPrefix("network:") {
            let project = request.text("project_id") ?? defaultProjectID
            port["security_groups"] = .array([.string(try ensureDefaultSecurityGroup(project: project, tx))])
        } else {
            port["security_groups"] = .array([])
        }
        port["allowed_address_pairs"] = try checkedAddressPairs(request["allowed_address_pairs"], mac: mac, portSecurity: portSecurity)
        setBinding(&port)
        port["ip_allocation"] = .string("immediate")
        port["resource_request"] = .null
        try tx.insert(.port, port)
        return port
    }

    func updatePort(_ current: Resource, _ changes: Resource, _ tx: ModelTransaction) throws -> Resource {
        var port = current.merging(changes) { $1 }
        let networkID = current.text("network_id") ?? ""
        if let mac = changes.text("mac_address"), mac != current.text("mac_address") {
            if current.text("binding:host_id")?.isEmpty == false {
                throw NeutronError.conflict("PortBound", "Unable to complete operation on port \(current.id), port is already bound, port type: \(current.text("binding:vif_type") ?? ""), old_mac \(current.text("mac_address") ?? ""), new_mac \(mac).")
            }
            try tx.releaseMAC(portID: current.id)
            _ = try reserveMAC(mac, networkID: networkID, portID: current.id, tx)
        }
        if let fixedIPs = changes["fixed_ips"] {
            try tx.releaseAddresses(portID: current.id)
            port["fixed_ips"] = try allocateFixedIPs(fixedIPs, network: try existing(.network, networkID, tx), portID: current.id, tx)
        }
        let portSecurity = port["port_security_enabled"]?.bool ?? true
        if let groups = changes["security_groups"] {
            port["security_groups"] = groups.isNull ? .array([]) : try checkedSecurityGroups(groups, portSecurity: portSecurity, tx)
        } else if !portSecurity, !(port["security_groups"]?.array ?? []).isEmpty {
            throw NeutronError.conflict("PortSecurityPortHasSecurityGroup",
                                        "Port has security group associated. Cannot disable port security or IP address until security group is removed")
        }
        if changes["allowed_address_pairs"] != nil || changes["port_security_enabled"] != nil {
            port["allowed_address_pairs"] = try checkedAddressPairs(port["allowed_address_pairs"], mac: port.text("mac_address") ?? "",
                                                                    portSecurity: portSecurity)
        }
        setBinding(&port)
        return port
    }

    /// DELETE /v2.0/ports/ID: refused for ports the L3 code owns.
    func deletePort(_ port: Resource, _ tx: ModelTransaction, direct: Bool) throws {
        let owner = port.text("device_owner") ?? ""
        if direct, Self.routerOwners.contains(owner) {
            throw NeutronError.conflict("L3PortInUse", "Port \(port.id) cannot be deleted directly via the port API: has device owner \(owner).")
        }
        try removePort(port, tx)
    }

    /// Deletes a port with its addresses and MAC; floating IPs on it are disassociated.
    func removePort(_ port: Resource, _ tx: ModelTransaction) throws {
        for var floatingIP in try tx.resources(.floatingip) where floatingIP.text("port_id") == port.id {
            floatingIP["port_id"] = .null
            floatingIP["fixed_ip_address"] = .null
            floatingIP["router_id"] = .null
            floatingIP["status"] = .string("DOWN")
            floatingIP["revision_number"] = .int((floatingIP["revision_number"]?.int ?? 0) + 1)
            try tx.update(.floatingip, floatingIP)
        }
        try tx.releaseAddresses(portID: port.id)
        try tx.releaseMAC(portID: port.id)
        try tx.delete(.port, port.id)
    }

    /// The given MAC (refused if the network has it) or a new `fa:16:3e:xx:xx:xx`, reserved.
    func reserveMAC(_ given: String?, networkID: String, portID: String, _ tx: ModelTransaction) throws -> String {
        if let given {
            if try tx.macHolder(networkID: networkID, mac: given) != nil {
                throw NeutronError.conflict("MacAddressInUse", "Unable to complete operation for network \(networkID). The mac address \(given) is in use.")
            }
            try tx.reserveMAC(networkID: networkID, mac: given, portID: portID)
            return given
        }
        for _ in 0..<16 {
            let tail = (0..<3).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }
            let mac = "fa:16:3e:" + tail.joined(separator: ":")
            if try tx.macHolder(networkID: networkID, mac: mac) == nil {
                try tx.reserveMAC(networkID: networkID, mac: mac, portID: portID)
                return mac
            }
        }
        throw NeutronError(status: 503, type: "MacAddressGenerationFailure", message: "Unable to generate unique mac on network \(networkID).")
    }

    /// The port's addresses: those `requested` names (each `{subnet_id?, ip_address?}`), or
    /// when the request has none, one address from the first IPv4 subnet with room.
    func allocateFixedIPs(_ requested: JSONValue?, network: Resource, portID: String, _ tx: ModelTransaction) throws -> JSONValue {
        let subnets = try tx.resources(.subnet, networkID: network.id)
        guard let items = requested?.array else {
            var lastError: NeutronError?
            for subnet in subnets {
                do { return .array([Self.fixedIP(subnet.id, try allocateAddress(subnet: subnet, wanted: nil, portID: portID, tx))]) }
                catch let error as NeutronError where error.type == "IpAddressGenerationFailure" { lastError = error }
            }
            if let lastError { throw lastError }
            return .array([])
        }
        var result: [JSONValue] = []
        for item in items {
            guard let object = item.object, Set(object.keys).isSubset(of: ["subnet_id", "ip_address"]),
                  object["subnet_id"]?.string != nil || object["ip_address"]?.string != nil else {
                throw NeutronError.invalidInput("Invalid fixed_ips entry \(item): give subnet_id and/or ip_address")
            }
            let wanted = object["ip_address"]?.string
            if let wanted, IPv4Address(wanted) == nil {
                throw NeutronError.invalidAttribute("fixed_ips", "'\(wanted)' is not a valid IP address")
            }
            let subnet: Resource
            if let subnetID = object["subnet_id"]?.string {
                guard let found = subnets.first(where: { $0.id == subnetID }) else {
                    if try tx.resource(.subnet, subnetID) == nil { throw Self.notFound(.subnet, subnetID) }
                    throw NeutronError.invalidInput("Failed to create port on network \(network.id), because fixed_ips included invalid subnet \(subnetID)")
                }
                subnet = found
            } else {
                let ip = IPv4Address(wanted!)!
                guard let found = subnets.first(where: { IPv4Prefix($0.text("cidr") ?? "")?.contains(ip) == true }) else {
                    throw NeutronError(status: 400, type: "InvalidIpForNetwork",
                                       message: "IP address \(wanted!) is not a valid IP for any of the subnets on the specified network.")
                }
                subnet = found
            }
            result.append(Self.fixedIP(subnet.id, try allocateAddress(subnet: subnet, wanted: wanted, portID: portID, tx)))
        }
        return .array(result)
    }

    func checkedSecurityGroups(_ value: JSONValue, portSecurity: Bool, _ tx: ModelTransaction) throws -> JSONValue {
        let ids = value.array ?? []
        if !portSecurity && !ids.isEmpty {
            throw NeutronError.badRequest("Port security must be enabled and port must have an IP address in order to use security groups.")
                .typed("PortSecurityAndIPRequiredForSecurityGroups")
        }
        for id in ids {
            guard let id = id.string else { throw NeutronError.invalidAttribute("security_groups", "'\(id)' is not a valid UUID") }
            _ = try existing(.securityGroup, id, tx)
        }
        return .array(ids)
    }

    func checkedAddressPairs(_ value: JSONValue?, mac: String, portSecurity: Bool) throws -> JSONValue {
        let items = value?.array ?? []
        if !portSecurity && !items.isEmpty {
            throw NeutronError.conflict("AddressPairAndPortSecurityRequired",
                                        "Port Security must be enabled in order to have allowed address pairs on a port.")
        }
        return .array(try items.map { item in
            guard var pair = item.object, let ip = pair["ip_address"]?.string, IPv4Prefix(ip) != nil,
                  Set(pair.keys).isSubset(of: ["ip_address", "mac_address"]) else {
                throw NeutronError(status: 400, type: "AllowedAddressPairsMissingIP",
                                   message: "AllowedAddressPair must contain ip_address")
            }
            if let pairMAC = pair["mac_address"]?.string {
                guard let normalized = RequestValidation.normalizedMAC(pairMAC) else {
                    throw NeutronError.invalidAttribute("allowed_address_pairs", "'\(pairMAC)' is not a valid MAC address")
                }
                pair["mac_address"] = .string(normalized)
            } else {
                pair["mac_address"] = .string(mac)
            }
            return .object(pair)
        })
    }

    /// `binding:vif_type` follows `binding:host_id`: `ovs` once bound to a host, `unbound` before.
    func setBinding(_ port: inout Resource) {
        let bound = port.text("binding:host_id")?.isEmpty == false
        port["binding:vif_type"] = .string(bound ? "ovs" : "unbound")
        port["binding:vif_details"] = bound ? .object(["port_filter": .bool(true), "connectivity": .string("l2")]) : .object([:])
    }
}
