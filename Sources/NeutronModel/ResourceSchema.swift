/// The resources of the Networking API v2.0 and their attributes, in the manner of Neutron's
/// attribute maps (`neutron_lib/api/definitions`): for each field, its type, whether a POST or
/// PUT may set it, whether it is required, and its default. The API layer checks every request
/// body against these before the model sees it; the messages are Neutron's.
public enum ResourceKind: String, CaseIterable, Sendable {
    case network, subnet, port, router, floatingip
    case securityGroup = "security_group"
    case securityGroupRule = "security_group_rule"
    case agent

    /// The key of one resource in a body (`network`).
    public var singular: String { rawValue }
    /// The key of a list in a body (`networks`).
    public var plural: String { rawValue + "s" }
    /// The collection's path segment under /v2.0 (`security-groups`).
    public var path: String { plural.replacingOccurrences(of: "_", with: "-") }
    /// The name Neutron's "X could not be found" messages use.
    public var displayName: String {
        switch self {
        case .network: return "Network"
        case .subnet: return "Subnet"
        case .port: return "Port"
        case .router: return "Router"
        case .floatingip: return "Floating IP"
        case .securityGroup: return "Security group"
        case .securityGroupRule: return "Security group rule"
        case .agent: return "Agent"
        }
    }

    /// The attributes of this kind of resource.
    public var attributes: [Attribute] { ResourceSchema.attributes[self] ?? [] }
}

/// What values a field takes.
public enum ValueType: Sendable {
    case string(maxLength: Int)
    case uuid
    case bool
    case int
    case list
    case dict
    case ipAddress
    case cidr
    case macAddress
    case oneOf([String])
}

/// One field of a resource.
public struct Attribute: Sendable {
    public let name: String
    public let type: ValueType
    public let nullable: Bool
    public let post: Bool
    public let put: Bool
    public let required: Bool
    /// Filled in on create when the body lacks the field; nil leaves it to the model.
    public let defaultValue: JSONValue?

    init(_ name: String, _ type: ValueType, nullable: Bool = false, post: Bool = true, put: Bool = true,
         required: Bool = false, default defaultValue: JSONValue? = nil) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.post = post
        self.put = put
        self.required = required
        self.defaultValue = defaultValue
    }

    /// A field only the server sets.
    static func readOnly(_ name: String) -> Attribute { Attribute(name, .string(maxLength: 0), nullable: true, post: false, put: false) }
}

enum ResourceSchema {
    static let name = Attribute("name", .string(maxLength: 255), default: .string(""))
    static let description = Attribute("description", .string(maxLength: 255), default: .string(""))
    static let adminStateUp = Attribute("admin_state_up", .bool, default: .bool(true))
    static let project = [Attribute("project_id", .string(maxLength: 255), post: true, put: false),
                          Attribute("tenant_id", .string(maxLength: 255), post: true, put: false)]
    /// Neutron's standard attributes (`standard-attr-*` extensions) and tags.
    static let standard = [Attribute.readOnly("id"), .readOnly("revision_number"), .readOnly("created_at"),
                           .readOnly("updated_at"), Attribute("tags", .list, post: true, put: true, default: .array([]))]

    static let attributes: [ResourceKind: [Attribute]] = [
        .network: standard + project + [
            name, description, adminStateUp,
            .readOnly("status"), .readOnly("subnets"), .readOnly("availability_zones"), .readOnly("l2_adjacency"),
            .readOnly("ipv4_address_scope"), .readOnly("ipv6_address_scope"),
            Attribute("shared", .bool, default: .bool(false)),
            Attribute("router:external", .bool, default: .bool(false)),
            Attribute("provider:network_type", .string(maxLength: 255), nullable: true, put: false),
            Attribute("provider:physical_network", .string(maxLength: 64), nullable: true, put: false),
            Attribute("provider:segmentation_id", .int, nullable: true, put: false),
            Attribute("mtu", .int, nullable: true),
            Attribute("port_security_enabled", .bool, default: .bool(true)),
            Attribute("availability_zone_hints", .list, put: false, default: .array([])),
            Attribute("qos_policy_id", .uuid, nullable: true, default: .null),
            Attribute("is_default", .bool, default: .bool(false)),
            Attribute("dns_domain", .string(maxLength: 255), default: .string("")),
        ],
        .subnet: standard + project + [
            name, description,
            Attribute("network_id", .uuid, put: false, required: true),
            Attribute("ip_version", .int, put: false, required: true),
            Attribute("cidr", .cidr, nullable: true, put: false),
            Attribute("prefixlen", .int, nullable: true, put: false),
            Attribute("subnetpool_id", .string(maxLength: 255), nullable: true, put: false, default: .null),
            Attribute("use_default_subnetpool", .bool, put: false),
            Attribute("gateway_ip", .ipAddress, nullable: true),
            Attribute("allocation_pools", .list, nullable: true),
            Attribute("dns_nameservers", .list, nullable: true, default: .array([])),
            Attribute("host_routes", .list, nullable: true, default: .array([])),
            Attribute("enable_dhcp", .bool, default: .bool(true)),
            Attribute("ipv6_ra_mode", .oneOf(["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]), nullable: true, put: false, default: .null),
            Attribute("ipv6_address_mode", .oneOf(["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]), nullable: true, put: false, default: .null),
            Attribute("service_types", .list, default: .array([])),
            Attribute("segment_id", .uuid, nullable: true, default: .null),
            Attribute("dns_publish_fixed_ip", .bool, default: .bool(false)),
        ],
        .port: standard + project + [
            name, description, adminStateUp,
            Attribute("network_id", .uuid, put: false, required: true),
            Attribute("mac_address", .macAddress),
            Attribute("fixed_ips", .list),
            Attribute("device_id", .string(maxLength: 255), default: .string("")),
            Attribute("device_owner", .string(maxLength: 255), default: .string("")),
            .readOnly("status"),
            Attribute("security_groups", .list, nullable: true),
            Attribute("allowed_address_pairs", .list, nullable: true, default: .array([])),
            Attribute("port_security_enabled", .bool),
            Attribute("binding:host_id", .string(maxLength: 255), default: .string("")),
            Attribute("binding:vnic_type", .oneOf(["normal", "direct", "macvtap", "baremetal", "direct-physical",
                                                   "virtio-forwarder", "smart-nic", "remote-managed"]), default: .string("normal")),
            Attribute("binding:profile", .dict, nullable: true, default: .object([:])),
            .readOnly("binding:vif_type"), .readOnly("binding:vif_details"),
            Attribute("extra_dhcp_opts", .list, nullable: true, default: .array([])),
            Attribute("dns_name", .string(maxLength: 255), default: .string("")),
            .readOnly("dns_assignment"),
            Attribute("qos_policy_id", .uuid, nullable: true, default: .null),
            Attribute("propagate_uplink_status", .bool, default: .bool(false)),
            .readOnly("ip_allocation"), .readOnly("resource_request"),
        ],
        .router: standard + project + [
            name, description, adminStateUp,
            .readOnly("status"), .readOnly("availability_zones"),
            Attribute("external_gateway_info", .dict, nullable: true, default: .null),
            Attribute("routes", .list, post: false, put: true),
            Attribute("distributed", .bool, default: .bool(false)),
            Attribute("ha", .bool, default: .bool(false)),
            Attribute("flavor_id", .uuid, nullable: true, put: false, default: .null),
            Attribute("availability_zone_hints", .list, put: false, default: .array([])),
        ],
        .floatingip: standard + project + [
            description,
            Attribute("floating_network_id", .uuid, put: false, required: true),
            Attribute("floating_ip_address", .ipAddress, nullable: true, put: false),
            Attribute("subnet_id", .uuid, nullable: true, put: false),
            Attribute("port_id", .uuid, nullable: true, default: .null),
            Attribute("fixed_ip_address", .ipAddress, nullable: true, default: .null),
            .readOnly("router_id"), .readOnly("status"), .readOnly("port_details"), .readOnly("port_forwardings"),
            Attribute("qos_policy_id", .uuid, nullable: true, default: .null),
            Attribute("dns_domain", .string(maxLength: 255), default: .string("")),
            Attribute("dns_name", .string(maxLength: 255), default: .string("")),
        ],
        .securityGroup: standard + project + [
            name, description,
            .readOnly("security_group_rules"), .readOnly("shared"),
            Attribute("stateful", .bool, default: .bool(true)),
        ],
        .securityGroupRule: [Attribute.readOnly("id"), .readOnly("revision_number"), .readOnly("created_at"),
                             .readOnly("updated_at")] + project + [
            Attribute("description", .string(maxLength: 255), put: true, default: .string("")),
            Attribute("security_group_id", .uuid, put: false, required: true),
            Attribute("direction", .oneOf(["ingress", "egress"]), put: false, required: true),
            Attribute("ethertype", .oneOf(["IPv4", "IPv6"]), put: false, default: .string("IPv4")),
            Attribute("protocol", .string(maxLength: 40), nullable: true, put: false, default: .null),
            Attribute("port_range_min", .int, nullable: true, put: false, default: .null),
            Attribute("port_range_max", .int, nullable: true, put: false, default: .null),
            Attribute("remote_ip_prefix", .cidr, nullable: true, put: false, default: .null),
            Attribute("remote_group_id", .uuid, nullable: true, put: false, default: .null),
            Attribute("remote_address_group_id", .uuid, nullable: true, put: false, default: .null),
            .readOnly("normalized_cidr"), .readOnly("belongs_to_default_sg"),
        ],
        .agent: [Attribute.readOnly("id"), .readOnly("agent_type"), .readOnly("binary"), .readOnly("topic"),
                 .readOnly("host"), .readOnly("alive"), .readOnly("availability_zone"), .readOnly("configurations"),
                 .readOnly("created_at"), .readOnly("started_at"), .readOnly("heartbeat_timestamp"),
                 .readOnly("resources_synced"), adminStateUp, description],
    ]
}
