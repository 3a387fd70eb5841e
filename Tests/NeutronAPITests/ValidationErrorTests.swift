import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NeutronModel
import Testing

/// Each refusal of the issue as the `openstack` client prints it (Neutron's status and message),
/// and that a refused request changed nothing.
@Suite("openstack client: validation errors", .serialized, .enabled(if: OpenStackCLI.available))
struct ValidationErrorTests {
    @Test func refusalsAsTheClientPrintsThem() throws {
        try withSQLiteServer { server in try refusals(server.endpoint) }
    }

    func refusals(_ endpoint: String) throws {
        let url = endpoint + "/v2.0"
        func fails(_ arguments: [String]) throws -> String { try OpenStackCLI.failure(endpoint, arguments) }

        let netID = try #require(try OpenStackCLI.json(endpoint, ["network", "create", "net1"])["id"]?.string)
        let subnetID = try #require(try OpenStackCLI.json(endpoint, ["subnet", "create", "sub1", "--network", netID,
                                                                     "--subnet-range", "10.0.0.0/24"])["id"]?.string)

        // Overlapping subnet on the same network.
        #expect(try fails(["subnet", "create", "sub2", "--network", netID, "--subnet-range", "10.0.0.128/25"])
                == "BadRequestException: 400: Client Error for url: \(url)/subnets, Invalid input for operation: Requested subnet with cidr: 10.0.0.128/25 for network: \(netID) overlaps with another subnet.")

        // Fixed IP outside the subnet; in use; MAC in use.
        #expect(try fails(["port", "create", "p1", "--network", netID, "--fixed-ip", "subnet=\(subnetID),ip-address=10.0.1.5"])
                == "BadRequestException: 400: Client Error for url: \(url)/ports, IP address 10.0.1.5 is not a valid IP for the specified subnet.")
        let port = try OpenStackCLI.json(endpoint, ["port", "create", "p2", "--network", netID,
                                                    "--fixed-ip", "subnet=\(subnetID),ip-address=10.0.0.50"])
        let mac = try #require(port["mac_address"]?.string)
        #expect(try fails(["port", "create", "p3", "--network", netID, "--fixed-ip", "subnet=\(subnetID),ip-address=10.0.0.50"])
                == "ConflictException: 409: Client Error for url: \(url)/ports, IP address 10.0.0.50 already allocated in subnet \(subnetID)")
        #expect(try fails(["port", "create", "p4", "--network", netID, "--mac-address", mac])
                == "ConflictException: 409: Client Error for url: \(url)/ports, Unable to complete operation for network \(netID). The mac address \(mac) is in use.")

        // Segmentation id in use, out of range.
        #expect(try OpenStackCLI.run(endpoint, ["network", "create", "v150", "--provider-network-type", "vlan",
                                                "--provider-physical-network", "physnet1", "--provider-segment", "150"]).status == 0)
        #expect(try fails(["network", "create", "v150b", "--provider-network-type", "vlan",
                           "--provider-physical-network", "physnet1", "--provider-segment", "150"])
                == "ConflictException: 409: Client Error for url: \(url)/networks, Unable to create the network. The VLAN 150 on physical network physnet1 is in use.")
        #expect(try fails(["network", "create", "v5000", "--provider-network-type", "vlan",
                           "--provider-physical-network", "physnet1", "--provider-segment", "5000"])
                == "BadRequestException: 400: Client Error for url: \(url)/networks, Invalid input for operation: segmentation_id out of range (1 through 4094).")

        // Delete a network with ports, a subnet with allocations.
        let portID = try #require(port["id"]?.string)
        #expect(try fails(["network", "delete", netID]).contains("ConflictException: 409: Client Error for url: \(url)/networks/\(netID), Unable to complete operation on network \(netID). There are one or more ports still in use on the network, id for these ports is: \(portID)."))
        #expect(try fails(["subnet", "delete", subnetID]).contains("ConflictException: 409: Client Error for url: \(url)/subnets/\(subnetID), Unable to complete operation on subnet \(subnetID): One or more ports have an IP allocation from this subnet."))

        // An interface on a subnet the router already has.
        let routerID = try #require(try OpenStackCLI.json(endpoint, ["router", "create", "r1"])["id"]?.string)
        #expect(try OpenStackCLI.run(endpoint, ["router", "add", "subnet", routerID, subnetID]).status == 0)
        #expect(try fails(["router", "add", "subnet", routerID, subnetID])
                == "BadRequestException: 400: Client Error for url: \(url)/routers/\(routerID)/add_router_interface, Bad router request: Router already has a port on subnet \(subnetID).")

        // A floating IP for a port whose subnet has no router to the external network.
        let extID = try #require(try OpenStackCLI.json(endpoint, ["network", "create", "ext", "--external", "--provider-network-type", "flat",
                                                                  "--provider-physical-network", "extnet"])["id"]?.string)
        _ = try OpenStackCLI.json(endpoint, ["subnet", "create", "ext-sub", "--network", extID, "--no-dhcp", "--subnet-range", "203.0.113.0/24"])
        let isolatedNet = try #require(try OpenStackCLI.json(endpoint, ["network", "create", "isolated"])["id"]?.string)
        let isolatedSubnet = try #require(try OpenStackCLI.json(endpoint, ["subnet", "create", "isolated-sub", "--network", isolatedNet,
                                                                           "--subnet-range", "10.9.0.0/24"])["id"]?.string)
        let isolatedPort = try #require(try OpenStackCLI.json(endpoint, ["port", "create", "lonely", "--network", isolatedNet])["id"]?.string)
        let before = try OpenStackCLI.json(endpoint, ["floating", "ip", "list"])
        #expect(try fails(["floating", "ip", "create", extID, "--port", isolatedPort])
                == "NotFoundException: 404: Client Error for url: \(url)/floatingips, External network \(extID) is not reachable from subnet \(isolatedSubnet).  Therefore, cannot associate Port \(isolatedPort) with a Floating IP.")
        // The refused create left nothing behind: no floating IP, no port holding an external address.
        #expect(try OpenStackCLI.json(endpoint, ["floating", "ip", "list"]) == before)
        #expect(try OpenStackCLI.json(endpoint, ["port", "list", "--network", extID]) == .array([]))
    }

    /// Neutron's subnet limits (`max_dns_nameservers` 5, `max_subnet_host_routes` 20) and its
    /// refusal of a route destination with host bits: what the agents' view needs (fuzz-api
    /// found views the agent refused when the API took more).
    @Test func subnetLimitsAreNeutrons() async throws {
        let folder = try TemporaryDirectory()
        let server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log")
        defer { server.stop() }
        func post(_ path: String, _ body: JSONValue) async throws -> (Int, JSONValue?) {
            var request = URLRequest(url: URL(string: server.endpoint + path)!)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(try JSONValue.encodeText(body).utf8)
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONValue.decode(data))
        }
        let (created, network) = try await post("/v2.0/networks", .object(["network": .object(["name": .string("net1")])]))
        #expect(created == 201)
        let networkID = try #require(network?["network"]?["id"])
        func subnet(nameservers: Int, routes: [String]) -> JSONValue {
            .object(["subnet": .object([
                "network_id": networkID, "cidr": .string("10.0.0.0/24"), "ip_version": .int(4),
                "dns_nameservers": .array((0..<nameservers).map { .string("192.0.2.\($0 + 1)") }),
                "host_routes": .array(routes.map { .object(["destination": .string($0), "nexthop": .string("10.0.0.9")]) }),
            ])])
        }
        let twentyOne = (1...21).map { "10.\($0).0.0/16" }
        let cases: [(JSONValue, String, String)] = [
            (subnet(nameservers: 6, routes: []), "DNSNameServersExhausted", "The number of DNS nameservers exceeds the limit 5."),
            (subnet(nameservers: 0, routes: twentyOne), "HostRoutesExhausted", "The number of host routes exceeds the limit 20."),
            (subnet(nameservers: 0, routes: ["10.10.0.1/16"]), "HTTPBadRequest",
             "Invalid input for host_routes. Reason: '10.10.0.1/16' isn't a recognized IP subnet cidr, '10.10.0.0/16' is recommended."),
        ]
        for (body, type, message) in cases {
            let (status, answer) = try await post("/v2.0/subnets", body)
            #expect(status == 400, "\(type)")
            #expect(answer?["NeutronError"]?["type"] == .string(type))
            #expect(answer?["NeutronError"]?["message"] == .string(message))
        }
        // At the limits it is taken.
        let (status, _) = try await post("/v2.0/subnets", subnet(nameservers: 5, routes: Array(twentyOne.prefix(20))))
        #expect(status == 201)
    }

    /// Bodies the client would never send, straight over HTTP: 400 or 413 with Neutron's error
    /// body, and the server still answers afterwards.
    @Test func malformedBodiesAreRefused() async throws {
        let folder = try TemporaryDirectory()
        let server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log")
        defer { server.stop() }
        func post(_ body: Data) async throws -> (Int, JSONValue?) {
            var request = URLRequest(url: URL(string: server.endpoint + "/v2.0/networks")!)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONValue.decode(data))
        }
        let cases: [(String, Int, String, String)] = [
            (#"{"network": {"name": "x","#, 400, "MalformedRequestBody", "Malformed request body: Cannot understand JSON."),
            (#"{"network": {"name": "x", "bogus": 1}}"#, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'bogus'"),
            (#"{"network": {"name": 5}}"#, 400, "HTTPBadRequest", "Invalid input for name. Reason: '5' is not a valid string."),
            (#"{"network": {"admin_state_up": "maybe"}}"#, 400, "InvalidInput", "Invalid input for operation: 'maybe' cannot be converted to boolean."),
            (#"{"network": {"mtu": "abc"}}"#, 400, "InvalidInput", "Invalid input for operation: 'abc' is not an integer."),
            (#"{"network": {"status": "DOWN"}}"#, 400, "HTTPBadRequest", "Attribute 'status' not allowed in POST"),
            (#"{"netw": {}}"#, 400, "HTTPBadRequest", "Unable to find 'network' in request body"),
            (#"[1, 2]"#, 400, "HTTPBadRequest", "Resource body required"),
        ]
        for (body, status, type, message) in cases {
            let (code, answer) = try await post(Data(body.utf8))
            #expect(code == status, "\(body)")
            #expect(answer?["NeutronError"]?["type"] == .string(type), "\(body)")
            #expect(answer?["NeutronError"]?["message"] == .string(message), "\(body)")
        }
        let huge = Data(("{\"network\": {\"name\": \"" + String(repeating: "x", count: 200_000) + "\"}}").utf8)
        let (code, answer) = try await post(huge)
        #expect(code == 413)
        #expect(answer?["NeutronError"]?["type"] == .string("RequestEntityTooLarge"))
        // Nothing was created by any of them, and the server still serves.
        let (listData, _) = try await URLSession.shared.data(from: URL(string: server.endpoint + "/v2.0/networks")!)
        #expect(try JSONValue.decode(listData) == .object(["networks": .array([])]))
        // An unknown path: 404 with a NeutronError body.
        let (missingData, missing) = try await URLSession.shared.data(from: URL(string: server.endpoint + "/v2.0/nothing")!)
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
        #expect(try JSONValue.decode(missingData)["NeutronError"]?["type"] == .string("HTTPNotFound"))

        // The server's log (swift-log, standard output): its start, then one line per request
        // with its status, refusals included.
        var log = server.log
        for _ in 0..<100 where !log.contains("GET /v2.0/nothing 404") {
            try await Task.sleep(for: .milliseconds(50))
            log = server.log
        }
        let lines = log.split(separator: "\n")
        #expect(lines.first?.contains("notice xdpswitch.server: Networking API v2.0 on \(server.endpoint)") == true, "\(log)")
        #expect(lines.filter { $0.contains("info xdpswitch.server: POST /v2.0/networks 400 ") }.count == cases.count, "\(log)")
        #expect(lines.filter { $0.contains("info xdpswitch.server: POST /v2.0/networks 413 ") }.count == 1, "\(log)")
        #expect(lines.filter { $0.contains("info xdpswitch.server: GET /v2.0/networks 200 ") }.count == 1, "\(log)")
        #expect(lines.filter { $0.contains("info xdpswitch.server: GET /v2.0/nothing 404 ") }.count == 1, "\(log)")
        #expect(lines.allSatisfy { $0.contains(" ms=") || $0.contains("notice") }, "\(log)")
    }
}
