import NeutronModel

/// The API extensions this server implements, as `GET /v2.0/extensions` lists them. Clients
/// change what they send by these aliases, so only what is implemented is listed (notably not
/// `external-gateway-multihoming`, which would switch the client to a call this server lacks).
struct Extensions {
    let alias: String
    let name: String
    let description: String

    var json: JSONValue {
        .object(["alias": .string(alias), "name": .string(name), "description": .string(description),
                 "updated": .string("2013-01-01T00:00:00-00:00"), "links": .array([])])
    }

    static let all: [Extensions] = [
        Extensions(alias: "agent", name: "agent", description: "The agent management extension."),
        Extensions(alias: "allowed-address-pairs", name: "Allowed Address Pairs", description: "Provides allowed address pairs"),
        Extensions(alias: "binding", name: "Port Binding", description: "Expose port bindings of a virtual port to external application"),
        Extensions(alias: "external-net", name: "Neutron external network", description: "Adds external network attribute to network resource."),
        Extensions(alias: "ext-gw-mode", name: "Neutron L3 Configurable external gateway mode", description: "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
        Extensions(alias: "extraroute", name: "Neutron Extra Route", description: "Extra routes configuration for L3 router"),
        Extensions(alias: "net-mtu", name: "Network MTU", description: "Provides MTU attribute for a network resource."),
        Extensions(alias: "net-mtu-writable", name: "Network MTU (writable)", description: "Provides a writable MTU attribute for a network resource."),
        Extensions(alias: "port-security", name: "Port Security", description: "Provides port security"),
        Extensions(alias: "project-id", name: "project_id field enabled", description: "Extension that indicates that project_id field is enabled."),
        Extensions(alias: "provider", name: "Provider Network", description: "Expose mapping of virtual networks to physical networks"),
        Extensions(alias: "router", name: "Neutron L3 Router", description: "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
        Extensions(alias: "security-group", name: "security-group", description: "The security groups extension."),
        Extensions(alias: "standard-attr-description", name: "standard-attr-description", description: "Extension to add descriptions to standard attributes"),
        Extensions(alias: "standard-attr-revisions", name: "Resource revision numbers", description: "This extension will display the revision number of neutron resources."),
        Extensions(alias: "standard-attr-tag", name: "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", description: "Enables to set tag on resources with standard attribute."),
        Extensions(alias: "standard-attr-timestamp", name: "Resource timestamps", description: "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
        Extensions(alias: "stateful-security-group", name: "Stateful security group", description: "Indicates if the security group is stateful or not"),
    ]
}

