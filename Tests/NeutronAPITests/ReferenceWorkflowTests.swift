import Foundation
import NeutronModel
import Testing

/// The reference design's command sequence, typed as an operator would, through the unmodified
/// `openstack` client against `xdpswitch server` on SQLite: what the client prints is checked.
@Suite("openstack client: reference workflow", .serialized, .enabled(if: OpenStackCLI.available))
struct ReferenceWorkflowTests {
    @Test func referenceWorkflowThroughTheClient() throws {
        try withSQLiteServer { server in try runReferenceWorkflow(server.endpoint) }
    }
}

/// net1/sub1 (tenant, GRE), ext/ext-sub (flat, external), router1 between them with SNAT,
/// SSH allowed in `default`, a VM port and a floating IP on it. Shared by the SQLite and the
/// PostgreSQL tests. Returns the VM port's id.
@discardableResult
func runReferenceWorkflow(_ endpoint: String, suffix: String = "", expectFirstSegment: Bool = true,
                          physicalNetwork: String = "extnet", external: String = "203.0.113", sshRuleExists: Bool = false) throws -> String {
    let net = try OpenStackCLI.json(endpoint, ["network", "create", "net1" + suffix])
    #expect(net["name"] == .string("net1" + suffix))
    #expect(net["provider:network_type"] == .string("gre"))
    if expectFirstSegment { #expect(net["provider:segmentation_id"] == .int(1)) }
    #expect(net["mtu"] == .int(1458))
    #expect(net["status"] == .string("ACTIVE"))
    #expect(net["admin_state_up"] == .bool(true))
    #expect(net["revision_number"] == .int(1))
    let netID = try #require(net["id"]?.string)

    let subnet = try OpenStackCLI.json(endpoint, ["subnet", "create", "sub1" + suffix, "--network", netID,
                                                  "--subnet-range", "10.0.0.0/24"])
    #expect(subnet["gateway_ip"] == .string("10.0.0.1"))
    #expect(subnet["cidr"] == .string("10.0.0.0/24"))
    #expect(subnet["enable_dhcp"] == .bool(true))
    #expect(subnet["allocation_pools"] == .array([.object(["start": .string("10.0.0.2"), "end": .string("10.0.0.254")])]))
    let subnetID = try #require(subnet["id"]?.string)

    // The DHCP port came with the DHCP-enabled subnet, holding the pool's first address.
    let ports = try OpenStackCLI.json(endpoint, ["port", "list", "--network", netID, "--long"])
    #expect(ports.array?.count == 1)
    let dhcp = try #require(ports[0])
    #expect(dhcp["device_owner"] == .string("network:dhcp") || dhcp["Device Owner"] == .string("network:dhcp"))
    #expect("\(dhcp["Fixed IP Addresses"] ?? dhcp["fixed_ips"] ?? .null)".contains("10.0.0.2"))

    let ext = try OpenStackCLI.json(endpoint, ["network", "create", "ext" + suffix, "--external", "--provider-network-type", "flat",
                                               "--provider-physical-network", physicalNetwork])
    #expect(ext["router:external"] == .bool(true))
    #expect(ext["provider:network_type"] == .string("flat"))
    #expect(ext["provider:physical_network"] == .string(physicalNetwork))
    #expect(ext["mtu"] == .int(1500))
    let extID = try #require(ext["id"]?.string)
    let extSubnet = try OpenStackCLI.json(endpoint, ["subnet", "create", "ext-sub" + suffix, "--network", extID, "--no-dhcp",
                                                     "--subnet-range", "\(external).0/24",
                                                     "--allocation-pool", "start=\(external).10,end=\(external).100"])
    #expect(extSubnet["enable_dhcp"] == .bool(false))
    #expect(extSubnet["allocation_pools"] == .array([.object(["start": .string("\(external).10"), "end": .string("\(external).100")])]))

    let router = try OpenStackCLI.json(endpoint, ["router", "create", "router1" + suffix])
    #expect(router["status"] == .string("ACTIVE"))
    #expect(router["external_gateway_info"] == .null)
    let routerID = try #require(router["id"]?.string)
    #expect(try OpenStackCLI.run(endpoint, ["router", "add", "subnet", routerID, subnetID]).status == 0)
    #expect(try OpenStackCLI.run(endpoint, ["router", "set", "--external-gateway", extID, routerID]).status == 0)
    let shown = try OpenStackCLI.json(endpoint, ["router", "show", routerID])
    let gateway = try #require(shown["external_gateway_info"])
    #expect(gateway["network_id"] == .string(extID))
    #expect(gateway["enable_snat"] == .bool(true))
    #expect(gateway["external_fixed_ips"]?[0]?["ip_address"] == .string("\(external).10"))
    // `router show` lists the interfaces from the router's ports: the subnet's gateway address.
    #expect("\(shown["interfaces_info"] ?? .null)".contains("10.0.0.1"))

    let ssh = ["security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "--ingress", "default"]
    if sshRuleExists {
        #expect(try OpenStackCLI.failure(endpoint, ssh).contains("409: Client Error for url: \(endpoint)/v2.0/security-group-rules, Security group rule already exists. Rule id is "))
    } else {
        let rule = try OpenStackCLI.json(endpoint, ssh)
        #expect(rule["protocol"] == .string("tcp"))
        #expect(rule["port_range_min"] == .int(22))
        #expect(rule["port_range_max"] == .int(22))
        #expect(rule["direction"] == .string("ingress"))
        #expect(rule["ether_type"] == .string("IPv4"))
    }
    let groups = try OpenStackCLI.json(endpoint, ["security", "group", "list"])
    let defaultGroup = try #require(groups.array?.first { $0["Name"] == .string("default") })
    let defaultRules = try OpenStackCLI.json(endpoint, ["security", "group", "rule", "list", defaultGroup["ID"]?.string ?? ""])
    // Neutron's default rules (ingress from the group, egress anywhere; IPv4 and IPv6) and SSH.
    #expect(defaultRules.array?.count == 5)

    let port = try OpenStackCLI.json(endpoint, ["port", "create", "vm1" + suffix, "--network", netID])
    #expect(port["fixed_ips"]?[0]?["ip_address"] == .string("10.0.0.3"))
    #expect(port["fixed_ips"]?[0]?["subnet_id"] == .string(subnetID))
    #expect(port["mac_address"]?.string?.hasPrefix("fa:16:3e:") == true)
    #expect(port["security_group_ids"] == .array([defaultGroup["ID"] ?? .null]))
    #expect(port["status"] == .string("DOWN"))
    let portID = try #require(port["id"]?.string)

    let floating = try OpenStackCLI.json(endpoint, ["floating", "ip", "create", extID])
    #expect(floating["floating_ip_address"] == .string("\(external).11"))
    #expect(floating["port_id"] == .null)
    let address = try #require(floating["floating_ip_address"]?.string)
    #expect(try OpenStackCLI.run(endpoint, ["floating", "ip", "set", "--port", portID, address]).status == 0)
    let associated = try OpenStackCLI.json(endpoint, ["floating", "ip", "show", address])
    #expect(associated["port_id"] == .string(portID))
    #expect(associated["fixed_ip_address"] == .string("10.0.0.3"))
    #expect(associated["router_id"] == .string(routerID))
    return portID
}
