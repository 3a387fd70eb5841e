import Foundation

/// The Networking API's model: Neutron's resources, their defaults, IPAM and rules, over a
/// ``ModelStore``. Each public call is one store transaction: it returns the response body, or
/// throws a ``NeutronError`` and leaves the model as it was.
///
/// The per-resource rules live in `NetworkingService+Kind.swift` files and run synchronously
/// inside the transaction on a ``ModelTransaction``; this file holds the dispatch, the standard
/// attributes, list filters and `fields`.
public final class NetworkingService: Sendable {
    public let store: any ModelStore
    public let settings: ML2Settings
    /// The project of requests that name none (no-auth mode has no token to take it from).
    public let defaultProjectID: String
    /// Seconds without a heartbeat after which an agent is not `alive` (Neutron's `agent_down_time`).
    public let agentDownTime: Double
    /// Wakes the agents' long polls when this process commits.
    public let changes = ModelChangeSignal()

    public init(store: any ModelStore, settings: ML2Settings = ML2Settings(),
                defaultProjectID: String = NetworkingService.noAuthProjectID, agentDownTime: Double = 75) {
        self.store = store
        self.settings = settings
        self.defaultProjectID = defaultProjectID
        self.agentDownTime = agentDownTime
    }

    /// One write transaction; the long polls are woken once it has committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) throws -> T) async throws -> T {
        let result = try await store.write(body)
        changes.notify()
        return result
    }

    /// The project of requests without `X-Project-Id` or a `project_id` in the body.
    public static let noAuthProjectID = "00000000000000000000000000000000"

    // MARK: Requests

    /// POST /v2.0/COLLECTION: `{"network": {…}}` → `{"network": {…}}` (or a bulk list).
    public func create(_ kind: ResourceKind, body: JSONValue, project: String?) async throws -> JSONValue {
        let (requests, bulk) = try RequestValidation.createBodies(kind, body)
        let project = project ?? defaultProjectID
        return try await write { sql in
            let tx = ModelTransaction(sql)
            let created = try requests.map { request in
                try self.render(kind, try self.create(kind, request, project: request.projectID ?? project, tx), tx)
            }
            if kind.mayCreateNetworkServicePorts { try self.scheduleNetworkServices(tx, now: Date().timeIntervalSince1970) }
            return bulk ? .object([kind.plural: .array(created.map(JSONValue.object))])
                        : .object([kind.singular: .object(created[0])])
        }
    }

    /// PUT /v2.0/COLLECTION/ID.
    public func update(_ kind: ResourceKind, id: String, body: JSONValue) async throws -> JSONValue {
        let changes = try RequestValidation.updateBody(kind, body)
        return try await write { sql in
            let tx = ModelTransaction(sql)
            let current = try self.existing(kind, id, tx)
            var updated = try self.update(kind, current, changes, tx)
            updated["updated_at"] = .string(Timestamp.now())
            updated["revision_number"] = .int((current["revision_number"]?.int ?? 0) + 1)
            try tx.update(kind, updated)
            if kind.mayCreateNetworkServicePorts { try self.scheduleNetworkServices(tx, now: Date().timeIntervalSince1970) }
            return .object([kind.singular: .object(try self.render(kind, updated, tx))])
        }
    }

    /// DELETE /v2.0/COLLECTION/ID.
    public func delete(_ kind: ResourceKind, id: String) async throws {
        try await write { sql in
            let tx = ModelTransaction(sql)
            try self.delete(kind, try self.existing(kind, id, tx), tx)
        }
    }

    /// GET /v2.0/COLLECTION/ID.
    public func show(_ kind: ResourceKind, id: String, query: [(String, String)] = []) async throws -> JSONValue {
        let fields = query.filter { $0.0 == "fields" }.map(\.1)
        return try await store.read { sql in
            let tx = ModelTransaction(sql)
            let resource = try self.render(kind, try self.existing(kind, id, tx), tx)
            return .object([kind.singular: .object(Self.selecting(fields, resource))])
        }
    }

    /// GET /v2.0/COLLECTION?FIELD=VALUE&fields=…: every resource matching all filters (a field
    /// given twice matches either value).
    public func list(_ kind: ResourceKind, query: [(String, String)], project: String?) async throws -> JSONValue {
        if kind == .securityGroup { try await ensureDefaultSecurityGroup(project: project ?? defaultProjectID) }
        let fields = query.filter { $0.0 == "fields" }.map(\.1)
        let filters = try ListFilter.parse(kind, query)
        return try await store.read { sql in
            let tx = ModelTransaction(sql)
            let networkID = filters.count(where: { $0.name == "network_id" }) == 1 && kind.hasNetworkColumn
                ? filters.first(where: { $0.name == "network_id" })?.values.first : nil
            let deviceID = filters.count(where: { $0.name == "device_id" }) == 1 && kind == .port
                ? filters.first(where: { $0.name == "device_id" })?.values.first : nil
            let candidates = try tx.resources(kind, networkID: networkID, deviceID: deviceID)
            let matching = try candidates.map { try self.render(kind, $0, tx) }.filter { resource in
                filters.allSatisfy { $0.matches(resource) }
            }
            return .object([kind.plural: .array(matching.map { .object(Self.selecting(fields, $0)) })])
        }
    }

    /// PUT /v2.0/COLLECTION/ID/tags (replace all), PUT …/tags/TAG (add one), DELETE …/tags[/TAG].
    public func setTags(_ kind: ResourceKind, id: String, change: TagChange) async throws -> JSONValue {
        try await write { sql in
            let tx = ModelTransaction(sql)
            var resource = try self.existing(kind, id, tx)
            var tags = resource["tags"]?.array?.compactMap(\.string) ?? []
            switch change {
            case .replace(let all): tags = all
            case .add(let tag): if !tags.contains(tag) { tags.append(tag) }
            case .remove(let tag):
                guard tags.contains(tag) else {
                    throw NeutronError.notFound("TagNotFound", "Tag \(tag) could not be found for \(kind.singular) \(id).")
                }
                tags.removeAll { $0 == tag }
            case .removeAll: tags = []
            }
            resource["tags"] = .array(tags.map(JSONValue.string))
            resource["revision_number"] = .int((resource["revision_number"]?.int ?? 0) + 1)
            resource["updated_at"] = .string(Timestamp.now())
            try tx.update(kind, resource)
            return .object(["tags": .array(tags.map(JSONValue.string))])
        }
    }

    /// The model's revision (bumped by every committed change).
    public func revision() async throws -> Int {
        try await store.read { sql in try ModelTransaction(sql).revision() }
    }

    // MARK: Dispatch inside a transaction

    func create(_ kind: ResourceKind, _ request: Resource, project: String, _ tx: ModelTransaction) throws -> Resource {
        var resource = request
        resource["id"] = .string(Self.newID())
        resource["project_id"] = .string(project)
        resource["tenant_id"] = .string(project)
        let now = Timestamp.now()
        resource["created_at"] = .string(now)
        resource["updated_at"] = .string(now)
        resource["revision_number"] = .int(1)
        switch kind {
        case .network: return try createNetwork(resource, tx)
        case .subnet: return try createSubnet(resource, tx)
        case .port: return try createPort(resource, tx)
        case .router: return try createRouter(resource, tx)
        case .floatingip: return try createFloatingIP(resource, tx)
        case .securityGroup: return try createSecurityGroup(resource, tx)
        case .securityGroupRule: return try createSecurityGroupRule(resource, tx)
        case .agent: throw NeutronError.badRequest("Agents register through the agent feed, not POST /v2.0/agents")
        }
    }

    func update(_ kind: ResourceKind, _ current: Resource, _ changes: Resource, _ tx: ModelTransaction) throws -> Resource {
        switch kind {
        case .network: return try updateNetwork(current, changes, tx)
        case .subnet: return try updateSubnet(current, changes, tx)
        case .port: return try updatePort(current, changes, tx)
        case .router: return try updateRouter(current, changes, tx)
        case .floatingip: return try updateFloatingIP(current, changes, tx)
        case .securityGroup: return current.merging(changes) { $1 }
        case .securityGroupRule: return current.merging(changes) { $1 }
        case .agent: return current.merging(changes) { $1 }
        }
    }

    func delete(_ kind: ResourceKind, _ resource: Resource, _ tx: ModelTransaction) throws {
        switch kind {
        case .network: try deleteNetwork(resource, tx)
        case .subnet: try deleteSubnet(resource, tx)
        case .port: try deletePort(resource, tx, direct: true)
        case .router: try deleteRouter(resource, tx)
        case .floatingip: try deleteFloatingIP(resource, tx)
        case .securityGroup: try deleteSecurityGroup(resource, tx)
        case .securityGroupRule: try tx.delete(.securityGroupRule, resource.id)
        case .agent: try tx.delete(.agent, resource.id)
        }
    }

    /// The resource's fields as the API shows them: stored fields plus those derived from
    /// other resources (a network's `subnets`, a group's `security_group_rules`).
    func render(_ kind: ResourceKind, _ resource: Resource, _ tx: ModelTransaction) throws -> Resource {
        var shown = resource
        switch kind {
        case .network:
            shown["subnets"] = .array(try tx.resources(.subnet, networkID: resource.id).map { .string($0.id) })
        case .securityGroup:
            shown["security_group_rules"] = .array(try rules(of: resource.id, tx).map(JSONValue.object))
        default: break
        }
        return shown
    }

    /// The resource, or Neutron's "X could not be found" (404).
    func existing(_ kind: ResourceKind, _ id: String, _ tx: ModelTransaction) throws -> Resource {
        guard let resource = try tx.resource(kind, id) else { throw Self.notFound(kind, id) }
        return resource
    }

    static func notFound(_ kind: ResourceKind, _ id: String) -> NeutronError {
        switch kind {
        case .network: return .notFound("NetworkNotFound", "Network \(id) could not be found.")
        case .subnet: return .notFound("SubnetNotFound", "Subnet \(id) could not be found.")
        case .port: return .notFound("PortNotFound", "Port \(id) could not be found.")
        case .router: return .notFound("RouterNotFound", "Router \(id) could not be found")
        case .floatingip: return .notFound("FloatingIPNotFound", "Floating IP \(id) could not be found")
        case .securityGroup: return .notFound("SecurityGroupNotFound", "Security group \(id) does not exist")
        case .securityGroupRule: return .notFound("SecurityGroupRuleNotFound", "Security group rule \(id) does not exist")
        case .agent: return .notFound("AgentNotFound", "Agent \(id) could not be found.")
        }
    }

    /// A new resource id (a lower-case UUID, as Neutron's).
    static func newID() -> String { UUID().uuidString.lowercased() }

    /// Only the named fields (all when none are named), as `fields=` asks.
    static func selecting(_ fields: [String], _ resource: Resource) -> Resource {
        fields.isEmpty ? resource : resource.filter { fields.contains($0.key) }
    }
}

/// A change to a resource's tags (the `tag` extension's sub-resource).
public enum TagChange: Sendable {
    case replace([String])
    case add(String)
    case remove(String)
    case removeAll
}

extension ResourceKind {
    /// Whether the store keeps a `network_id` column for this kind (used to narrow list queries).
    var hasNetworkColumn: Bool { self == .subnet || self == .port }
    /// Whether creating or updating one can create a router's or DHCP service's port (which
    /// the scheduler then binds to a network node).
    var mayCreateNetworkServicePorts: Bool { self == .subnet || self == .router }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// The `project_id` (or `tenant_id`) a create body names.
    var projectID: String? { text("project_id") ?? text("tenant_id") }
}
