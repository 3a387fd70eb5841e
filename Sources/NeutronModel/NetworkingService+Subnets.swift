/// Subnets (IPv4), their allocation pools, and IPAM: fixed IPs handed out from the pools, the
/// network's DHCP port kept in step with its DHCP-enabled subnets.
extension NetworkingService {
    func createSubnet(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        var subnet = request
        let networkID = request.text("network_id") ?? ""
        var network = try existing(.network, networkID, tx)
        guard request["ip_version"]?.int == 4 else {
            if request["ip_version"]?.int == 6 {
                throw NeutronError.badResourceRequest("subnet", "IPv6 subnets are not supported by this server")
            }
            throw NeutronError.invalidAttribute("ip_version", "'\(request["ip_version"] ?? .null)' is not in [4, 6]")
        }
        guard let cidrText = request.text("cidr") else {
            throw NeutronError.badResourceRequest("subnet", "a subnetpool must be specified in the absence of a cidr")
        }
        guard let cidr = IPv4Prefix(cidrText), cidrText.contains("/") else {
            throw NeutronError.invalidAttribute("cidr", "'\(cidrText)' is not a valid IP subnet")
        }
        guard cidr.isNormalized else {
            throw NeutronError.invalidInput("'\(cidrText)' isn't a recognized IP subnet cidr, '\(cidr.normalized)' is recommended")
        }
        for other in try tx.resources(.subnet, networkID: networkID) {
            if let prefix = IPv4Prefix(other.text("cidr") ?? ""), prefix.overlaps(cidr) {
                throw NeutronError.invalidInput("Requested subnet with cidr: \(cidr) for network: \(networkID) overlaps with another subnet")
            }
        }
        let gateway: IPv4Address?
        if let given = request["gateway_ip"] {
            gateway = try given.string.map { try checkedGateway($0, cidr) }
        } else {
            gateway = cidr.length >= 31 ? nil : IPv4Address(cidr.hostRange.lowerBound)
        }
        let pools = try checkedPools(request["allocation_pools"], cidr: cidr, gateway: gateway)
        subnet["cidr"] = .string(cidr.description)
        subnet["gateway_ip"] = gateway.map { .string($0.description) } ?? .null
        subnet["allocation_pools"] = Self.poolsJSON(pools)
        subnet["dns_nameservers"] = try checkedNameservers(request["dns_nameservers"])
        subnet["host_routes"] = try checkedHostRoutes(request["host_routes"])
        subnet["prefixlen"] = nil
        subnet["use_default_subnetpool"] = nil
        subnet["subnetpool_id"] = .null
        try tx.insert(.subnet, subnet)
        if subnet["enable_dhcp"] == .bool(true) { try addDHCPAddress(network: network, subnet: subnet, tx) }
        network["revision_number"] = .int((network["revision_number"]?.int ?? 0) + 1)
        network["updated_at"] = .string(Timestamp.now())
        try tx.update(.network, network)
        return subnet
    }

    func updateSubnet(_ current: Resource, _ changes: Resource, _ tx: ModelTransaction) throws -> Resource {
        var subnet = current.merging(changes) { $1 }
        let cidr = IPv4Prefix(current.text("cidr") ?? "")!
        var gateway = current.text("gateway_ip").flatMap(IPv4Address.init)
        if let given = changes["gateway_ip"] {
            gateway = try given.string.map { try checkedGateway($0, cidr) }
            subnet["gateway_ip"] = gateway.map { .string($0.description) } ?? .null
        }
        if changes["allocation_pools"] != nil || changes["gateway_ip"] != nil {
            let pools = try checkedPools(changes["allocation_pools"] ?? current["allocation_pools"], cidr: cidr, gateway: gateway)
            subnet["allocation_pools"] = Self.poolsJSON(pools)
        }
        if changes["dns_nameservers"] != nil { subnet["dns_nameservers"] = try checkedNameservers(changes["dns_nameservers"]) }
        if changes["host_routes"] != nil { subnet["host_routes"] = try checkedHostRoutes(changes["host_routes"]) }
        let network = try existing(.network, current.text("network_id") ?? "", tx)
        if current["enable_dhcp"] != .bool(true), changes["enable_dhcp"] == .bool(true) {
            try addDHCPAddress(network: network, subnet: subnet, tx)
        } else if current["enable_dhcp"] == .bool(true), changes["enable_dhcp"] == .bool(false) {
            try removeDHCPAddress(networkID: network.id, subnetID: current.id, tx)
        }
        return subnet
    }

    func deleteSubnet(_ subnet: Resource, _ tx: ModelTransaction) throws {
        for portID in try tx.addressHolders(subnetID: subnet.id) {
            if try tx.resource(.port, portID)?.text("device_owner") != "network:dhcp" {
                throw NeutronError.conflict("SubnetInUse", "Unable to complete operation on subnet \(subnet.id): One or more ports have an IP allocation from this subnet.")
            }
        }
        let networkID = subnet.text("network_id") ?? ""
        try removeDHCPAddress(networkID: networkID, subnetID: subnet.id, tx)
        try tx.delete(.subnet, subnet.id)
        if var network = try tx.resource(.network, networkID) {
            network["revision_number"] = .int((network["revision_number"]?.int ?? 0) + 1)
            try tx.update(.network, network)
        }
    }

    // MARK: IPAM

    /// Takes `wanted` (or the lowest free address of the pools) in the subnet for `portID`.
    func allocateAddress(subnet: Resource, wanted: String?, portID: String, _ tx: ModelTransaction) throws -> String {
        let networkID = subnet.text("network_id") ?? ""
        let cidr = IPv4Prefix(subnet.text("cidr") ?? "")!
        if let wanted {
            guard let ip = IPv4Address(wanted), cidr.contains(ip), cidr.hostRange.contains(ip.value) else {
                throw NeutronError.badRequest("IP address \(wanted) is not a valid IP for the specified subnet.")
                    .typed("InvalidIpForSubnet")
            }
            if try tx.addressHolder(subnetID: subnet.id, ip: ip.description) != nil {
                throw NeutronError.conflict("IpAddressAlreadyAllocated", "IP address \(ip) already allocated in subnet \(subnet.id)")
            }
            try tx.allocate(subnetID: subnet.id, ip: ip.description, networkID: networkID, portID: portID)
            return ip.description
        }
        let taken = try tx.allocatedAddresses(subnetID: subnet.id)
        for pool in Self.pools(subnet) {
            for value in pool.start.value...pool.end.value where !taken.contains(IPv4Address(value).description) {
                let ip = IPv4Address(value).description
                try tx.allocate(subnetID: subnet.id, ip: ip, networkID: networkID, portID: portID)
                return ip
            }
        }
        throw NeutronError.conflict("IpAddressGenerationFailure", "No more IP addresses available on network \(networkID).")
    }

    static func addressInUse(networkID: String, ip: String) -> NeutronError {
        .conflict("IpAddressInUse", "Unable to complete operation for network \(networkID). The IP address \(ip) is in use.")
    }

    // MARK: DHCP port

    /// Gives the network's DHCP port an address on `subnet`, creating the port if the network has none.
    func addDHCPAddress(network: Resource, subnet: Resource, _ tx: ModelTransaction) throws {
        if var port = try tx.resources(.port, networkID: network.id).first(where: { $0.text("device_owner") == "network:dhcp" }) {
            let ip = try allocateAddress(subnet: subnet, wanted: nil, portID: port.id, tx)
            port["fixed_ips"] = .array((port["fixed_ips"]?.array ?? []) + [Self.fixedIP(subnet.id, ip)])
            port["revision_number"] = .int((port["revision_number"]?.int ?? 0) + 1)
            try tx.update(.port, port)
            return
        }
        var request = try RequestValidation.checked(.port, [
            "network_id": .string(network.id), "device_owner": .string("network:dhcp"),
            "device_id": .string("dhcp-\(network.id)"),
            "fixed_ips": .array([.object(["subnet_id": .string(subnet.id)])]),
        ], create: true)
        request["project_id"] = network["project_id"]
        _ = try create(.port, request, project: network.text("project_id") ?? defaultProjectID, tx)
    }

    /// Takes the DHCP port's address on the subnet back; the port goes when it has none left.
    func removeDHCPAddress(networkID: String, subnetID: String, _ tx: ModelTransaction) throws {
        guard var port = try tx.resources(.port, networkID: networkID).first(where: { $0.text("device_owner") == "network:dhcp" })
        else { return }
        let remaining = (port["fixed_ips"]?.array ?? []).filter { $0.object?["subnet_id"]?.string != subnetID }
        if remaining.isEmpty { try removePort(port, tx); return }
        try tx.releaseAddresses(portID: port.id)
        for fixedIP in remaining {
            try tx.allocate(subnetID: fixedIP.object?["subnet_id"]?.string ?? "", ip: fixedIP.object?["ip_address"]?.string ?? "",
                            networkID: networkID, portID: port.id)
        }
        port["fixed_ips"] = .array(remaining)
        port["revision_number"] = .int((port["revision_number"]?.int ?? 0) + 1)
        try tx.update(.port, port)
    }

    // MARK: Checks

    func checkedGateway(_ text: String, _ cidr: IPv4Prefix) throws -> IPv4Address {
        guard let ip = IPv4Address(text) else { throw NeutronError.invalidAttribute("gateway_ip", "'\(text)' is not a valid IP address") }
        if cidr.length < 31, ip == cidr.network || ip == cidr.broadcast {
            throw NeutronError.invalidInput("Gateway is not valid on subnet")
        }
        return ip
    }

    struct Pool { let start: IPv4Address; let end: IPv4Address; var text: String { "\(start)-\(end)" } }

    /// The pools a request gives (checked against the cidr, each other and the gateway), or the
    /// default: the whole host range without the gateway.
    func checkedPools(_ value: JSONValue?, cidr: IPv4Prefix, gateway: IPv4Address?) throws -> [Pool] {
        guard let items = value?.array else {
            let hosts = cidr.hostRange
            guard let gateway, hosts.contains(gateway.value) else { return [Pool(start: IPv4Address(hosts.lowerBound), end: IPv4Address(hosts.upperBound))] }
            var pools: [Pool] = []
            if gateway.value > hosts.lowerBound { pools.append(Pool(start: IPv4Address(hosts.lowerBound), end: IPv4Address(gateway.value - 1))) }
            if gateway.value < hosts.upperBound { pools.append(Pool(start: IPv4Address(gateway.value + 1), end: IPv4Address(hosts.upperBound))) }
            return pools
        }
        let pools = try items.map { item -> Pool in
            guard let object = item.object, let start = object["start"]?.string.flatMap(IPv4Address.init),
                  let end = object["end"]?.string.flatMap(IPv4Address.init), Set(object.keys).isSubset(of: ["start", "end"]) else {
                throw NeutronError.invalidAttribute("allocation_pools", "Invalid data format for IP pool: '\(item)'")
            }
            guard start <= end else {
                throw NeutronError(status: 400, type: "InvalidAllocationPool", message: "The allocation pool \(start)-\(end) is not valid.")
            }
            guard cidr.hostRange.contains(start.value), cidr.hostRange.contains(end.value) else {
                throw NeutronError(status: 400, type: "OutOfBoundsAllocationPool",
                                   message: "The allocation pool \(start)-\(end) spans beyond the subnet cidr \(cidr).")
            }
            return Pool(start: start, end: end)
        }
        for (index, pool) in pools.enumerated() {
            for other in pools[(index + 1)...] where pool.start <= other.end && other.start <= pool.end {
                throw NeutronError.conflict("OverlappingAllocationPools",
                                            "Found overlapping allocation pools: \(pool.text) \(other.text) for subnet \(cidr).")
            }
            if let gateway, pool.start <= gateway, gateway <= pool.end {
                throw NeutronError.conflict("GatewayConflictWithAllocationPools",
                                            "Gateway ip \(gateway) conflicts with allocation pool \(pool.text)")
            }
        }
        return pools
    }

    /// Neutron's `max_dns_nameservers` and `max_subnet_host_routes` defaults.
    static let maximumNameservers = 5
    static let maximumHostRoutes = 20

    func checkedNameservers(_ value: JSONValue?) throws -> JSONValue {
        let items = value?.array ?? []
        guard items.count <= Self.maximumNameservers else {
            throw NeutronError(status: 400, type: "DNSNameServersExhausted",
                               message: "The number of DNS nameservers exceeds the limit \(Self.maximumNameservers).")
        }
        for item in items where item.string.flatMap(IPv4Address.init) == nil {
            throw NeutronError.invalidAttribute("dns_nameservers", "'\(item)' is not a valid nameserver. '\(item)' is not a valid IP address")
        }
        return .array(items)
    }

    func checkedHostRoutes(_ value: JSONValue?) throws -> JSONValue {
        let items = value?.array ?? []
        guard items.count <= Self.maximumHostRoutes else {
            throw NeutronError(status: 400, type: "HostRoutesExhausted",
                               message: "The number of host routes exceeds the limit \(Self.maximumHostRoutes).")
        }
        for item in items {
            guard let route = item.object, Set(route.keys) == ["destination", "nexthop"],
                  let destination = route["destination"]?.string, let prefix = IPv4Prefix(destination),
                  route["nexthop"]?.string.flatMap(IPv4Address.init) != nil else {
                throw NeutronError.invalidAttribute("host_routes", "Invalid data format for hostroute: '\(item)'")
            }
            // As Neutron: a destination with host bits set is refused, its network suggested.
            guard destination.contains("/"), prefix.isNormalized, prefix.description == destination else {
                throw NeutronError.invalidAttribute("host_routes",
                                                    "'\(destination)' isn't a recognized IP subnet cidr, '\(prefix.normalized)' is recommended")
            }
        }
        return .array(items)
    }

    static func pools(_ subnet: Resource) -> [Pool] {
        (subnet["allocation_pools"]?.array ?? []).compactMap { item in
            guard let start = item.object?["start"]?.string.flatMap(IPv4Address.init),
                  let end = item.object?["end"]?.string.flatMap(IPv4Address.init) else { return nil }
            return Pool(start: start, end: end)
        }
    }

    static func poolsJSON(_ pools: [Pool]) -> JSONValue {
        .array(pools.map { .object(["start": .string($0.start.description), "end": .string($0.end.description)]) })
    }

    static func fixedIP(_ subnetID: String, _ ip: String) -> JSONValue {
        .object(["subnet_id": .string(subnetID), "ip_address": .string(ip)])
    }
}

extension NeutronError {
    /// The same status and message under another exception name.
    func typed(_ type: String) -> NeutronError { NeutronError(status: status, type: type, message: message) }
}
