import Foundation

/// The model's reads and writes inside one store transaction, in Neutron's terms: resources by
/// kind, IP and MAC allocations, segments, the model revision. Written once over ``SQLExecutor``,
/// so SQLite and PostgreSQL run the same statements.
public final class ModelTransaction {
    public let sql: any SQLExecutor
    /// Set by the first change, so the revision is bumped once per transaction.
    private var changed = false

    public init(_ sql: any SQLExecutor) { self.sql = sql }

    // MARK: Resources

    public func resource(_ kind: ResourceKind, _ id: String) throws -> Resource? {
        try sql.rows("SELECT body FROM resources WHERE kind = ? AND id = ?", [.text(kind.rawValue), .text(id)])
            .first.map { try Self.decode($0[0]) }
    }

    /// Every resource of `kind`, optionally only those with the given `network_id` / `device_id`.
    public func resources(_ kind: ResourceKind, networkID: String? = nil, deviceID: String? = nil) throws -> [Resource] {
        var query = "SELECT body FROM resources WHERE kind = ?"
        var arguments: [SQLValue] = [.text(kind.rawValue)]
        if let networkID { query += " AND network_id = ?"; arguments.append(.text(networkID)) }
        if let deviceID { query += " AND device_id = ?"; arguments.append(.text(deviceID)) }
        return try sql.rows(query + " ORDER BY id", arguments).map { try Self.decode($0[0]) }
    }

    public func insert(_ kind: ResourceKind, _ resource: Resource) throws {
        try sql.execute("INSERT INTO resources (kind, id, project_id, network_id, device_id, body) VALUES (?, ?, ?, ?, ?, ?)",
                        [.text(kind.rawValue), .text(resource.id), .text(resource.text("project_id") ?? ""),
                         Self.optional(resource.text("network_id")), Self.optional(resource.text("device_id")),
                         .text(try JSONValue.encodeText(.object(resource)))])
        try bumpRevision()
    }

    /// Stores the resource's new body. `bumpingRevision: false` is for fields no host view
    /// holds (a port's `status` from its agent): the agents are not woken for them.
    public func update(_ kind: ResourceKind, _ resource: Resource, bumpingRevision: Bool = true) throws {
        try sql.execute("UPDATE resources SET network_id = ?, device_id = ?, body = ? WHERE kind = ? AND id = ?",
                        [Self.optional(resource.text("network_id")), Self.optional(resource.text("device_id")),
                         .text(try JSONValue.encodeText(.object(resource))), .text(kind.rawValue), .text(resource.id)])
        if bumpingRevision { try bumpRevision() }
    }

    /// The ports routers and DHCP services own (`device_id` a router's id or `dhcp-NETWORK`,
    /// and a `network:dhcp` or `network:router_*` owner): those the scheduler binds to a
    /// network node.
    public func networkServicePorts() throws -> [Resource] {
        try sql.rows("""
            SELECT body FROM resources WHERE kind = 'port'
              AND (device_id LIKE 'dhcp-%' OR device_id IN (SELECT id FROM resources WHERE kind = 'router')) ORDER BY id
            """, []).map { try Self.decode($0[0]) }.filter { port in
            let owner = port.text("device_owner") ?? ""
            return owner == "network:dhcp" || (owner.hasPrefix("network:router_") || owner.hasPrefix("network:ha_router"))
        }
    }

    // MARK: Agent hosts

    /// Every registered host's registration body, by host name.
    public func agentHosts() throws -> [Resource] {
        try sql.rows("SELECT body FROM agent_hosts ORDER BY host", []).map { try Self.decode($0[0]) }
    }

    public func agentHost(_ host: String) throws -> Resource? {
        try sql.rows("SELECT body FROM agent_hosts WHERE host = ?", [.text(host)]).first.map { try Self.decode($0[0]) }
    }

    /// Inserts or replaces a host's registration. `changesModel`: the registration changed
    /// what some host view holds (a new host, another tunnel address or role), so the model's
    /// revision is bumped; a heartbeat alone is not a change of the model.
    public func saveAgentHost(_ host: String, _ body: Resource, changesModel: Bool) throws {
        let text = try JSONValue.encodeText(.object(body))
        try sql.execute("DELETE FROM agent_hosts WHERE host = ?", [.text(host)])
        try sql.execute("INSERT INTO agent_hosts (host, body) VALUES (?, ?)", [.text(host), .text(text)])
        if changesModel { try bumpRevision() }
    }

    public func deleteAgentHost(_ host: String) throws {
        try sql.execute("DELETE FROM agent_hosts WHERE host = ?", [.text(host)])
        try bumpRevision()
    }

    public func delete(_ kind: ResourceKind, _ id: String) throws {
        try sql.execute("DELETE FROM resources WHERE kind = ? AND id = ?", [.text(kind.rawValue), .text(id)])
        try bumpRevision()
    }

    // MARK: IP addresses

    /// The addresses taken in a subnet.
    public func allocatedAddresses(subnetID: String) throws -> Set<String> {
        Set(try sql.rows("SELECT ip_address FROM ip_allocations WHERE subnet_id = ?", [.text(subnetID)]).compactMap { $0[0].text })
    }

    /// The port holding `ip` in the subnet, if any.
    public func addressHolder(subnetID: String, ip: String) throws -> String? {
        try sql.rows("SELECT port_id FROM ip_allocations WHERE subnet_id = ? AND ip_address = ?",
                     [.text(subnetID), .text(ip)]).first?[0].text
    }

    /// The ports holding addresses of the subnet.
    public func addressHolders(subnetID: String) throws -> Set<String> {
        Set(try sql.rows("SELECT port_id FROM ip_allocations WHERE subnet_id = ?", [.text(subnetID)]).compactMap { $0[0].text })
    }

    public func allocate(subnetID: String, ip: String, networkID: String, portID: String) throws {
        try sql.execute("INSERT INTO ip_allocations (subnet_id, ip_address, network_id, port_id) VALUES (?, ?, ?, ?)",
                        [.text(subnetID), .text(ip), .text(networkID), .text(portID)])
    }

    public func releaseAddresses(portID: String) throws {
        try sql.execute("DELETE FROM ip_allocations WHERE port_id = ?", [.text(portID)])
    }

    // MARK: MAC addresses

    public func macHolder(networkID: String, mac: String) throws -> String? {
        try sql.rows("SELECT port_id FROM mac_addresses WHERE network_id = ? AND mac_address = ?",
                     [.text(networkID), .text(mac)]).first?[0].text
    }

    public func reserveMAC(networkID: String, mac: String, portID: String) throws {
        try sql.execute("INSERT INTO mac_addresses (network_id, mac_address, port_id) VALUES (?, ?, ?)",
                        [.text(networkID), .text(mac), .text(portID)])
    }

    public func releaseMAC(portID: String) throws {
        try sql.execute("DELETE FROM mac_addresses WHERE port_id = ?", [.text(portID)])
    }

    // MARK: Segments

    /// The network holding a segment, if any.
    public func segmentHolder(type: String, physicalNetwork: String, id: Int) throws -> String? {
        try sql.rows("SELECT network_id FROM segments WHERE network_type = ? AND physical_network = ? AND segmentation_id = ?",
                     [.text(type), .text(physicalNetwork), .int(Int64(id))]).first?[0].text
    }

    /// The segmentation ids taken for a type on a physical network ('' for tunnels).
    public func segmentIDs(type: String, physicalNetwork: String) throws -> Set<Int> {
        Set(try sql.rows("SELECT segmentation_id FROM segments WHERE network_type = ? AND physical_network = ?",
                         [.text(type), .text(physicalNetwork)]).compactMap { $0[0].int.map(Int.init) })
    }

    public func reserveSegment(type: String, physicalNetwork: String, id: Int, networkID: String) throws {
        try sql.execute("INSERT INTO segments (network_type, physical_network, segmentation_id, network_id) VALUES (?, ?, ?, ?)",
                        [.text(type), .text(physicalNetwork), .int(Int64(id)), .text(networkID)])
    }

    public func releaseSegments(networkID: String) throws {
        try sql.execute("DELETE FROM segments WHERE network_id = ?", [.text(networkID)])
    }

    // MARK: Revision

    /// The model's revision: the number of committed write transactions that changed something.
    public func revision() throws -> Int {
        Int(try sql.rows("SELECT revision FROM model_revision WHERE id = 1", []).first?[0].int ?? 0)
    }

    private func bumpRevision() throws {
        guard !changed else { return }
        changed = true
        try sql.execute("UPDATE model_revision SET revision = revision + 1 WHERE id = 1", [])
    }

    // MARK: Helpers

    static func optional(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }

    static func decode(_ value: SQLValue) throws -> Resource {
        guard let text = value.text, let object = try JSONValue.decode(Data(text.utf8)).object else {
            throw StoreError("a stored resource is not a JSON object")
        }
        return object
    }
}

