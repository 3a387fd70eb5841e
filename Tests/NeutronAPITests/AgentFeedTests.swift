import Foundation
import NeutronModel
import Testing
import XDPAgent

/// The agent feed (docs/agent-protocol.md, "Transport"): hosts register over HTTP, the cloud
/// is made with the unmodified `openstack` client, and each host's view is read with the
/// agent's own reader and compiled with its `NodeCompiler` — what the server produces is
/// what the agent accepts.
@Suite("agent feed: registration, host views, long poll", .serialized, .enabled(if: OpenStackCLI.available))
struct AgentFeedTests {
    /// The reference cloud on three registered hosts: views, l2population, security group
    /// members, routers and DHCP on the network host only, the agent list, port status.
    @Test func referenceCloudViewsCompileOnEveryHost() async throws {
        let folder = try TemporaryDirectory()
        let server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log")
        defer { server.stop() }
        let feed = AgentFeed(endpoint: server.endpoint)
        let cloud = try await ReferenceCloud.make(server.endpoint, feed)

        let compute1 = try await feed.hostView("compute1")
        let compute2 = try await feed.hostView("compute2")
        let network = try await feed.hostView("network")
        for view in [compute1, compute2, network] {
            let compiled = try NodeCompiler(view: view).compile()
            #expect(compiled.revision == view.revision)
            #expect(!compiled.yaml.isEmpty)
        }
        #expect(compute1.revision == network.revision)

        // compute1: its VM port only, net1 with compute2's and the network host's ports.
        #expect(compute1.host.tunnel?.ip == "172.16.0.1")
        #expect(compute1.ports.map(\.id) == [cloud.vm1])
        #expect(compute1.ports.first?.fixedIPs.first?.ipAddress == "10.0.0.3")
        #expect(compute1.routers.isEmpty && compute1.dhcp.isEmpty)
        #expect(compute1.networks.map(\.id) == [cloud.net1])
        let remote = try #require(compute1.networks.first?.remoteHosts)
        #expect(remote.map(\.host) == ["compute2", "network"])
        #expect(remote.map(\.tunnelIP) == ["172.16.0.3", "172.16.0.2"])
        #expect(remote[0].ports.map(\.macAddress) == [cloud.vm2MAC])
        #expect(remote[0].ports.first?.ipAddresses == ["10.0.0.4"])
        #expect(Set(remote[1].ports.compactMap(\.deviceOwner)) == ["network:dhcp", "network:router_interface"])
        #expect(Set(remote[1].ports.flatMap(\.ipAddresses)) == ["10.0.0.1", "10.0.0.2"])

        // The default group: SSH and Neutron's rules, members on every host.
        let group = try #require(compute1.securityGroups.first)
        #expect(compute1.securityGroups.count == 1 && group.name == "default")
        #expect(Set(group.members) == ["10.0.0.3", "10.0.0.4"])
        #expect(group.rules.contains { $0.protocol == "tcp" && $0.portRangeMin == 22 && $0.portRangeMax == 22 && $0.direction == "ingress" })
        #expect(group.rules.count(where: { $0.remoteGroupID == group.id }) == 2)
        #expect(compute2.ports.map(\.id) == [cloud.vm2])
        #expect(compute2.networks.first?.remoteHosts.map(\.host) == ["compute1", "network"])

        // The network host: router1 (interface, gateway, floating IP) and net1's DHCP.
        #expect(network.host.role == .network)
        let router = try #require(network.routers.first)
        #expect(network.routers.count == 1 && router.id == cloud.router)
        #expect(router.interfaces.map(\.ipAddress) == ["10.0.0.1"])
        #expect(router.gateway?.port.ipAddress == "203.0.113.10")
        #expect(router.gateway?.enableSNAT == true)
        #expect(router.floatingIPs.map { [$0.floatingIPAddress, $0.fixedIPAddress] } == [["203.0.113.11", "10.0.0.3"]])
        let dhcp = try #require(network.dhcp.first)
        #expect(network.dhcp.count == 1 && dhcp.networkID == cloud.net1)
        #expect(dhcp.fixedIPs.map(\.ipAddress) == ["10.0.0.2"])
        let leases = Dictionary(uniqueKeysWithValues: dhcp.hosts.map { ($0.ipAddress, $0) })
        #expect(Set(leases.keys) == ["10.0.0.1", "10.0.0.3", "10.0.0.4"])
        #expect(leases["10.0.0.4"]?.macAddress == cloud.vm2MAC)
        #expect(leases["10.0.0.3"]?.hostname == "host-10-0-0-3")
        #expect(Set(network.networks.map(\.id)) == [cloud.net1, cloud.ext])
        #expect(network.networks.first { $0.id == cloud.net1 }?.remoteHosts.map(\.host) == ["compute1", "compute2"])
        #expect(network.ports.allSatisfy { $0.isNetworkService })

        // What the operator sees: the agents alive, the router and DHCP on the network host,
        // the routers' and DHCP's ports bound there. (The hosts beat first, as their agents
        // would every few seconds: the client's calls above can take longer than the down time.)
        try await ReferenceCloud.beat(feed)
        let table = try OpenStackCLI.run(server.endpoint, ["network", "agent", "list"])
        #expect(table.status == 0)
        let rows = table.stdout.split(separator: "\n").filter { $0.contains("xdpswitch-agent") }
        #expect(rows.count == 5)
        #expect(rows.allSatisfy { $0.contains(":-)") })
        #expect(rows.count(where: { $0.contains("L3 agent") && $0.contains("| network ") }) == 1)
        #expect(rows.count(where: { $0.contains("DHCP agent") && $0.contains("| network ") }) == 1)
        let l3 = try OpenStackCLI.json(server.endpoint, ["network", "agent", "list", "--router", cloud.router])
        #expect(l3.array?.map { [$0["Agent Type"], $0["Host"]] } == [[.string("L3 agent"), .string("network")]])
        let dhcpAgents = try OpenStackCLI.json(server.endpoint, ["network", "agent", "list", "--network", cloud.net1])
        #expect(dhcpAgents.array?.map { [$0["Agent Type"], $0["Host"]] } == [[.string("DHCP agent"), .string("network")]])
        let servicePorts = try OpenStackCLI.json(server.endpoint, ["port", "list", "--network", cloud.net1, "--long", "-c", "ID", "-c", "Device Owner"])
        for port in servicePorts.array ?? [] where port["Device Owner"]?.string?.hasPrefix("network:") == true {
            let shown = try OpenStackCLI.json(server.endpoint, ["port", "show", port["ID"]?.string ?? ""])
            #expect(shown["binding_host_id"] == .string("network"))
        }

        // Port status from the heartbeat: vm1 is bound to compute1, vm2 is not (ignored);
        // the model's revision does not move for a status.
        let before = network.revision
        let beat = try await feed.register(AgentFeed.host("compute1", role: "compute", tunnelIP: "172.16.0.1",
                                                          ports: [cloud.vm1: "ACTIVE", cloud.vm2: "ACTIVE"]))
        #expect(beat.status == 200)
        #expect(beat.body?["agent"]?["alive"] == .bool(true))
        #expect(beat.body?["agent"]?["model_revision"] == .int(Int(before)))
        let vm1 = try OpenStackCLI.json(server.endpoint, ["port", "show", cloud.vm1])
        #expect(vm1["status"] == .string("ACTIVE"))
        #expect(try OpenStackCLI.json(server.endpoint, ["port", "show", cloud.vm2])["status"] == .string("DOWN"))
        try await feed.register(AgentFeed.host("compute1", role: "compute", tunnelIP: "172.16.0.1", ports: [cloud.vm1: "ACTIVE"]))
        #expect(try OpenStackCLI.json(server.endpoint, ["port", "show", cloud.vm1])["revision_number"] == vm1["revision_number"])
        #expect(try await feed.hostView("compute1").revision == before)

        // `network agent delete` of compute2's agent: compute2 is gone from the feed and from
        // the others' l2population.
        let compute2Agent = try #require(try OpenStackCLI.json(server.endpoint, ["network", "agent", "list", "--host", "compute2"])[0]?["ID"]?.string)
        #expect(try OpenStackCLI.run(server.endpoint, ["network", "agent", "delete", compute2Agent]).status == 0)
        #expect(try await feed.view("compute2").status == 404)
        #expect(try await feed.hostView("compute1").networks.first?.remoteHosts.map(\.host) == ["network"])
    }

    /// A request with `after` = the current revision waits: 304 when nothing changes in its
    /// timeout; the next view when a port is created meanwhile.
    @Test func longPollAnswersWithTheNextRevision() async throws {
        try await withSQLiteServerAsync { server in
            let feed = AgentFeed(endpoint: server.endpoint)
            try await feed.register(AgentFeed.host("compute1", role: "compute", tunnelIP: "172.16.0.1"))
            let netID = try #require(try OpenStackCLI.json(server.endpoint, ["network", "create", "net1"])["id"]?.string)
            _ = try OpenStackCLI.json(server.endpoint, ["subnet", "create", "sub1", "--network", netID, "--subnet-range", "10.0.0.0/24"])
            let current = try await feed.hostView("compute1")
            #expect(current.ports.isEmpty)

            let unchanged = try await feed.view("compute1", after: Int(current.revision), timeout: 1)
            #expect(unchanged.status == 304)
            #expect(unchanged.data.isEmpty)
            let older = try await feed.view("compute1", after: Int(current.revision) - 1, timeout: 60)
            #expect(older.status == 200)

            async let waited = feed.view("compute1", after: Int(current.revision), timeout: 120)
            let port = try OpenStackCLI.json(server.endpoint, ["port", "create", "vm1", "--network", netID, "--host", "compute1",
                                                               "--binding-profile", "interface_name=vm1-eth0"])
            let reply = try await waited
            #expect(reply.status == 200)
            let next = try HostView.decode(json: reply.data)
            #expect(next.revision > current.revision)
            #expect(next.ports.map(\.id) == [port["id"]?.string ?? ""])
            #expect(next.ports.first?.interfaceName == "vm1-eth0")
            _ = try NodeCompiler(view: next).compile()

            // Refusals: a host that never registered, a bad `after`, a bad registration.
            let missing = try await feed.request("GET", "/v2.0/xdpswitch/hosts/compute9/view", body: nil)
            #expect(missing.status == 404)
            #expect(missing.body?["NeutronError"]?["type"] == .string("AgentNotFound"))
            #expect(try await feed.view("compute1", after: -1).status == 400)
            var bad = AgentFeed.host("compute2", role: "storage", tunnelIP: "172.16.0.2")
            #expect(try await feed.register(bad).status == 400)
            bad = AgentFeed.host("compute2", role: "compute", tunnelIP: "172.16.0.1")
            #expect(try await feed.register(bad).status == 409)
            bad["tunnel_ip"] = .string("172.16.0.300")
            #expect(try await feed.register(bad).status == 400)
            #expect(try await feed.request("POST", "/v2.0/xdpswitch/agents", body: .array([])).status == 400)
            // One interface for two purposes: a registration whose view the agent could not run
            // (found by fuzz-api).
            bad = AgentFeed.host("compute3", role: "all", tunnelIP: "172.16.0.3")
            bad["bridge_mappings"] = .object(["extnet": .string("eth2")])
            for (field, value) in [("external_interface", "eth2"), ("external_interface", "eth1")] {
                var twice = bad
                twice[field] = .string(value)
                let refused = try await feed.register(twice)
                #expect(refused.status == 400, "\(field)=\(value)")
                #expect(refused.body?["NeutronError"]?["message"]?.string?.contains("is already used by the tunnel") == true)
            }
            bad["bridge_mappings"] = .object(["extnet": .string("eth1")])
            #expect(try await feed.register(bad).status == 400)
        }
    }

    /// The revision is the database's: a restarted server continues it; a repeated heartbeat
    /// does not move it; a change does.
    @Test func revisionSurvivesRestart() async throws {
        let folder = try TemporaryDirectory()
        let database = folder.path + "/model.db"
        var server = try ServerProcess(database: database, logPath: folder.path + "/server1.log")
        var feed = AgentFeed(endpoint: server.endpoint)
        try await feed.register(AgentFeed.host("compute1", role: "compute", tunnelIP: "172.16.0.1"))
        _ = try OpenStackCLI.json(server.endpoint, ["network", "create", "net1"])
        let before = try await feed.hostView("compute1").revision
        server.stop()

        server = try ServerProcess(database: database, logPath: folder.path + "/server2.log")
        defer { server.stop() }
        feed = AgentFeed(endpoint: server.endpoint)
        #expect(try await feed.hostView("compute1").revision == before)
        try await feed.register(AgentFeed.host("compute1", role: "compute", tunnelIP: "172.16.0.1"))
        #expect(try await feed.hostView("compute1").revision == before)
        #expect(try await feed.view("compute1", after: Int(before), timeout: 0).status == 304)
        _ = try OpenStackCLI.json(server.endpoint, ["network", "create", "net2"])
        #expect(try await feed.hostView("compute1").revision == before + 1)
    }

    /// Routers and DHCP go to the alive network host with the lowest name; a router made
    /// before any network host is scheduled when one registers; when its host stops beating
    /// it moves to another alive one, and the dead agent shows `XXX`.
    @Test func schedulingFollowsAliveNetworkHosts() async throws {
        let folder = try TemporaryDirectory()
        let server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log",
                                       extraArguments: ["--agent-down-time", "5"])
        defer { server.stop() }
        let feed = AgentFeed(endpoint: server.endpoint)
        let netID = try #require(try OpenStackCLI.json(server.endpoint, ["network", "create", "net1"])["id"]?.string)
        let subnetID = try #require(try OpenStackCLI.json(server.endpoint, ["subnet", "create", "sub1", "--network", netID,
                                                                           "--subnet-range", "10.0.0.0/24"])["id"]?.string)
        let routerID = try #require(try OpenStackCLI.json(server.endpoint, ["router", "create", "router1"])["id"]?.string)
        #expect(try OpenStackCLI.run(server.endpoint, ["router", "add", "subnet", routerID, subnetID]).status == 0)
        func hosts() throws -> Set<String> {
            let ports = try OpenStackCLI.json(server.endpoint, ["port", "list", "--network", netID, "-c", "ID"])
            return Set(try (ports.array ?? []).map { port in
                try OpenStackCLI.json(server.endpoint, ["port", "show", port["ID"]?.string ?? ""])["binding_host_id"]?.string ?? "?"
            })
        }
        #expect(try hosts() == [""])

        try await feed.register(AgentFeed.host("network-b", role: "network", tunnelIP: "172.16.0.12"))
        #expect(try hosts() == ["network-b"])
        // network-b beats, then network-a registers (the client's calls above may have taken
        // longer than the down time): network-b is alive and keeps what it serves.
        try await feed.register(AgentFeed.host("network-b", role: "network", tunnelIP: "172.16.0.12"))
        try await feed.register(AgentFeed.host("network-a", role: "all", tunnelIP: "172.16.0.11"))
        #expect(try hosts() == ["network-b"])
        #expect(try await feed.hostView("network-b").routers.map(\.id) == [routerID])
        #expect(try await feed.hostView("network-a").routers.isEmpty)

        // network-b stops beating; network-a's next heartbeat after the down time moves both.
        try await Task.sleep(nanoseconds: 6_000_000_000)
        try await feed.register(AgentFeed.host("network-a", role: "all", tunnelIP: "172.16.0.11"))
        #expect(try hosts() == ["network-a"])
        let moved = try await feed.hostView("network-a")
        #expect(moved.routers.map(\.id) == [routerID])
        #expect(moved.dhcp.map(\.networkID) == [netID])
        _ = try NodeCompiler(view: moved).compile()
        let table = try OpenStackCLI.run(server.endpoint, ["network", "agent", "list", "--host", "network-b"]).stdout
        #expect(table.contains("XXX") && !table.contains(":-)"))
        let l3 = try OpenStackCLI.json(server.endpoint, ["network", "agent", "list", "--router", routerID])
        #expect(l3.array?.map { $0["Host"] } == [.string("network-a")])
    }
}

/// The ids the reference cloud's tests look at.
struct ReferenceCloud {
    var net1 = "", ext = "", router = "", vm1 = "", vm2 = "", vm2MAC = ""

    /// Registers compute1, compute2 and the network host, then runs the reference workflow
    /// with the client (net1, sub1, ext, router1, SSH, vm1 with a floating IP), binds vm1 to
    /// compute1, creates vm2 on compute2, and beats.
    static func make(_ endpoint: String, _ feed: AgentFeed) async throws -> ReferenceCloud {
        try await beat(feed)
        var cloud = ReferenceCloud()
        cloud.vm1 = try runReferenceWorkflow(endpoint)
        #expect(try OpenStackCLI.run(endpoint, ["port", "set", "--host", "compute1", cloud.vm1]).status == 0)
        cloud.net1 = try #require(try OpenStackCLI.json(endpoint, ["network", "show", "net1"])["id"]?.string)
        cloud.ext = try #require(try OpenStackCLI.json(endpoint, ["network", "show", "ext"])["id"]?.string)
        cloud.router = try #require(try OpenStackCLI.json(endpoint, ["router", "show", "router1"])["id"]?.string)
        let vm2 = try OpenStackCLI.json(endpoint, ["port", "create", "vm2", "--network", cloud.net1, "--host", "compute2"])
        cloud.vm2 = try #require(vm2["id"]?.string)
        cloud.vm2MAC = try #require(vm2["mac_address"]?.string)
        #expect(vm2["binding_host_id"] == .string("compute2"))
        // Heartbeats, as the agents send them while the client works: a router or DHCP service
        // added while the network host looked dead (a slow run) is scheduled now.
        try await beat(feed)
        return cloud
    }
}

extension ReferenceCloud {
    static let hosts = [("compute1", "compute", "172.16.0.1"), ("compute2", "compute", "172.16.0.3"), ("network", "network", "172.16.0.2")]

    /// Registers the three hosts, or sends their heartbeats (the same bodies).
    static func beat(_ feed: AgentFeed) async throws {
        for (name, role, ip) in hosts {
            let reply = try await feed.register(AgentFeed.host(name, role: role, tunnelIP: ip))
            #expect(reply.status == 200)
            #expect(reply.body?["agent"]?["host"] == .string(name))
        }
    }
}

/// ``withSQLiteServer`` for async bodies.
func withSQLiteServerAsync(_ body: (ServerProcess) async throws -> Void) async throws {
    let folder = try TemporaryDirectory()
    let server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log")
    defer { server.stop() }
    try await body(server)
}

@Suite("agent feed: PostgreSQL, two servers", .serialized, .enabled(if: OpenStackCLI.available && PostgresCluster.available))
struct AgentFeedPostgresTests {
    /// Hosts register through server A, the cloud is made through server B: both serve the
    /// same views, and an agent long-polling A sees a change made through B.
    @Test func anAgentOnOneServerSeesChangesMadeThroughTheOther() async throws {
        let cluster = try PostgresCluster()
        defer { cluster.stop() }
        let logs = try TemporaryDirectory()
        let first = try ServerProcess(database: cluster.url, logPath: logs.path + "/server-a.log")
        defer { first.stop() }
        let second = try ServerProcess(database: cluster.url, logPath: logs.path + "/server-b.log")
        defer { second.stop() }
        let feedA = AgentFeed(endpoint: first.endpoint), feedB = AgentFeed(endpoint: second.endpoint)
        let cloud = try await ReferenceCloud.make(second.endpoint, feedA)

        for host in ["compute1", "compute2", "network"] {
            let throughA = try await feedA.hostView(host), throughB = try await feedB.hostView(host)
            #expect(throughA == throughB)
            _ = try NodeCompiler(view: throughA).compile()
        }
        let network = try await feedA.hostView("network")
        #expect(network.routers.map(\.id) == [cloud.router])
        #expect(network.dhcp.map(\.networkID) == [cloud.net1])
        try await ReferenceCloud.beat(feedA)
        let rows = try OpenStackCLI.run(second.endpoint, ["network", "agent", "list"]).stdout
        #expect(rows.split(separator: "\n").count(where: { $0.contains(":-)") }) == 5)

        let current = try await feedA.hostView("compute1")
        async let waited = feedA.view("compute1", after: Int(current.revision), timeout: 120)
        let port = try OpenStackCLI.json(second.endpoint, ["port", "create", "vm3", "--network", cloud.net1, "--host", "compute1"])
        let reply = try await waited
        #expect(reply.status == 200)
        let next = try HostView.decode(json: reply.data)
        #expect(next.revision > current.revision)
        #expect(Set(next.ports.map(\.id)) == [cloud.vm1, port["id"]?.string ?? ""])
        #expect(next.securityGroups.first.map { Set($0.members) } == ["10.0.0.3", "10.0.0.4", "10.0.0.5"])
        _ = try NodeCompiler(view: next).compile()
    }
}
