import Foundation

/// The per-host feed: `GET /v2.0/xdpswitch/hosts/HOST/view?after=REV&timeout=SECONDS` answers
/// with the host view (docs/agent-protocol.md, format 1) once the model's revision is past
/// `after`, holding the request until then or until the timeout.
///
/// A view is made whole from the model in one read transaction, so it is consistent with the
/// revision it carries. Its `revision` is the model-wide one: a change anywhere produces a new
/// view for every host, which may be equal to the last but for the revision (the agent
/// compares). Making a view reads the whole model; views are made once per change per host.
extension NetworkingService {
    /// The longest a request may wait for a change (seconds), and the default wait.
    public static let maximumViewWait = 300.0
    public static let defaultViewWait = 30.0

    /// The host's view once the model's revision is greater than `after` (at once when `after`
    /// is nil or older), or nil when `timeout` seconds pass first. 404 `AgentNotFound` when the
    /// host is not registered.
    public func hostView(host: String, after: Int?, timeout: Double) async throws -> JSONValue? {
        let deadline = Date().addingTimeInterval(min(max(timeout, 0), Self.maximumViewWait))
        while true {
            let generation = changes.generation
            let view: JSONValue? = try await store.read { sql in
                let tx = ModelTransaction(sql)
                guard let registration = try tx.agentHost(host) else {
                    throw NeutronError.notFound("AgentNotFound", "Agent for host \(host) could not be found: it has not registered.")
                }
                let revision = try tx.revision()
                if let after, revision <= after { return nil }
                return try HostViewBuilder(tx, registration: registration, revision: revision).view()
            }
            if let view { return view }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return nil }
            await changes.wait(after: generation, upTo: min(remaining, store.changePollInterval))
        }
    }
}

/// Makes one host's view from the model (docs/agent-protocol.md, "The document").
struct HostViewBuilder {
    let registration: Resource
    let revision: Int
    let hostName: String
    let servesNetworks: Bool
    let allPorts: [Resource]
    let hosts: [Resource]
    let tx: ModelTransaction

    init(_ tx: ModelTransaction, registration: Resource, revision: Int) throws {
        self.tx = tx
        self.registration = registration
        self.revision = revision
        hostName = registration.text("host") ?? ""
        servesNetworks = AgentRegistration.servesNetworks(registration)
        allPorts = try tx.resources(.port)
        hosts = try tx.agentHosts()
    }

    func view() throws -> JSONValue {
        let bound = allPorts.filter { $0.text("binding:host_id") == hostName }
        let routerIDs = servesNetworks ? Set(bound.filter { NetworkingService.routerOwners.contains($0.text("device_owner") ?? "") }
            .compactMap { $0.text("device_id") }).sorted() : []
        let dhcpPorts = servesNetworks ? bound.filter { $0.text("device_owner") == "network:dhcp" } : []
        // The host's networks: those of its ports (a router's and a DHCP service's ports are
        // bound here when it serves them) in id order.
        let networkIDs = Set(bound.compactMap { $0.text("network_id") }).sorted()
        let networks = try networkIDs.compactMap { try tx.resource(.network, $0) }
        var groupIDs: [String] = []
        for port in bound where port["port_security_enabled"] != .bool(false) {
            for group in port["security_groups"]?.array?.compactMap(\.string) ?? [] where !groupIDs.contains(group) { groupIDs.append(group) }
        }
        let view: Resource = [
            "format_version": .int(1),
            "revision": .int(revision),
            "host": .object(host()),
            "networks": .array(try networks.map { .object(try network($0)) }),
            "ports": .array(bound.map { .object(port($0)) }),
            "security_groups": .array(try securityGroups(groupIDs).map(JSONValue.object)),
            "routers": .array(try routerIDs.compactMap { try tx.resource(.router, $0) }.map { .object(try router($0)) }),
            "dhcp": .array(try dhcpPorts.compactMap { try dhcp($0) }.map(JSONValue.object)),
        ]
        return .object(view)
    }

    func host() -> Resource {
        var host: Resource = ["name": .string(hostName), "role": registration["role"] ?? .string("compute"),
                              "bridge_mappings": registration["bridge_mappings"] ?? .object([:])]
        if let ip = registration["tunnel_ip"], !ip.isNull {
            var tunnel: Resource = ["ip": ip, "prefix_length": registration["tunnel_prefix_length"] ?? .null,
                                    "interface": registration["tunnel_interface"] ?? .null,
                                    "mtu": registration["tunnel_mtu"] ?? .int(1500)]
            if let gateway = registration["tunnel_gateway"], !gateway.isNull { tunnel["gateway"] = gateway }
            host["tunnel"] = .object(tunnel)
        }
        if let external = registration["external_interface"], !external.isNull { host["external_interface"] = external }
        return host
    }

    func network(_ network: Resource) throws -> Resource {
        let type = network.text("provider:network_type") ?? "gre"
        var out: Resource = ["id": .string(network.id), "name": network["name"] ?? .null, "network_type": .string(type),
                             "router_external": .bool(network["router:external"] == .bool(true))]
        if type == "flat" || type == "vlan" { out["physical_network"] = network["provider:physical_network"] ?? .null }
        if type != "flat" { out["segmentation_id"] = network["provider:segmentation_id"] ?? .null }
        if let mtu = network["mtu"], !mtu.isNull { out["mtu"] = mtu }
        out["subnets"] = .array(try tx.resources(.subnet, networkID: network.id).map { subnet in
            var shown: Resource = ["id": .string(subnet.id), "cidr": subnet["cidr"] ?? .null,
                                   "enable_dhcp": subnet["enable_dhcp"] ?? .bool(true),
                                   "dns_nameservers": subnet["dns_nameservers"] ?? .array([]),
                                   "host_routes": subnet["host_routes"] ?? .array([])]
            if let gateway = subnet["gateway_ip"], !gateway.isNull { shown["gateway_ip"] = gateway }
            return .object(shown)
        })
        if type == "gre" || type == "vxlan" { out["remote_hosts"] = .array(remoteHosts(networkID: network.id).map(JSONValue.object)) }
        return out
    }

    /// l2population: every other registered host with a tunnel endpoint and a port on the network.
    func remoteHosts(networkID: String) -> [Resource] {
        hosts.compactMap { other in
            guard let name = other.text("host"), name != hostName, let tunnelIP = other["tunnel_ip"], !tunnelIP.isNull else { return nil }
            let ports = allPorts.filter { $0.text("network_id") == networkID && $0.text("binding:host_id") == name }
            guard !ports.isEmpty else { return nil }
            return ["host": .string(name), "tunnel_ip": tunnelIP, "ports": .array(ports.map { port in
                .object(["mac_address": port["mac_address"] ?? .null, "ip_addresses": .array(Self.addresses(port).map(JSONValue.string)),
                         "device_owner": port["device_owner"] ?? .string("")])
            })]
        }
    }

    func port(_ port: Resource) -> Resource {
        var out: Resource = ["id": .string(port.id), "network_id": port["network_id"] ?? .null, "mac_address": port["mac_address"] ?? .null,
                             "fixed_ips": .array(Self.fixedIPs(port).map { .object(["subnet_id": .string($0.subnet), "ip_address": .string($0.ip)]) }),
                             "device_owner": port["device_owner"] ?? .string(""),
                             "port_security_enabled": port["port_security_enabled"] ?? .bool(true)]
        let secured = port["port_security_enabled"] != .bool(false)
        out["security_groups"] = secured ? port["security_groups"] ?? .array([]) : .array([])
        out["allowed_address_pairs"] = secured ? .array((port["allowed_address_pairs"]?.array ?? []).compactMap { pair in
            guard let ip = pair.object?["ip_address"] else { return nil }
            var shown: Resource = ["ip_address": ip]
            if let mac = pair.object?["mac_address"], !mac.isNull { shown["mac_address"] = mac }
            return .object(shown)
        }) : .array([])
        if let name = port["binding:profile"]?.object?["interface_name"]?.string { out["interface_name"] = .string(name) }
        return out
    }

    /// The groups the host's ports use and, following rules' remote groups, every group they
    /// name; each with its rules and the addresses of all its member ports anywhere.
    func securityGroups(_ used: [String]) throws -> [Resource] {
        let rules = try tx.resources(.securityGroupRule)
        var ids = used
        var index = 0
        while index < ids.count {
            for rule in rules where rule.text("security_group_id") == ids[index] {
                if let remote = rule.text("remote_group_id"), !ids.contains(remote) { ids.append(remote) }
            }
            index += 1
        }
        return try ids.compactMap { try tx.resource(.securityGroup, $0) }.map { group in
            let members = allPorts.filter { port in
                port["port_security_enabled"] != .bool(false) && (port["security_groups"]?.array ?? []).contains(.string(group.id))
            }.flatMap { port in
                Self.addresses(port) + (port["allowed_address_pairs"]?.array ?? []).compactMap { $0.object?["ip_address"]?.string }
            }
            var seen = Set<String>()
            return ["id": .string(group.id), "name": group["name"] ?? .null,
                    "rules": .array(rules.filter { $0.text("security_group_id") == group.id }.map { rule in
                        var shown: Resource = ["id": .string(rule.id), "direction": rule["direction"] ?? .null,
                                               "ethertype": rule["ethertype"] ?? .string("IPv4")]
                        for field in ["protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id"] {
                            if let value = rule[field], !value.isNull { shown[field] = value }
                        }
                        return .object(shown)
                    }),
                    "members": .array(members.filter { seen.insert($0).inserted }.map(JSONValue.string))]
        }
    }

    func router(_ router: Resource) throws -> Resource {
        let ports = allPorts.filter { $0.text("device_id") == router.id }
        func interface(_ port: Resource, _ fixed: (subnet: String, ip: String)) -> JSONValue {
            .object(["port_id": .string(port.id), "mac_address": port["mac_address"] ?? .null, "network_id": port["network_id"] ?? .null,
                     "subnet_id": .string(fixed.subnet), "ip_address": .string(fixed.ip)])
        }
        var out: Resource = ["id": .string(router.id), "name": router["name"] ?? .null,
                             "routes": router["routes"] ?? .array([])]
        out["interfaces"] = .array(ports.filter { $0.text("device_owner") == "network:router_interface" }.flatMap { port in
            Self.fixedIPs(port).map { interface(port, $0) }
        })
        if let gateway = ports.first(where: { $0.text("device_owner") == "network:router_gateway" }),
           let fixed = Self.fixedIPs(gateway).first {
            out["gateway"] = .object(["port": interface(gateway, fixed),
                                      "enable_snat": router["external_gateway_info"]?.object?["enable_snat"] ?? .bool(true)])
            out["floating_ips"] = .array(try tx.resources(.floatingip).filter { $0.text("router_id") == router.id }.compactMap { floating in
                guard let address = floating["floating_ip_address"], let fixed = floating["fixed_ip_address"], !fixed.isNull else { return nil }
                return .object(["floating_ip_address": address, "fixed_ip_address": fixed])
            })
        }
        return out
    }

    /// The network's DHCP service: its port's addresses, and a lease for each other port of
    /// the network (its first address on a served subnet).
    func dhcp(_ port: Resource) throws -> Resource? {
        let served = Self.fixedIPs(port)
        guard !served.isEmpty, let networkID = port.text("network_id") else { return nil }
        let prefixes = try served.compactMap { try tx.resource(.subnet, $0.subnet)?.text("cidr").flatMap(IPv4Prefix.init) }
        let leases: [JSONValue] = allPorts.filter { $0.text("network_id") == networkID && $0.id != port.id }.compactMap { other in
            guard let ip = Self.fixedIPs(other).map(\.ip).first(where: { text in
                IPv4Address(text).map { address in prefixes.contains { $0.contains(address) } } ?? false
            }) else { return nil }
            return .object(["mac_address": other["mac_address"] ?? .null, "ip_address": .string(ip),
                            "hostname": .string("host-" + ip.replacingOccurrences(of: ".", with: "-"))])
        }
        return ["network_id": .string(networkID), "port_id": .string(port.id), "mac_address": port["mac_address"] ?? .null,
                "fixed_ips": .array(served.map { .object(["subnet_id": .string($0.subnet), "ip_address": .string($0.ip)]) }),
                "lease_time": .int(NetworkingService.dhcpLeaseDuration), "domain": .string("openstacklocal"),
                "hosts": .array(leases)]
    }

    static func fixedIPs(_ port: Resource) -> [(subnet: String, ip: String)] {
        (port["fixed_ips"]?.array ?? []).compactMap { item in
            guard let subnet = item.object?["subnet_id"]?.string, let ip = item.object?["ip_address"]?.string else { return nil }
            return (subnet, ip)
        }
    }

    static func addresses(_ port: Resource) -> [String] { fixedIPs(port).map(\.ip) }
}
