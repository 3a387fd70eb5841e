import Foundation
import NeutronModel
import Testing

/// Python run by several clients at once: openstacksdk (installed with the client) creates
/// ports on one network and prints each port's address and MAC.
let concurrentPortClient = """
import json, sys, openstack
conn = openstack.connect(auth_type="none", auth={"endpoint": sys.argv[1]})
made = []
for i in range(int(sys.argv[3])):
    port = conn.network.create_port(network_id=sys.argv[2], name="c%s-%d" % (sys.argv[4], i))
    made.append([port.fixed_ips[0]["ip_address"], port.mac_address])
print(json.dumps(made))
"""

/// Starts `clients` processes that each create `perClient` ports on `networkID` at the same
/// time; returns every (address, MAC) they were given.
func createPortsConcurrently(_ endpoints: [String], networkID: String, clients: Int, perClient: Int) throws -> [[String]] {
    let processes = (0..<clients).map { index -> (Process, Pipe, Pipe) in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: OpenStackCLI.python)
        process.arguments = ["-c", concurrentPortClient, endpoints[index % endpoints.count], networkID, String(perClient), String(index)]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        return (process, out, err)
    }
    for (process, _, _) in processes { try process.run() }
    var all: [[String]] = []
    for (process, out, err) in processes {
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let made = try JSONValue.decode(data).array else {
            throw HarnessError("port client failed: \(String(decoding: errors, as: UTF8.self))")
        }
        all += made.map { ($0.array ?? []).compactMap(\.string) }
    }
    return all
}

@Suite("openstack client: persistence and concurrency", .serialized, .enabled(if: OpenStackCLI.available))
struct PersistenceAndConcurrencyTests {
    /// What was committed is there after a clean stop and after SIGKILL, and addresses handed
    /// out before are not handed out again.
    @Test func restartKeepsCommittedData() throws {
        let folder = try TemporaryDirectory()
        let database = folder.path + "/model.db"
        var server = try ServerProcess(database: database, logPath: folder.path + "/server1.log")
        let netID = try #require(try OpenStackCLI.json(server.endpoint, ["network", "create", "kept"])["id"]?.string)
        _ = try OpenStackCLI.json(server.endpoint, ["subnet", "create", "kept-sub", "--network", netID, "--subnet-range", "10.1.0.0/24"])
        let first = try OpenStackCLI.json(server.endpoint, ["port", "create", "p1", "--network", netID])
        #expect(first["fixed_ips"]?[0]?["ip_address"] == .string("10.1.0.3"))
        server.stop()

        server = try ServerProcess(database: database, logPath: folder.path + "/server2.log")
        let shown = try OpenStackCLI.json(server.endpoint, ["port", "show", "p1"])
        #expect(shown["id"] == first["id"])
        #expect(shown["mac_address"] == first["mac_address"])
        #expect(shown["fixed_ips"] == first["fixed_ips"])
        let second = try OpenStackCLI.json(server.endpoint, ["port", "create", "p2", "--network", netID])
        #expect(second["fixed_ips"]?[0]?["ip_address"] == .string("10.1.0.4"))
        server.kill9()

        server = try ServerProcess(database: database, logPath: folder.path + "/server3.log")
        defer { server.stop() }
        let names = try OpenStackCLI.json(server.endpoint, ["port", "list", "--network", netID]).array?.compactMap { $0["Name"]?.string }
        #expect(Set(names ?? []) == ["", "p1", "p2"])
        #expect(try OpenStackCLI.json(server.endpoint, ["network", "show", "kept"])["subnets"]?.array?.count == 1)
    }

    /// Several clients create ports on one subnet at once: every port gets its own address and MAC.
    @Test func concurrentPortCreatesGiveNoAddressTwice() throws {
        try withSQLiteServer { server in
            let netID = try #require(try OpenStackCLI.json(server.endpoint, ["network", "create", "busy"])["id"]?.string)
            _ = try OpenStackCLI.json(server.endpoint, ["subnet", "create", "busy-sub", "--network", netID, "--subnet-range", "10.2.0.0/24"])
            let made = try createPortsConcurrently([server.endpoint], networkID: netID, clients: 4, perClient: 10)
            try expectDistinctPorts(made, count: 40, endpoint: server.endpoint, networkID: netID)
        }
    }

    /// The API benchmark's workload at CI size (scripts/bench-api.py: 200 ports on one subnet
    /// from 8 clients over HTTP, each bound to a registered host, then lists and host views):
    /// every port has an address and a MAC of its own, in the answers and in the server's list,
    /// and each host's view holds exactly the ports bound to it.
    @Test func benchmarkWorkloadGivesNoAddressOrMACTwice() throws {
        try withSQLiteServer { server in
            let folder = try TemporaryDirectory()
            let result = try OpenStackCLI.runProgram("/usr/bin/python3", [
                packageRoot.appendingPathComponent("scripts/bench-api.py").path, "--endpoint", server.endpoint,
                "--ports", "200", "--clients", "8", "--networks", "16", "--lists", "2", "--views", "2",
                "--json", folder.path + "/result.json"])
            #expect(result.status == 0, "bench-api.py: \(result.stderr)")
            let figures = try JSONValue.decode(Data(contentsOf: URL(fileURLWithPath: folder.path + "/result.json")))
            let check = try #require(figures["check"])
            for field in ["ports", "distinct_ips", "distinct_macs", "listed", "listed_distinct_ips", "listed_distinct_macs"] {
                #expect(check[field] == .int(200), "\(field)")
            }
            #expect(figures["calls"]?["port create"]?["calls"] == .int(200))
            #expect(figures["calls"]?["host view"]?["calls"] == .int(16))
        }
    }
}

/// `count` ports were made, with distinct addresses and MACs, and the server lists exactly
/// them (plus the DHCP port) with the same addresses.
func expectDistinctPorts(_ made: [[String]], count: Int, endpoint: String, networkID: String) throws {
    #expect(made.count == count)
    #expect(Set(made.map { $0[0] }).count == count, "an address was given twice")
    #expect(Set(made.map { $0[1] }).count == count, "a MAC was given twice")
    let listed = try OpenStackCLI.json(endpoint, ["port", "list", "--network", networkID, "-c", "MAC Address", "-c", "Fixed IP Addresses"])
    #expect(listed.array?.count == count + 1)
    let listedMACs = Set(listed.array?.compactMap { $0["MAC Address"]?.string } ?? [])
    #expect(Set(made.map { $0[1] }).isSubset(of: listedMACs))
}
