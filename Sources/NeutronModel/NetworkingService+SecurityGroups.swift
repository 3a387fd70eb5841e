/// Security groups and their rules. Each project gets a `default` group on first use, with
/// Neutron's default rules (ingress from members of the group, egress anywhere, for IPv4 and
/// IPv6); a new group gets the two egress rules.
extension NetworkingService {
    /// Protocol names Neutron accepts in a rule (besides numbers 0–255).
    static let protocolNames: Set<String> = ["ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "igmp", "ipip", "ipv6-encap",
                                             "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route",
                                             "ospf", "pgm", "rsvp", "sctp", "tcp", "udp", "udplite", "vrrp", "any"]
    static let portProtocols: Set<String> = ["tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136"]

    /// The project's `default` group, created with its rules when missing. Runs in its own
    /// transaction (the security-group list calls it before reading).
    public func ensureDefaultSecurityGroup(project: String) async throws {
        _ = try await write { sql in try self.ensureDefaultSecurityGroup(project: project, ModelTransaction(sql)) }
    }

    @discardableResult
    func ensureDefaultSecurityGroup(project: String, _ tx: ModelTransaction) throws -> String {
        if let group = try tx.resources(.securityGroup).first(where: { $0.text("name") == "default" && $0.text("project_id") == project }) {
            return group.id
        }
        var group = try RequestValidation.checked(.securityGroup, ["name": .string("default"),
                                                                   "description": .string("Default security group")], create: true)
        group = try create(.securityGroup, group, project: project, tx)
        for ethertype in ["IPv4", "IPv6"] {
            try insertRule(["security_group_id": .string(group.id), "direction": .string("ingress"), "ethertype": .string(ethertype),
                            "remote_group_id": .string(group.id)], project: project, tx)
        }
        return group.id
    }

    func createSecurityGroup(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        let project = request.text("project_id") ?? defaultProjectID
        if request.text("name") == "default" {
            if try tx.resources(.securityGroup).contains(where: { $0.text("name") == "default" && $0.text("project_id") == project }) {
                throw NeutronError.conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
            }
        }
        var group = request
        group["shared"] = .bool(false)
        try tx.insert(.securityGroup, group)
        for ethertype in ["IPv4", "IPv6"] {
            try insertRule(["security_group_id": .string(group.id), "direction": .string("egress"), "ethertype": .string(ethertype)],
                           project: project, tx)
        }
        return group
    }

    private func insertRule(_ fields: Resource, project: String, _ tx: ModelTransaction) throws {
        var rule = try RequestValidation.checked(.securityGroupRule, fields, create: true)
        rule["id"] = .string(Self.newID())
        rule["project_id"] = .string(project)
        rule["tenant_id"] = .string(project)
        rule["created_at"] = .string(Timestamp.now())
        rule["updated_at"] = rule["created_at"]
        rule["revision_number"] = .int(0)
        rule["normalized_cidr"] = .null
        rule["belongs_to_default_sg"] = .bool(try tx.resource(.securityGroup, rule.text("security_group_id") ?? "")?.text("name") == "default")
        try tx.insert(.securityGroupRule, rule)
    }

    func deleteSecurityGroup(_ group: Resource, _ tx: ModelTransaction) throws {
        if try tx.resources(.port).contains(where: { ($0["security_groups"]?.array ?? []).contains(.string(group.id)) }) {
            throw NeutronError.conflict("SecurityGroupInUse", "Security Group \(group.id) in use.")
        }
        for rule in try tx.resources(.securityGroupRule)
            where rule.text("security_group_id") == group.id || rule.text("remote_group_id") == group.id {
            try tx.delete(.securityGroupRule, rule.id)
        }
        try tx.delete(.securityGroup, group.id)
    }

    func rules(of groupID: String, _ tx: ModelTransaction) throws -> [Resource] {
        try tx.resources(.securityGroupRule).filter { $0.text("security_group_id") == groupID }
    }

    func createSecurityGroupRule(_ request: Resource, _ tx: ModelTransaction) throws -> Resource {
        var rule = request
        var group = try existing(.securityGroup, request.text("security_group_id") ?? "", tx)
        if request.text("remote_ip_prefix") != nil && request.text("remote_group_id") != nil {
            throw NeutronError.badRequest("Only remote_ip_prefix or remote_group_id may be provided.")
                .typed("SecurityGroupRemoteGroupAndRemoteIpPrefix")
        }
        if let remote = request.text("remote_group_id") { _ = try existing(.securityGroup, remote, tx) }
        var proto = request.text("protocol")?.lowercased()
        if let name = proto {
            if let number = Int(name) {
                guard (0...255).contains(number) else { throw Self.invalidProtocol(name) }
            } else if !Self.protocolNames.contains(name) {
                throw Self.invalidProtocol(name)
            }
            if name == "any" { proto = nil }
        }
        rule["protocol"] = proto.map(JSONValue.string) ?? .null
        let low = request["port_range_min"]?.int, high = request["port_range_max"]?.int
        if low != nil || high != nil {
            guard let proto else {
                throw NeutronError.badRequest("Must also specify protocol if port range is given.").typed("SecurityGroupProtocolRequiredWithPorts")
            }
            if Self.portProtocols.contains(proto) {
                for value in [low, high].compactMap({ $0 }) where !(1...65535).contains(value) {
                    throw NeutronError.badRequest("Invalid value for port \(value).").typed("SecurityGroupInvalidPortValue")
                }
                if let low, let high, low > high {
                    throw NeutronError.badRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max")
                        .typed("SecurityGroupInvalidPortRange")
                }
            } else if ["icmp", "1", "ipv6-icmp", "icmpv6", "58"].contains(proto) {
                for (field, value) in [("type", low), ("code", high)] {
                    if let value, !(0...255).contains(value) {
                        throw NeutronError.badRequest("Invalid value for ICMP \(field) (port_range_\(field == "type" ? "min" : "max")) \(value). It must be 0 to 255.")
                            .typed("SecurityGroupInvalidIcmpValue")
                    }
                }
            }
        }
        if let prefixText = request.text("remote_ip_prefix"), let prefix = IPv4Prefix(prefixText) {
            if request.text("ethertype") == "IPv6" {
                throw NeutronError.badRequest("Conflicting value ethertype IPv6 for CIDR \(prefixText)").typed("SecurityGroupRuleParameterConflict")
            }
            rule["remote_ip_prefix"] = .string(prefix.normalized.description)
            rule["normalized_cidr"] = .string(prefix.normalized.description)
        } else {
            rule["normalized_cidr"] = .null
        }
        let key = Self.ruleKey(rule)
        if let duplicate = try rules(of: group.id, tx).first(where: { Self.ruleKey($0) == key }) {
            throw NeutronError.conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is \(duplicate.id).")
        }
        rule["revision_number"] = .int(0)
        rule["belongs_to_default_sg"] = .bool(group.text("name") == "default")
        rule["tags"] = nil
        try tx.insert(.securityGroupRule, rule)
        group["revision_number"] = .int((group["revision_number"]?.int ?? 0) + 1)
        try tx.update(.securityGroup, group)
        return rule
    }

    static func invalidProtocol(_ name: String) -> NeutronError {
        NeutronError.badRequest("Security group rule protocol \(name) not supported. Only protocol values \(protocolNames.sorted()) and integer representations [0 to 255] are supported.")
            .typed("SecurityGroupRuleInvalidProtocol")
    }

    /// What makes two rules the same rule.
    static func ruleKey(_ rule: Resource) -> [JSONValue] {
        ["security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
         "remote_ip_prefix", "remote_group_id", "remote_address_group_id"].map { rule[$0] ?? .null }
    }
}
