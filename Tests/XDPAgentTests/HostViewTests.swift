import Foundation
import Testing
import XDPAgent

/// The host view document: round trip, and hostile input refused with the field at fault.
@Suite struct HostViewTests {
    @Test func documentRoundTripsAndCompilesTheSame() throws {
        let view = ReferenceCloud.compute1
        let json = view.encodedJSON()
        let decoded = try HostView.decode(json: json)
        #expect(decoded == view)
        #expect(try NodeCompiler(view: decoded).compile().yaml == NodeCompiler(view: view).compile().yaml)
        let text = try #require(String(data: json, encoding: .utf8))
        for key in ["\"format_version\" : 1", "\"segmentation_id\" : 2", "\"remote_hosts\"", "\"tunnel_ip\"", "\"mac_address\"",
                    "\"port_security_enabled\" : true", "\"security_groups\"", "\"remote_group_id\""] {
            #expect(text.contains(key), "\(key) in the encoded view")
        }
    }

    /// The example in docs/agent-protocol.md, as a producer would write it (defaults left out).
    @Test func minimalDocumentTakesNeutronsDefaults() throws {
        let json = """
            {"format_version": 1, "revision": 3,
             "host": {"name": "compute1", "role": "compute",
                      "tunnel": {"ip": "172.16.0.1", "prefix_length": 24, "interface": "eth1"}},
             "networks": [{"id": "net1", "network_type": "gre", "segmentation_id": 2,
                           "subnets": [{"id": "subnet1", "cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.1"}]}],
             "ports": [{"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "network_id": "net1", "mac_address": "fa:16:3e:dd:c1:62",
                        "fixed_ips": [{"subnet_id": "subnet1", "ip_address": "10.1.0.2"}],
                        "security_groups": ["sg1"]}],
             "security_groups": [{"id": "sg1", "rules": [{"direction": "egress"},
                                                          {"direction": "ingress", "protocol": 6, "port_range_min": 22, "port_range_max": 22}]}]}
            """
        let view = try HostView.decode(json: Data(json.utf8))
        #expect(view.ports[0].portSecurityEnabled && view.ports[0].tapName == "tapa1b2c3d4-e5")
        #expect(view.ports[0].deviceOwner == "" && view.networks[0].subnets[0].enableDHCP)
        #expect(view.securityGroups[0].rules[1].protocol == "6")
        #expect(view.routers.isEmpty && view.dhcp.isEmpty && view.networks[0].remoteHosts.isEmpty)
        _ = try NodeCompiler(view: view).compile()
    }

    /// Each hostile document and the path its refusal names.
    static let hostile: [(String, String, String)] = [
        ("{\"format_version\": 1, ", "", "not valid JSON"),
        ("[1, 2, 3]", "", "expected an object"),
        ("{\"revision\": 1}", "format_version", "missing"),
        ("{\"format_version\": 2, \"revision\": 1}", "format_version", "unknown format version 2"),
        ("{\"format_version\": \"1\"}", "format_version", "expected a whole number"),
        ("{\"format_version\": 1, \"revision\": 1}", "host", "missing"),
        ("{\"format_version\": 1, \"revision\": -1, \"host\": {\"name\": \"h\", \"role\": \"compute\"}}", "revision", "expected a whole number"),
        ("{\"format_version\": 1, \"revision\": 1, \"host\": {\"name\": \"h\", \"role\": \"router\"}}", "host.role", "router"),
        ("{\"format_version\": 1, \"revision\": 1, \"host\": {\"name\": \"a b\", \"role\": \"compute\"}}", "host.name", "expected a host name"),
    ]

    @Test(arguments: hostile) func malformedDocumentsAreRefused(_ item: (String, String, String)) {
        let (json, path, message) = item
        #expect {
            _ = try HostView.decode(json: Data(json.utf8))
        } throws: { error in
            guard let error = error as? AgentError else { return false }
            return error.path == path && error.message.contains(message)
        }
    }

    /// A valid view with one thing broken, the path and words of its refusal.
    static func broken(_ change: (inout HostView) -> Void) -> HostView {
        var view = ReferenceCloud.compute1
        change(&view)
        return view
    }

    static func brokenNetworkNode(_ change: (inout HostView) -> Void) -> HostView {
        var view = ReferenceCloud.networkNode
        change(&view)
        return view
    }

    static let invalid: [(String, HostView, String, String)] = [
        ("duplicate network", broken { $0.networks.append($0.networks[0]) }, "networks[1].id", "duplicate network id"),
        ("duplicate port", broken { $0.ports.append($0.ports[0]) }, "ports[1].id", "duplicate port id"),
        ("duplicate group", broken { $0.securityGroups.append($0.securityGroups[0]) }, "security_groups[1].id", "duplicate security group id"),
        ("duplicate subnet", broken { $0.networks.append(HostView.Network(id: "other", networkType: .gre, segmentationID: 9, subnets: [ReferenceCloud.subnet])) },
         "networks[1].subnets[0].id", "duplicate subnet id"),
        ("port on an unknown network", broken { $0.ports[0].networkID = "nowhere" }, "ports[0].network_id", "network nowhere is not in the view's networks"),
        ("fixed IP on another network's subnet", broken { $0.ports[0].fixedIPs[0].subnetID = "nope" }, "ports[0].fixed_ips[0].subnet_id", "not a subnet"),
        ("fixed IP outside its subnet", broken { $0.ports[0].fixedIPs[0].ipAddress = "10.2.0.2" }, "ports[0].fixed_ips[0].ip_address", "not a host address"),
        ("unknown group", broken { $0.ports[0].securityGroups = ["ghost"] }, "ports[0].security_groups[0]", "ghost"),
        ("unknown remote group", broken { $0.securityGroups[0].rules[2].remoteGroupID = "ghost" },
         "security_groups[0].rules[2].remote_group_id", "ghost"),
        ("bad rule", broken { $0.securityGroups[0].rules[4].portRangeMin = 80 }, "security_groups[0].rules[4]", "port_range_min 80 is above port_range_max 22"),
        ("multicast MAC", broken { $0.ports[0].macAddress = "01:00:5e:00:00:01" }, "ports[0].mac_address", "unicast MAC"),
        ("gre key 0", broken { $0.networks[0].segmentationID = 0 }, "networks[0].segmentation_id", "1-4294967295"),
        ("gre key > 32 bits", broken { $0.networks[0].segmentationID = 1 << 32 }, "networks[0].segmentation_id", "1-4294967295"),
        ("gre without key", broken { $0.networks[0].segmentationID = nil }, "networks[0].segmentation_id", "found none"),
        ("vlan 4095", broken {
            $0.networks[0].networkType = .vlan; $0.networks[0].physicalNetwork = "physnet1"; $0.networks[0].segmentationID = 4095
            $0.networks[0].remoteHosts = []
        }, "networks[0].segmentation_id", "1-4094"),
        ("vxlan VNI 2^24", broken { $0.networks[0].networkType = .vxlan; $0.networks[0].segmentationID = 1 << 24 },
         "networks[0].segmentation_id", "1-16777215"),
        ("flat with a segment", broken {
            $0.networks[0].networkType = .flat; $0.networks[0].physicalNetwork = "physnet1"; $0.networks[0].remoteHosts = []
        }, "networks[0].segmentation_id", "no segmentation id"),
        ("vlan on an unmapped physnet", broken {
            $0.networks[0].networkType = .vlan; $0.networks[0].physicalNetwork = "physnet9"; $0.networks[0].segmentationID = 10
            $0.networks[0].remoteHosts = []
        }, "networks[0].physical_network", "does not map"),
        ("vxlan without a tunnel endpoint", broken { $0.networks[0].networkType = .vxlan; $0.host.tunnel = nil },
         "networks[0].network_type", "is a vxlan network but the host has no tunnel endpoint"),
        ("gre without a tunnel endpoint", broken { $0.host.tunnel = nil }, "networks[0].network_type", "no tunnel endpoint"),
        ("remote host with our address", broken { $0.networks[0].remoteHosts[0].tunnelIP = "172.16.0.1" },
         "networks[0].remote_hosts[0].tunnel_ip", "own tunnel address"),
        ("interface name too long", broken { $0.ports[0].interfaceName = "tap-much-too-long" }, "ports[0].interface_name", "1-15 bytes"),
        ("two ports one tap", broken {
            var twin = $0.ports[0]
            twin.id = "a1b2c3d4-e5f6-ffff-ffff-ffffffffffff"
            twin.macAddress = "fa:16:3e:dd:c1:63"
            $0.ports.append(twin)
        }, "ports[1].id", "tapa1b2c3d4-e5"),
        ("router on a compute node", broken { $0.routers = ReferenceCloud.networkNode.routers }, "routers", "compute node"),
        ("same segment twice", broken {
            $0.networks.append(HostView.Network(id: "net2", networkType: .gre, segmentationID: 2,
                                                subnets: [HostView.Subnet(id: "s2", cidr: "10.2.0.0/24")]))
            $0.ports.append(HostView.Port(id: "p2", networkID: "net2", macAddress: "fa:16:3e:00:00:77"))
        }, "networks[1].segmentation_id", "share one segment"),
        ("lease outside the subnets", brokenNetworkNode { $0.dhcp[0].hosts[1].ipAddress = "10.9.0.4" }, "dhcp[0].hosts[1].ip_address", "not a host address"),
        ("lease of the server's address", brokenNetworkNode { $0.dhcp[0].hosts[1].ipAddress = "10.1.0.3" }, "dhcp[0].hosts[1].ip_address", "other than its own"),
        ("MAC leased twice", brokenNetworkNode { $0.dhcp[0].hosts[1].macAddress = ReferenceCloud.vm1MAC }, "dhcp[0].hosts[1].mac_address", "has a lease already"),
        ("router interface outside its subnet", brokenNetworkNode { $0.routers[0].interfaces[0].ipAddress = "10.2.0.1" },
         "routers[0].interfaces[0].ip_address", "not a host address"),
        ("gateway on an internal network", brokenNetworkNode { $0.routers[0].gateway?.port.networkID = ReferenceCloud.net1 },
         "routers[0].gateway.port.network_id", "external network"),
        ("id with a quote", broken { $0.ports[0].id = "x\"y" }, "ports[0].id", "expected an id"),
    ]

    @Test(arguments: invalid) func invalidViewsAreRefusedWithTheirField(_ item: (String, HostView, String, String)) throws {
        let (what, view, path, message) = item
        func matches(_ error: any Error) -> Bool {
            guard let error = error as? AgentError else { return false }
            return error.path == path && error.message.contains(message)
        }
        // Through the document (decoding validates, compiling checks the rest) and through
        // the compiler alone: the same refusal, nothing produced.
        #expect(Comment(rawValue: what)) {
            _ = try NodeCompiler(view: try HostView.decode(json: view.encodedJSON())).compile()
        } throws: { matches($0) }
        #expect(Comment(rawValue: what)) { _ = try NodeCompiler(view: view).compile() } throws: { matches($0) }
    }

    @Test func hugeDocumentsAreRefusedUnread() {
        let huge = Data(count: HostView.maximumDocumentSize + 1)
        #expect(throws: AgentError.self) { try HostView.decode(json: huge) }
    }
}
