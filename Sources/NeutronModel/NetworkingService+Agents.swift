import Foundation

/// The agents: registration and heartbeat (`POST /v2.0/xdpswitch/agents`, docs/agent-protocol.md
/// "Transport"), the rows `GET /v2.0/agents` shows for them, and the scheduling of routers and
/// DHCP services onto a network node.
///
/// A host registers once per agent process and then repeats the same body as its heartbeat.
/// The registration is kept whole in `agent_hosts`; only a change of what host views hold
/// (a new host, another role, tunnel or mapping) bumps the model's revision, so heartbeats
/// wake nobody. Neutron shows one agent per kind of work: every host gets an "Open vSwitch
/// agent" row, a network or all-in-one host also an "L3 agent" and a "DHCP agent" row, with
/// ids kept in the registration.
///
/// Scheduling binds the ports of routers (`qr-`, `qg-`) and DHCP services to one alive
/// network node (`binding:host_id`): a service stays where it is while its host is alive;
/// otherwise it goes to the alive network or all-in-one host with the lowest name, and with
/// none alive it stays on its (dead) host, or unbound when that host is gone. It runs after
/// every registration or heartbeat and every change that can create such ports.
extension NetworkingService {
    /// The `binary` of every agent row: one process does the work of Neutron's three agents.
    public static let agentBinary = "xdpswitch-agent"

    /// POST /v2.0/xdpswitch/agents: registers the host or records its heartbeat; applies the
    /// port statuses it reports. Returns `{"agent": {…}}`.
    public func registerAgent(body: JSONValue) async throws -> JSONValue {
        let registration = try AgentRegistration(body)
        let now = Date().timeIntervalSince1970
        return try await write { sql in
            let tx = ModelTransaction(sql)
            let previous = try tx.agentHost(registration.host)
            if let ip = registration.fields.text("tunnel_ip"),
               let other = try tx.agentHosts().first(where: { $0.text("host") != registration.host && $0.text("tunnel_ip") == ip }) {
                throw NeutronError.conflict("TunnelIPInUse", "Tunnel IP \(ip) is already the tunnel endpoint of host \(other.text("host") ?? "").")
            }
            var stored = registration.fields
            let changed = previous.map { old in AgentRegistration.viewFields.contains { old[$0] != stored[$0] } } ?? true
            let restarted = changed || !(previous.map { self.isAlive($0, now: now) } ?? false)
            stored["agent_ids"] = previous?["agent_ids"] ?? .object([
                "open_vswitch": .string(Self.newID()), "l3": .string(Self.newID()), "dhcp": .string(Self.newID())])
            let stamp = Self.agentTimestamp(now)
            stored["created_at"] = previous?["created_at"] ?? .string(stamp)
            stored["started_at"] = restarted ? .string(stamp) : previous?["started_at"] ?? .string(stamp)
            stored["heartbeat_time"] = .double(now)
            try tx.saveAgentHost(registration.host, stored, changesModel: changed)
            try self.applyPortStatuses(registration.portStatuses, host: registration.host, tx)
            try self.scheduleNetworkServices(tx, now: now)
            var shown = stored
            shown["heartbeat_time"] = nil
            shown["agent_ids"] = nil
            shown["heartbeat_timestamp"] = .string(stamp)
            shown["alive"] = .bool(true)
            shown["model_revision"] = .int(try tx.revision())
            return .object(["agent": .object(shown)])
        }
    }

    /// GET /v2.0/agents: Neutron's agent rows of every registered host, filtered and narrowed
    /// by `fields` as other lists are.
    public func listAgents(query: [(String, String)]) async throws -> JSONValue {
        let fields = query.filter { $0.0 == "fields" }.map(\.1)
        let filters = try ListFilter.parse(.agent, query)
        let now = Date().timeIntervalSince1970
        return try await store.read { sql in
            let rows = try self.agentRows(ModelTransaction(sql), now: now).filter { row in filters.allSatisfy { $0.matches(row) } }
            return .object(["agents": .array(rows.map { .object(Self.selecting(fields, $0)) })])
        }
    }

    /// GET /v2.0/agents/ID.
    public func showAgent(id: String, query: [(String, String)]) async throws -> JSONValue {
        let fields = query.filter { $0.0 == "fields" }.map(\.1)
        let now = Date().timeIntervalSince1970
        return try await store.read { sql in
            guard let row = try self.agentRows(ModelTransaction(sql), now: now).first(where: { $0.id == id }) else {
                throw Self.notFound(.agent, id)
            }
            return .object(["agent": .object(Self.selecting(fields, row))])
        }
    }

    /// DELETE /v2.0/agents/ID: removes the registration of the agent's host (all its rows);
    /// its routers and DHCP services go to another network node.
    public func deleteAgent(id: String) async throws {
        let now = Date().timeIntervalSince1970
        try await write { sql in
            let tx = ModelTransaction(sql)
            guard let host = try tx.agentHosts().first(where: { Self.agentIDs($0).values.contains(id) }) else {
                throw Self.notFound(.agent, id)
            }
            try tx.deleteAgentHost(host.text("host") ?? "")
            try self.scheduleNetworkServices(tx, now: now)
        }
    }

    /// GET /v2.0/networks/ID/dhcp-agents: the DHCP agent of the host serving the network's DHCP.
    public func dhcpAgents(networkID: String) async throws -> JSONValue {
        try await scheduledAgents(type: "DHCP agent") { tx in
            _ = try self.existing(.network, networkID, tx)
            return try tx.resources(.port, networkID: networkID).filter { $0.text("device_owner") == "network:dhcp" }
        }
    }

    /// GET /v2.0/routers/ID/l3-agents: the L3 agent of the host serving the router.
    public func l3Agents(routerID: String) async throws -> JSONValue {
        try await scheduledAgents(type: "L3 agent") { tx in
            _ = try self.existing(.router, routerID, tx)
            return try tx.resources(.port, deviceID: routerID)
        }
    }

    private func scheduledAgents(type: String, ports: @escaping @Sendable (ModelTransaction) throws -> [Resource]) async throws -> JSONValue {
        let now = Date().timeIntervalSince1970
        return try await store.read { sql in
            let tx = ModelTransaction(sql)
            let hosts = Set(try ports(tx).compactMap { $0.text("binding:host_id") }.filter { !$0.isEmpty })
            let rows = try self.agentRows(tx, now: now).filter { $0.text("agent_type") == type && hosts.contains($0.text("host") ?? "") }
            return .object(["agents": .array(rows.map(JSONValue.object))])
        }
    }

    // MARK: Inside a transaction

    /// Whether the host's last heartbeat is within ``agentDownTime``.
    func isAlive(_ host: Resource, now: Double) -> Bool {
        guard case .double(let beat)? = host["heartbeat_time"] else { return false }
        return now - beat <= agentDownTime
    }

    /// Sets the status of the listed ports bound to `host` (others are ignored); a port's
    /// revision_number moves only when its status does. No host view holds a status, so the
    /// model's revision stays.
    func applyPortStatuses(_ statuses: [String: String], host: String, _ tx: ModelTransaction) throws {
        for (id, status) in statuses.sorted(by: { $0.key < $1.key }) {
            guard var port = try tx.resource(.port, id), port.text("binding:host_id") == host, port.text("status") != status else { continue }
            port["status"] = .string(status)
            port["revision_number"] = .int((port["revision_number"]?.int ?? 0) + 1)
            port["updated_at"] = .string(Timestamp.now())
            try tx.update(.port, port, bumpingRevision: false)
        }
    }

    /// Binds every router's and DHCP service's ports to the network node serving it (see the
    /// type's comment for the rule).
    func scheduleNetworkServices(_ tx: ModelTransaction, now: Double) throws {
        let hosts = try tx.agentHosts().filter { AgentRegistration.servesNetworks($0) }
        let registered = Set(hosts.compactMap { $0.text("host") })
        let alive = hosts.filter { isAlive($0, now: now) }.compactMap { $0.text("host") }.sorted()
        let services = Dictionary(grouping: try tx.networkServicePorts()) { $0.text("device_id") ?? "" }
        for (_, ports) in services.sorted(by: { $0.key < $1.key }) {
            let current = Set(ports.map { $0.text("binding:host_id") ?? "" })
            let target: String
            if let first = alive.first {
                if current.count == 1, let host = current.first, alive.contains(host) { continue }
                target = first
            } else {
                // None alive: stay on a registered (dead) host, else unbound.
                target = current.filter(registered.contains).sorted().first ?? ""
            }
            for var port in ports where port.text("binding:host_id") != target {
                port["binding:host_id"] = .string(target)
                setBinding(&port)
                port["revision_number"] = .int((port["revision_number"]?.int ?? 0) + 1)
                port["updated_at"] = .string(Timestamp.now())
                try tx.update(.port, port)
            }
        }
    }

    /// Neutron's agent rows for every registered host.
    func agentRows(_ tx: ModelTransaction, now: Double) throws -> [Resource] {
        let hosts = try tx.agentHosts()
        guard !hosts.isEmpty else { return [] }
        let ports = try tx.resources(.port)
        var rows: [Resource] = []
        for host in hosts {
            let name = host.text("host") ?? ""
            let bound = ports.filter { $0.text("binding:host_id") == name }
            let ids = Self.agentIDs(host)
            func row(_ type: String, _ key: String, topic: String, zone: JSONValue, _ configurations: Resource) -> Resource {
                ["id": .string(ids[key] ?? ""), "agent_type": .string(type), "binary": .string(Self.agentBinary),
                 "host": .string(name), "alive": .bool(isAlive(host, now: now)), "admin_state_up": .bool(true),
                 "availability_zone": zone, "topic": .string(topic), "configurations": .object(configurations),
                 "heartbeat_timestamp": .string(Self.agentTimestamp(Self.heartbeat(host))),
                 "started_at": host["started_at"] ?? .null, "created_at": host["created_at"] ?? .null,
                 "description": .null, "resources_synced": .null]
            }
            let tunnelIP = host["tunnel_ip"] ?? .null
            rows.append(row("Open vSwitch agent", "open_vswitch", topic: "N/A", zone: .null, [
                "bridge_mappings": host["bridge_mappings"] ?? .object([:]),
                "tunnel_types": .array(tunnelIP.isNull ? [] : [.string("gre")]),
                "tunneling_ip": tunnelIP, "tunnel_interface": host["tunnel_interface"] ?? .null,
                "l2_population": .bool(true), "arp_responder_enabled": .bool(false),
                "integration_bridge": .string("br-int"), "tunnel_bridge": .string("br-tun"),
                "devices": .int(bound.count), "revision_applied": host["revision_applied"] ?? .null,
            ]))
            guard AgentRegistration.servesNetworks(host) else { continue }
            let routerPorts = bound.filter { Self.routerOwners.contains($0.text("device_owner") ?? "") }
            let dhcpPorts = bound.filter { $0.text("device_owner") == "network:dhcp" }
            rows.append(row("L3 agent", "l3", topic: "l3_agent", zone: .string("nova"), [
                "agent_mode": .string("legacy"), "external_interface": host["external_interface"] ?? .null,
                "routers": .int(Set(routerPorts.compactMap { $0.text("device_id") }).count),
                "interfaces": .int(routerPorts.count(where: { $0.text("device_owner") == "network:router_interface" })),
                "ex_gw_ports": .int(routerPorts.count(where: { $0.text("device_owner") == "network:router_gateway" })),
            ]))
            rows.append(row("DHCP agent", "dhcp", topic: "dhcp_agent", zone: .string("nova"), [
                "networks": .int(dhcpPorts.count), "ports": .int(dhcpPorts.count),
                "subnets": .int(dhcpPorts.reduce(0) { $0 + ($1["fixed_ips"]?.array?.count ?? 0) }),
                "dhcp_lease_duration": .int(Self.dhcpLeaseDuration), "dhcp_driver": .string(Self.agentBinary),
            ]))
        }
        return rows
    }

    /// The host's agent row ids by kind (`open_vswitch`, `l3`, `dhcp`).
    static func agentIDs(_ host: Resource) -> [String: String] {
        (host["agent_ids"]?.object ?? [:]).compactMapValues(\.string)
    }

    static func heartbeat(_ host: Resource) -> Double {
        if case .double(let beat)? = host["heartbeat_time"] { return beat }
        return 0
    }

    /// Neutron's agent timestamps: `2026-01-31 12:00:00` (UTC).
    static func agentTimestamp(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    /// Neutron's `dhcp_lease_duration` default, given to every DHCP service.
    static let dhcpLeaseDuration = 86400
}

/// A registration or heartbeat body, checked: `{"agent": {"host", "role", "tunnel_ip", …}}`.
/// Unknown fields are ignored (a newer agent may send more); a known field of the wrong type
/// or out of range is refused with 400 naming it.
struct AgentRegistration {
    /// What is stored (the known fields, defaults filled in).
    var fields: Resource
    /// Port id → `ACTIVE` | `DOWN`.
    var portStatuses: [String: String]
    var host: String { fields.text("host") ?? "" }

    /// The fields a host view is made from: a change of one of them changes the model.
    static let viewFields = ["role", "tunnel_ip", "tunnel_prefix_length", "tunnel_interface", "tunnel_gateway", "tunnel_mtu",
                             "bridge_mappings", "external_interface"]

    static func servesNetworks(_ host: Resource) -> Bool { host.text("role") == "network" || host.text("role") == "all" }

    init(_ body: JSONValue) throws {
        guard let object = body.object, let agent = object["agent"]?.object else {
            throw NeutronError.badRequest("Unable to find 'agent' in request body")
        }
        func bad(_ field: String, _ reason: String) -> NeutronError { .invalidAttribute(field, reason) }
        func optional(_ field: String) -> JSONValue? { agent[field].flatMap { $0.isNull ? nil : $0 } }
        func interfaceName(_ field: String) throws -> JSONValue {
            guard let value = optional(field) else { return .null }
            guard let name = value.string, Self.isIdentifier(name), name.utf8.count <= 15 else {
                throw bad(field, "'\(value)' is not an interface name (1-15 letters, digits, . _ -)")
            }
            return value
        }
        func integer(_ field: String, _ range: ClosedRange<Int>) throws -> JSONValue {
            guard let value = optional(field) else { return .null }
            guard let number = value.int, range.contains(number) else {
                throw bad(field, "'\(value)' is not an integer in \(range.lowerBound)-\(range.upperBound)")
            }
            return value
        }
        func address(_ field: String) throws -> JSONValue {
            guard let value = optional(field) else { return .null }
            guard let text = value.string, let ip = IPv4Address(text), ip.value != 0, ip.value != .max, ip.value >> 28 != 14 else {
                throw bad(field, "'\(value)' is not a unicast IPv4 address")
            }
            return value
        }
        guard let host = agent["host"]?.string, Self.isIdentifier(host) else {
            throw bad("host", "'\(agent["host"] ?? .null)' is not a host name (1-255 letters, digits, . _ -)")
        }
        guard let role = agent["role"]?.string, ["compute", "network", "all"].contains(role) else {
            throw bad("role", "'\(agent["role"] ?? .null)' is not in ['compute', 'network', 'all']")
        }
        var fields: Resource = ["host": .string(host), "role": .string(role)]
        fields["tunnel_ip"] = try address("tunnel_ip")
        fields["tunnel_prefix_length"] = try integer("tunnel_prefix_length", 1...32)
        fields["tunnel_interface"] = try interfaceName("tunnel_interface")
        fields["tunnel_gateway"] = try address("tunnel_gateway")
        fields["tunnel_mtu"] = try integer("tunnel_mtu", 576...9000)
        if fields["tunnel_ip"] != .null {
            if fields["tunnel_prefix_length"] == .null { throw bad("tunnel_prefix_length", "required with tunnel_ip") }
            if fields["tunnel_interface"] == .null { throw bad("tunnel_interface", "required with tunnel_ip") }
            if fields["tunnel_mtu"] == .null { fields["tunnel_mtu"] = .int(1500) }
            if let gateway = fields.text("tunnel_gateway").flatMap(IPv4Address.init),
               let ip = fields.text("tunnel_ip").flatMap(IPv4Address.init),
               let length = fields["tunnel_prefix_length"]?.int, let underlay = IPv4Prefix("\(ip)/\(length)"),
               gateway == ip || !underlay.contains(gateway) {
                throw bad("tunnel_gateway", "'\(gateway)' is not another address of \(ip)/\(length)")
            }
        } else if fields["tunnel_gateway"] != .null {
            throw bad("tunnel_gateway", "a tunnel gateway needs tunnel_ip")
        }
        var mappings: Resource = [:]
        if let value = optional("bridge_mappings") {
            guard let object = value.object else { throw bad("bridge_mappings", "'\(value)' is not a dictionary") }
            for (physnet, interface) in object {
                guard Self.isIdentifier(physnet), let name = interface.string, Self.isIdentifier(name), name.utf8.count <= 15 else {
                    throw bad("bridge_mappings", "'\(physnet)': '\(interface)' is not a physical network and an interface name")
                }
                mappings[physnet] = interface
            }
        }
        fields["bridge_mappings"] = .object(mappings)
        fields["external_interface"] = try interfaceName("external_interface")
        // One host interface serves one purpose, as the agent's view requires (HostView+Validation).
        var used = Set<String>()
        if fields["tunnel_ip"] != .null, let tunnel = fields.text("tunnel_interface") { used.insert(tunnel) }
        for (physnet, interface) in mappings.sorted(by: { $0.key < $1.key }) where !used.insert(interface.string ?? "").inserted {
            throw bad("bridge_mappings", "'\(physnet)': interface \(interface) is already used by the tunnel or another physical network")
        }
        if let external = fields.text("external_interface"), !used.insert(external).inserted {
            throw bad("external_interface", "interface \(external) is already used by the tunnel or a physical network")
        }
        fields["revision_applied"] = try integer("revision_applied", 0...Int.max)
        var statuses: [String: String] = [:]
        if let value = optional("ports") {
            guard let object = value.object else { throw bad("ports", "'\(value)' is not a dictionary of port id to status") }
            for (id, status) in object {
                guard let text = status.string, text == "ACTIVE" || text == "DOWN" else {
                    throw bad("ports", "status of port \(id) is '\(status)', not ACTIVE or DOWN")
                }
                statuses[id] = text
            }
        }
        self.fields = fields
        self.portStatuses = statuses
    }

    /// 1-255 characters of `A-Z a-z 0-9 - _ .` (host names, physical networks, interfaces).
    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
    }
}
