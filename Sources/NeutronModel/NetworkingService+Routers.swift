import Foundation

/// Routers: the external gateway (a `network:router_gateway` port on an external network),
/// interfaces on subnets or ports (`network:router_interface` ports holding the subnet's
/// gateway address), and extra routes.
extension NetworkingService {
    func createRouter(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        var router = request
        router["status"] = .string("ACTIVE")
        router["availability_zones"] = .array([])
        router["routes"] = .array([])
        router["external_gateway_info"] = .null
        try tx.insert(.router, router)
        if let info = request["external_gateway_info"], !info.isNull {
            router["external_gateway_info"] = try setGateway(router, info, tx)
            try tx.update(.router, router)
        }
        return router
    }

    func updateRouter(_ current: Resource, _ changes: Resource, _ tx: ModelTransaction) throws -> Resource {
        var router = current.merging(changes) { $1 }
        if let info = changes["external_gateway_info"] {
            router["external_gateway_info"] = try setGateway(current, info, tx)
        }
        if let routes = changes["routes"] {
            router["routes"] = try checkedRoutes(routes, router: current, tx)
        }
        return router
    }

    func deleteRouter(_ router: Resource, _ tx: ModelTransaction) throws {
        let ports = try tx.resources(.port, deviceID: router.id)
        let floatingIPs = try tx.resources(.floatingip)
        if ports.contains(where: { $0.text("device_owner") == "network:router_interface" })
            || floatingIPs.contains(where: { $0.text("router_id") == router.id }) {
            throw NeutronError.conflict("RouterInUse", "Router \(router.id) still has ports")
        }
        for port in ports where port.text("device_owner") == "network:router_gateway" { try removePort(port, tx) }
        try tx.delete(.router, router.id)
    }

    /// Sets, changes or (for null or `{}`) clears the gateway; returns the new `external_gateway_info`.
    func setGateway(_ router: Resource, _ info: JSONValue, _ tx: ModelTransaction) throws -> JSONValue {
        let current = router["external_gateway_info"]?.object
        let gatewayPorts = try tx.resources(.port, deviceID: router.id).filter { $0.text("device_owner") == "network:router_gateway" }
        guard let info = info.object, let networkID = info["network_id"]?.string else {
            if let object = info.object, !object.isEmpty {
                throw NeutronError.invalidAttribute("external_gateway_info", "network_id is required in external_gateway_info")
            }
            try clearGateway(router, current, gatewayPorts, tx)
            return .null
        }
        let unknown = Set(info.keys).subtracting(["network_id", "enable_snat", "external_fixed_ips", "qos_policy_id"])
        if !unknown.isEmpty {
            throw NeutronError.invalidAttribute("external_gateway_info", "Unrecognized key(s) '\(unknown.sorted().joined(separator: ", "))'")
        }
        let network = try existing(.network, networkID, tx)
        guard network["router:external"] == .bool(true) else {
            throw NeutronError.badResourceRequest("router", "Network \(networkID) is not an external network")
        }
        let enableSNAT = try info["enable_snat"].map { try RequestValidation.boolean($0) } ?? true
        var fixedIPs = gatewayPorts.first?["fixed_ips"] ?? .array([])
        let requestedIPs = info["external_fixed_ips"]
        if current?["network_id"]?.string != networkID || gatewayPorts.isEmpty
            || (requestedIPs != nil && requestedIPs != current?["external_fixed_ips"]) {
            if current?["network_id"]?.string != networkID { try clearGateway(router, current, gatewayPorts, tx) }
            else { for port in gatewayPorts { try removePort(port, tx) } }
            var request = try RequestValidation.checked(.port, [
                "network_id": .string(networkID), "device_owner": .string("network:router_gateway"),
                "device_id": .string(router.id),
            ], create: true)
            if let requestedIPs, !requestedIPs.isNull { request["fixed_ips"] = requestedIPs }
            let port = try create(.port, request, project: "", tx)
            fixedIPs = port["fixed_ips"] ?? .array([])
            if fixedIPs.array?.isEmpty != false {
                throw NeutronError.badResourceRequest("router", "Network \(networkID) does not contain any IPv4 subnet")
            }
        }
        return .object(["network_id": .string(networkID), "enable_snat": .bool(enableSNAT), "external_fixed_ips": fixedIPs])
    }

    private func clearGateway(_ router: Resource, _ current: [String: JSONValue]?, _ ports: [Resource], _ tx: ModelTransaction) throws {
        guard let current else { return }
        if try tx.resources(.floatingip).contains(where: { $0.text("router_id") == router.id }) {
            throw NeutronError.conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be updated for router \(router.id), since a gateway to external network \(current["network_id"]?.string ?? "") is required by one or more floating IPs.")
        }
        for port in ports { try removePort(port, tx) }
    }

    func checkedRoutes(_ routes: JSONValue, router: Resource, _ tx: ModelTransaction) throws -> JSONValue {
        let connected = try tx.resources(.port, deviceID: router.id).flatMap { port in
            (port["fixed_ips"]?.array ?? []).compactMap { $0.object?["subnet_id"]?.string }
        }.compactMap { try tx.resource(.subnet, $0).flatMap { IPv4Prefix($0.text("cidr") ?? "") } }
        for route in routes.array ?? [] {
            guard let object = route.object, Set(object.keys) == ["destination", "nexthop"],
                  let destination = object["destination"]?.string, IPv4Prefix(destination) != nil,
                  let nexthop = object["nexthop"]?.string.flatMap(IPv4Address.init) else {
                throw NeutronError(status: 400, type: "InvalidRoutes", message: "Invalid format for routes: \(routes), the route must have destination and nexthop")
            }
            guard connected.contains(where: { $0.contains(nexthop) }) else {
                throw NeutronError(status: 400, type: "InvalidRoutes", message: "Invalid format for routes: \(routes), the nexthop is not connected with router")
            }
        }
        return routes
    }

    // MARK: Interfaces

    /// PUT /v2.0/routers/ID/add_router_interface and …/remove_router_interface.
    public func routerInterface(routerID: String, add: Bool, body: JSONValue) async throws -> JSONValue {
        guard let object = body.object else { throw NeutronError.badRequest("Resource body required") }
        let unknown = Set(object.keys).subtracting(["subnet_id", "port_id"])
        if !unknown.isEmpty { throw NeutronError.badRequest("Unrecognized attribute(s) '\(unknown.sorted().joined(separator: ", "))'") }
        let subnetID = object["subnet_id"]?.string, portID = object["port_id"]?.string
        if subnetID != nil && portID != nil {
            throw NeutronError.badResourceRequest("router", "Cannot specify both subnet-id and port-id")
        }
        guard subnetID != nil || portID != nil else {
            throw NeutronError.badResourceRequest("router", "Either subnet_id or port_id must be specified")
        }
        return try await write { sql in
            let tx = ModelTransaction(sql)
            var router = try self.existing(.router, routerID, tx)
            let port = add ? try self.addInterface(router, subnetID: subnetID, portID: portID, tx)
                           : try self.removeInterface(router, subnetID: subnetID, portID: portID, tx)
            router["revision_number"] = .int((router["revision_number"]?.int ?? 0) + 1)
            router["updated_at"] = .string(Timestamp.now())
            try tx.update(.router, router)
            try self.scheduleNetworkServices(tx, now: Date().timeIntervalSince1970)
            let subnets = (port["fixed_ips"]?.array ?? []).compactMap { $0.object?["subnet_id"] }
            return .object(["id": .string(routerID), "port_id": .string(port.id), "subnet_id": subnets.first ?? .null,
                            "subnet_ids": .array(subnets), "network_id": port["network_id"] ?? .null,
                            "project_id": router["project_id"] ?? .null, "tenant_id": router["project_id"] ?? .null])
        }
    }

    private func addInterface(_ router: Resource, subnetID: String?, portID: String?, _ tx: ModelTransaction) throws -> Resource {
        let interfaces = try tx.resources(.port, deviceID: router.id).filter { $0.text("device_owner") == "network:router_interface" }
        let attachedSubnets = interfaces.flatMap { ($0["fixed_ips"]?.array ?? []).compactMap { $0.object?["subnet_id"]?.string } }
        func checkSubnet(_ subnet: Resource) throws {
            if attachedSubnets.contains(subnet.id) {
                throw NeutronError.badResourceRequest("router", "Router already has a port on subnet \(subnet.id)")
            }
            let cidr = IPv4Prefix(subnet.text("cidr") ?? "")!
            for otherID in attachedSubnets {
                if let other = try tx.resource(.subnet, otherID), let otherCIDR = IPv4Prefix(other.text("cidr") ?? ""), otherCIDR.overlaps(cidr) {
                    throw NeutronError.badResourceRequest("router", "Cidr \(cidr) of subnet \(subnet.id) overlaps with cidr \(otherCIDR) of subnet \(otherID)")
                }
            }
        }
        if let subnetID {
            let subnet = try existing(.subnet, subnetID, tx)
            try checkSubnet(subnet)
            guard let gateway = subnet.text("gateway_ip") else {
                throw NeutronError.badResourceRequest("router", "Subnet for router interface must have a gateway IP")
            }
            if try tx.addressHolder(subnetID: subnetID, ip: gateway) != nil {
                throw Self.addressInUse(networkID: subnet.text("network_id") ?? "", ip: gateway)
            }
            let request = try RequestValidation.checked(.port, [
                "network_id": subnet["network_id"] ?? .null, "device_owner": .string("network:router_interface"),
                "device_id": .string(router.id), "fixed_ips": .array([Self.fixedIP(subnetID, gateway)]),
            ], create: true)
            return try create(.port, request, project: router.text("project_id") ?? defaultProjectID, tx)
        }
        var port = try existing(.port, portID!, tx)
        if let device = port.text("device_id"), !device.isEmpty {
            throw NeutronError.conflict("PortInUse", "Unable to complete operation on port \(port.id) for network \(port.text("network_id") ?? ""). Port already has an attached device \(device).")
        }
        let fixedIPs = port["fixed_ips"]?.array ?? []
        if fixedIPs.isEmpty { throw NeutronError.badResourceRequest("router", "Router port must have at least one fixed IP") }
        for fixedIP in fixedIPs {
            try checkSubnet(try existing(.subnet, fixedIP.object?["subnet_id"]?.string ?? "", tx))
        }
        port["device_owner"] = .string("network:router_interface")
        port["device_id"] = .string(router.id)
        port["revision_number"] = .int((port["revision_number"]?.int ?? 0) + 1)
        try tx.update(.port, port)
        return port
    }

    private func removeInterface(_ router: Resource, subnetID: String?, portID: String?, _ tx: ModelTransaction) throws -> Resource {
        let interfaces = try tx.resources(.port, deviceID: router.id).filter { $0.text("device_owner") == "network:router_interface" }
        let port: Resource
        if let portID {
            guard let found = interfaces.first(where: { $0.id == portID }) else {
                throw NeutronError.notFound("RouterInterfaceNotFound", "Router \(router.id) does not have an interface with id \(portID)")
            }
            if let subnetID, !(found["fixed_ips"]?.array ?? []).contains(where: { $0.object?["subnet_id"]?.string == subnetID }) {
                throw NeutronError.conflict("SubnetMismatchForPort", "Subnet on port \(portID) does not match the requested subnet \(subnetID).")
            }
            port = found
        } else {
            guard let found = interfaces.first(where: { ($0["fixed_ips"]?.array ?? []).contains { $0.object?["subnet_id"]?.string == subnetID } }) else {
                throw NeutronError.notFound("RouterInterfaceNotFoundForSubnet", "Router \(router.id) has no interface on subnet \(subnetID!)")
            }
            port = found
        }
        let subnets = try (port["fixed_ips"]?.array ?? []).compactMap { $0.object?["subnet_id"]?.string }
            .compactMap { try tx.resource(.subnet, $0) }
        for floatingIP in try tx.resources(.floatingip) where floatingIP.text("router_id") == router.id {
            guard let fixed = floatingIP.text("fixed_ip_address").flatMap(IPv4Address.init) else { continue }
            if let subnet = subnets.first(where: { IPv4Prefix($0.text("cidr") ?? "")?.contains(fixed) == true }) {
                throw NeutronError.conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet \(subnet.id) on router \(router.id) cannot be deleted, as it is required by one or more floating IPs.")
            }
        }
        try removePort(port, tx)
        return port
    }
}
