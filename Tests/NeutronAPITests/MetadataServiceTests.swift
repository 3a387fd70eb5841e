import Foundation
import NeutronModel
import Testing
import XDPAgent
import XDPMetadata

/// The metadata service end to end: `xdpswitch server` with networks and ports made by the
/// real `openstack` client; a network node compiled from a host view with metadata on and run
/// by `xdpswitch run` on veth pairs; the metadata namespaces and proxies of MetadataNamespaces;
/// VMs as namespaces on "tap" veths with their ports' MACs, taking their addresses and the
/// metadata route by DHCP (busybox udhcpc) and asking http://169.254.169.254 with curl. Two tenants use the same CIDR and the same address.
@Suite("metadata service", .serialized, .enabled(if: OpenStackCLI.available && getuid() == 0))
struct MetadataServiceTests {
    /// The lookup behind the proxies, straight at the server: known address, unknown address,
    /// a DHCP port's address (not an instance), a malformed address.
    @Test func serverFindsTheInstanceByNetworkAndAddress() throws {
        try withSQLiteServer { server in
            let endpoint = server.endpoint
            let net = try #require(try OpenStackCLI.json(endpoint, ["network", "create", "n1"])["id"]?.string)
            _ = try OpenStackCLI.json(endpoint, ["subnet", "create", "s1", "--network", net, "--subnet-range", "10.70.0.0/24"])
            let device = UUID().uuidString.lowercased()
            let port = try OpenStackCLI.json(endpoint, ["port", "create", "--network", net, "--device", device,
                                                         "--fixed-ip", "ip-address=10.70.0.5", "vm1"])
            let bare = try OpenStackCLI.json(endpoint, ["port", "create", "--network", net, "--fixed-ip", "ip-address=10.70.0.6", "Not A Host"])
            func lookup(_ ip: String) throws -> (Int32, JSONValue?) {
                let result = try OpenStackCLI.runProgram("/usr/bin/curl", ["-s", "-w", "\n%{http_code}",
                    "\(endpoint)/v2.0/xdpswitch/metadata/instance?network_id=\(net)&ip_address=\(ip)"])
                let lines = result.stdout.split(separator: "\n")
                return (Int32(lines.last ?? "") ?? -1, try? JSONValue.decode(Data(lines.dropLast().joined(separator: "\n").utf8)))
            }
            let (status, body) = try lookup("10.70.0.5")
            #expect(status == 200)
            let instance = try #require(body?["instance"])
            #expect(instance["uuid"] == .string(device))
            #expect(instance["port_id"] == port["id"])
            #expect(instance["hostname"] == .string("vm1"))
            #expect(instance["project_id"] == port["project_id"])
            #expect(instance["floating_ip_address"] == .null)
            // No device: the port id; a name that is no host name: host-A-B-C-D.
            let (_, bareBody) = try lookup("10.70.0.6")
            #expect(bareBody?["instance"]?["uuid"] == bare["id"])
            #expect(bareBody?["instance"]?["hostname"] == .string("host-10-70-0-6"))
            let (missing, missingBody) = try lookup("10.70.0.99")
            #expect(missing == 404)
            #expect(missingBody?["NeutronError"]?["type"] == .string("InstanceNotFound"))
            #expect(missingBody?["NeutronError"]?["message"] == .string("No instance on network \(net) has the address 10.70.0.99."))
            #expect(try lookup("10.70.0.2").0 == 404, "the DHCP port is no instance")
            #expect(try lookup("10.70.0.5%20or%201").0 == 400)
        }
    }

    /// Two tenants, one CIDR, one address: each VM reads its own instance, by the OpenStack
    /// and the EC2 trees; a forged X-Forwarded-For changes nothing; the floating IP is the
    /// EC2 public-ipv4.
    @Test func eachVMReadsItsOwnMetadataWithTheSameCIDR() throws {
        let binary = try xdpswitchBinary()
        let node = LiveNode()
        defer { node.tearDown() }
        try withSQLiteServer { server in
            let endpoint = server.endpoint
            var tenants: [Tenant] = []
            for name in ["a", "b"] {
                let net = try OpenStackCLI.json(endpoint, ["network", "create", "meta-\(name)"])
                let subnet = try OpenStackCLI.json(endpoint, ["subnet", "create", "meta-\(name)-sub", "--network", net["id"]?.string ?? "",
                                                              "--subnet-range", "10.77.0.0/24"])
                let device = UUID().uuidString.lowercased()
                let port = try OpenStackCLI.json(endpoint, ["port", "create", "--network", net["id"]?.string ?? "", "--device", device,
                                                             "--fixed-ip", "ip-address=10.77.0.5", "vm-\(name)"])
                let dhcpList = try OpenStackCLI.json(endpoint, ["port", "list", "--network", net["id"]?.string ?? "", "--device-owner", "network:dhcp"])
                let dhcp = try OpenStackCLI.json(endpoint, ["port", "show", dhcpList[0]?["ID"]?.string ?? ""])
                tenants.append(try Tenant(name: name, network: net, subnet: subnet, port: port, dhcp: dhcp, device: device))
            }
            // A floating IP for tenant a's VM (router and external network in the model only).
            let ext = try #require(try OpenStackCLI.json(endpoint, ["network", "create", "meta-ext", "--external", "--provider-network-type", "flat",
                                                                   "--provider-physical-network", "extnet"])["id"]?.string)
            _ = try OpenStackCLI.json(endpoint, ["subnet", "create", "meta-ext-sub", "--network", ext, "--no-dhcp", "--subnet-range", "198.51.100.0/24"])
            let router = try #require(try OpenStackCLI.json(endpoint, ["router", "create", "meta-r"])["id"]?.string)
            #expect(try OpenStackCLI.run(endpoint, ["router", "add", "subnet", router, tenants[0].subnetID]).status == 0)
            #expect(try OpenStackCLI.run(endpoint, ["router", "set", "--external-gateway", ext, router]).status == 0)
            let floating = try OpenStackCLI.json(endpoint, ["floating", "ip", "create", "--port", tenants[0].portID, ext])
            let floatingIP = try #require(floating["floating_ip_address"]?.string)

            // The node: br-int with both networks' DHCP, metadata ports and VM taps; br-tun on an underlay veth.
            let view = node.hostView(tenants)
            let compiled = try NodeCompiler(view: view, options: CompileOptions(metadata: true)).compile()
            for tenant in tenants {
                #expect(compiled.yaml.contains("{name: \"\(MetadataPort.interfaceName(networkID: tenant.networkID))\", tag: "))
            }
            let namespaces = MetadataNamespaces(prefix: node.prefix + "m", binary: binary, serverURL: endpoint, runDirectory: node.folder.path)
            node.namespaces = namespaces
            try namespaces.reconcile(networks: tenants.map { .init(id: $0.networkID, subnets: ["10.77.0.0/24"]) })
            for tenant in tenants { try node.addVM(tenant) }
            try node.runSwitch(binary: binary, yaml: compiled.yaml, interfaces: tenants.flatMap {
                [node.tap($0), MetadataPort.interfaceName(networkID: $0.networkID)]
            })

            for tenant in tenants {
                // The datapath's DHCP gives the address and the on-link route to 169.254.169.254.
                #expect(try node.dhcp(tenant) == "169.254.169.254/32 0.0.0.0 0.0.0.0/0 10.77.0.1")
                let routes = try node.sh(["ip", "-n", node.vmNamespace(tenant), "route", "show"])
                #expect(routes.contains("169.254.169.254 dev eth0") && routes.contains("10.77.0.0/24 dev eth0"), "\(routes)")
            }
            for tenant in tenants {
                let meta = try node.curl(tenant, "/openstack/latest/meta_data.json")
                let json = try JSONValue.decode(Data(meta.utf8))
                #expect(json["uuid"] == .string(tenant.device), "\(tenant.name): \(meta)")
                #expect(json["name"] == .string("vm-\(tenant.name)"))
                #expect(json["hostname"] == .string("vm-\(tenant.name)"))
                #expect(json["availability_zone"] == .string("nova") && json["launch_index"] == .int(0))
                #expect(json["project_id"] == .string(NetworkingService.noAuthProjectID))
                #expect(try node.curl(tenant, "/latest/meta-data/instance-id") == tenant.device)
                #expect(try node.curl(tenant, "/latest/meta-data/local-ipv4") == "10.77.0.5")
                let network = try JSONValue.decode(Data(try node.curl(tenant, "/openstack/latest/network_data.json").utf8))
                #expect(network["links"]?[0]?["ethernet_mac_address"] == .string(tenant.mac))
                // The other tenant's VM has the same address: a forged header names nothing else.
                let other = tenants.first { $0.name != tenant.name }!
                #expect(try node.curl(tenant, "/latest/meta-data/instance-id", headers: ["X-Forwarded-For: 10.77.0.5",
                                                                                         "X-Instance-ID: \(other.device)"]) == tenant.device)
            }
            #expect(try node.curl(tenants[0], "/latest/meta-data/public-ipv4") == floatingIP)
            #expect(try node.curl(tenants[1], "/latest/meta-data/public-ipv4", expectStatus: 404).contains("404"))
            #expect(try node.curl(tenants[1], "/latest/meta-data/").split(separator: "\n").contains("instance-id"))
            // Each proxy logs (swift-log) its start and one line per request, with the VM's address.
            for tenant in tenants {
                let logPath = node.folder.path + "/" + namespaces.namespace(tenant.networkID) + ".log"
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                let lines = log.split(separator: "\n")
                #expect(lines.contains { $0.contains("notice xdpswitch.metadata-proxy: network \(tenant.networkID) on http://") }, "\(log)")
                #expect(lines.contains { $0.contains("info xdpswitch.metadata-proxy: GET /openstack/latest/meta_data.json 200 ")
                                         && $0.contains("peer=10.77.0.5") }, "\(log)")
                let missing = tenant.name == "b" ? 1 : 0
                #expect(lines.filter { $0.contains("info xdpswitch.metadata-proxy: GET /latest/meta-data/public-ipv4 404 ") }.count == missing,
                        "\(log)")
            }

            // reconcile again (an agent restart): the same proxies stay; with one network left, the other goes.
            let pids = tenants.map { namespaces.runningProxy(namespace: namespaces.namespace($0.networkID), networkID: $0.networkID) }
            #expect(pids.allSatisfy { $0 != nil })
            try namespaces.reconcile(networks: tenants.map { .init(id: $0.networkID, subnets: ["10.77.0.0/24"]) })
            #expect(tenants.map { namespaces.runningProxy(namespace: namespaces.namespace($0.networkID), networkID: $0.networkID) } == pids)
            try namespaces.reconcile(networks: [.init(id: tenants[0].networkID, subnets: ["10.77.0.0/24"])])
            #expect(namespaces.existingNamespaces() == [namespaces.namespace(tenants[0].networkID)])
            #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(MetadataPort.interfaceName(networkID: tenants[1].networkID))"))
            #expect(try node.curl(tenants[0], "/latest/meta-data/instance-id") == tenants[0].device)
        }
    }
}

/// One tenant of the live test, from what the client printed.
struct Tenant {
    let name: String
    let networkID: String
    let segment: UInt64
    let subnetID: String
    let portID: String
    let mac: String
    let device: String
    let dhcpPortID: String
    let dhcpMAC: String
    let dhcpIP: String

    init(name: String, network: JSONValue, subnet: JSONValue, port: JSONValue, dhcp: JSONValue, device: String) throws {
        self.name = name
        networkID = try #require(network["id"]?.string)
        segment = UInt64(try #require(network["provider:segmentation_id"]?.int))
        subnetID = try #require(subnet["id"]?.string)
        portID = try #require(port["id"]?.string)
        mac = try #require(port["mac_address"]?.string)
        self.device = device
        dhcpPortID = try #require(dhcp["id"]?.string)
        dhcpMAC = try #require(dhcp["mac_address"]?.string)
        dhcpIP = try #require(dhcp["fixed_ips"]?[0]?["ip_address"]?.string)
    }
}

/// The network node of the live test: names with a unique prefix, everything removed by `tearDown`.
final class LiveNode {
    let prefix = "xm" + String(format: "%03d", getpid() % 1000)
    let folder: TemporaryDirectory
    var namespaces: MetadataNamespaces?
    private var links: [String] = []
    private var netns: [String] = []
    private var switchProcess: Process?
    private var tornDown = false

    init() { folder = try! TemporaryDirectory() }

    var underlay: String { prefix + "u" }
    func tap(_ tenant: Tenant) -> String { prefix + "t" + tenant.name }
    func vmNamespace(_ tenant: Tenant) -> String { prefix + "vm" + tenant.name }

    /// The host view: role all, a tunnel endpoint on the underlay veth, both networks with
    /// their DHCP service and their VM port (port security on, Neutron's default group).
    func hostView(_ tenants: [Tenant]) -> HostView {
        let group = "default-\(prefix)"
        return HostView(
            revision: 1,
            host: HostView.Host(name: "node-\(prefix)", role: .all, tunnel: HostView.Tunnel(ip: "172.31.254.1", prefixLength: 24, interface: underlay)),
            networks: tenants.map {
                HostView.Network(id: $0.networkID, name: "meta-\($0.name)", networkType: .gre, segmentationID: $0.segment, mtu: 1458,
                                 subnets: [HostView.Subnet(id: $0.subnetID, cidr: "10.77.0.0/24", gatewayIP: "10.77.0.1")])
            },
            ports: tenants.map {
                HostView.Port(id: $0.portID, networkID: $0.networkID, macAddress: $0.mac,
                              fixedIPs: [HostView.FixedIP(subnetID: $0.subnetID, ipAddress: "10.77.0.5")],
                              securityGroups: [group], interfaceName: tap($0))
            },
            securityGroups: [HostView.SecurityGroup(id: group, name: "default", rules: [
                HostView.Rule(direction: "egress", ethertype: "IPv4"),
                HostView.Rule(direction: "ingress", ethertype: "IPv4", remoteGroupID: group),
            ], members: ["10.77.0.5"])],
            dhcp: tenants.map {
                HostView.DHCPService(networkID: $0.networkID, portID: $0.dhcpPortID, macAddress: $0.dhcpMAC,
                                     fixedIPs: [HostView.FixedIP(subnetID: $0.subnetID, ipAddress: $0.dhcpIP)],
                                     hosts: [HostView.Lease(macAddress: $0.mac, ipAddress: "10.77.0.5")])
            })
    }

    @discardableResult
    func sh(_ arguments: [String]) throws -> String {
        let result = try OpenStackCLI.runProgram("/usr/bin/env", arguments)
        guard result.status == 0 else { throw HarnessError("\(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)") }
        return result.stdout
    }

    /// A VM: namespace, a veth "tap" on the node, its port's MAC (the address comes by DHCP).
    func addVM(_ tenant: Tenant) throws {
        let ns = vmNamespace(tenant)
        try sh(["ip", "netns", "add", ns])
        netns.append(ns)
        try sh(["ip", "link", "add", tap(tenant), "type", "veth", "peer", "name", "eth0", "netns", ns])
        links.append(tap(tenant))
        try sh(["ip", "-n", ns, "link", "set", "eth0", "address", tenant.mac])
        for (interface, namespace) in [(tap(tenant), nil), ("eth0", ns)] as [(String, String?)] {
            let prefix = namespace.map { ["ip", "netns", "exec", $0] } ?? []
            _ = try? sh(prefix + ["ethtool", "-K", interface, "tx", "off", "rxvlan", "off", "txvlan", "off"])
            _ = try? sh(prefix + ["sysctl", "-qw", "net.ipv6.conf.\(interface).disable_ipv6=1"])
        }
        try sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        try sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        try sh(["ip", "link", "set", tap(tenant), "up"])
    }

    /// `udhcpc` in the VM (busybox) with a hook that sets the address and the option-121
    /// routes (next hop 0.0.0.0: on-link) as cloud-init's DHCP clients do; returns the lease's
    /// `staticroutes` as udhcpc reported them.
    func dhcp(_ tenant: Tenant) throws -> String {
        let hook = folder.path + "/udhcpc-hook.sh"
        try """
            #!/bin/sh
            [ "$1" = bound ] || exit 0
            echo "$staticroutes" > "$LEASE"
            ip addr add "$ip/$mask" dev "$interface"
            set -- $staticroutes
            while [ $# -ge 2 ]; do
              if [ "$2" = 0.0.0.0 ]; then ip route add "$1" dev "$interface"; else ip route add "$1" via "$2" dev "$interface"; fi
              shift 2
            done

            """.write(toFile: hook, atomically: true, encoding: .utf8)
        try sh(["chmod", "755", hook])
        let lease = folder.path + "/lease-\(tenant.name)"
        try sh(["ip", "netns", "exec", vmNamespace(tenant), "env", "LEASE=\(lease)", "busybox", "udhcpc", "-i", "eth0",
                "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", hook])
        return try String(contentsOfFile: lease, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The underlay veth (its peer in a namespace of its own), the YAML, and `xdpswitch run`
    /// until every interface of `interfaces` has its XDP program.
    func runSwitch(binary: String, yaml: String, interfaces: [String]) throws {
        let peer = prefix + "under"
        try sh(["ip", "netns", "add", peer])
        netns.append(peer)
        try sh(["ip", "link", "add", underlay, "type", "veth", "peer", "name", "eth0", "netns", peer])
        links.append(underlay)
        try sh(["ip", "link", "set", underlay, "up"])
        let config = folder.path + "/node.yaml"
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--config", config]
        let log = folder.path + "/switch.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = process.standardOutput
        try process.run()
        switchProcess = process
        for _ in 0..<200 {
            let attached = try interfaces.allSatisfy { try sh(["ip", "link", "show", "dev", $0]).contains("xdp") }
            if attached { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        throw HarnessError("xdpswitch run did not attach to \(interfaces): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// `curl http://169.254.169.254PATH` from the tenant's VM: the body (the status must be `expectStatus`).
    func curl(_ tenant: Tenant, _ path: String, headers: [String] = [], expectStatus: Int = 200) throws -> String {
        let arguments = ["ip", "netns", "exec", vmNamespace(tenant), "curl", "-sS", "--max-time", "5", "--retry", "5",
                         "--retry-all-errors", "--retry-delay", "1", "-w", "\n%{http_code}"]
            + headers.flatMap { ["-H", $0] } + ["http://169.254.169.254\(path)"]
        let out = try sh(arguments)
        var lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? -1
        guard status == expectStatus else { throw HarnessError("GET \(path) from \(tenant.name): \(status) \(out)") }
        return lines.joined(separator: "\n")
    }

    func tearDown() {
        guard !tornDown else { return }
        tornDown = true
        if let switchProcess, switchProcess.isRunning {
            switchProcess.terminate()
            switchProcess.waitUntilExit()
        }
        try? namespaces?.removeAll()
        for link in links { _ = try? sh(["ip", "link", "del", link]) }
        for ns in netns { _ = try? sh(["ip", "netns", "del", ns]) }
    }

    deinit { tearDown() }
}

/// The proxy's parts that need no network: the documents by path, and the server's answers read.
@Suite struct MetadataDocumentTests {
    static let instance = MetadataInstance(uuid: "6f1c0c5e-0d7a-4c2e-9a57-3a3f1f0e2b11", portID: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                                           name: "vm1", hostname: "vm1", projectID: "p1", networkID: "n1",
                                           macAddress: "fa:16:3e:00:00:05", fixedIPAddress: "10.0.0.5")

    @Test func documentsByPath() throws {
        #expect(MetadataDocuments.listing("/")?.body.split(separator: "\n").contains("latest") == true)
        #expect(MetadataDocuments.listing("/openstack/")?.body.hasSuffix("2020-10-14\nlatest") == true)
        #expect(MetadataDocuments.listing("/openstack/latest/meta_data.json") == nil, "needs the instance")
        let meta = MetadataDocuments.document("/openstack/2013-10-17/meta_data.json", for: Self.instance)
        #expect(meta.status == 200 && meta.contentType == "application/json")
        let json = try JSONValue.decode(Data(meta.body.utf8))
        #expect(json["uuid"] == .string(Self.instance.uuid) && json["launch_index"] == .int(0) && json["meta"] == .object([:]))
        #expect(MetadataDocuments.document("/2009-04-04/meta-data/local-ipv4", for: Self.instance).body == "10.0.0.5")
        let keys = MetadataDocuments.document("/latest/meta-data/", for: Self.instance).body.split(separator: "\n")
        #expect(keys == ["ami-launch-index", "hostname", "instance-id", "local-hostname", "local-ipv4", "placement/"])
        #expect(MetadataDocuments.document("/latest/meta-data/public-ipv4", for: Self.instance).status == 404, "no floating IP")
        var floating = Self.instance
        floating.floatingIPAddress = "198.51.100.7"
        #expect(MetadataDocuments.document("/latest/meta-data/public-ipv4", for: floating).body == "198.51.100.7")
        #expect(MetadataDocuments.document("/openstack/latest/user_data", for: Self.instance).status == 404)
        #expect(MetadataDocuments.document("/openstack/1999-01-01/meta_data.json", for: Self.instance).status == 404)
        #expect(MetadataDocuments.document("/../../etc/passwd", for: Self.instance).status == 404)
    }

    @Test func serverAnswersAreReadWholeOrRefused() throws {
        let plain = try MetadataUpstream.parse(Data("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}".utf8))
        #expect(plain.status == 404 && plain.body == Data("{}".utf8))
        let chunked = try MetadataUpstream.parse(Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n".utf8))
        #expect(chunked.body == Data("{\"a\":1}".utf8))
        #expect(throws: MetadataError.self) { try MetadataUpstream.parse(Data("garbage".utf8)) }
        #expect(throws: MetadataError.self) { try MetadataUpstream.parse(Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffff\r\nab".utf8)) }
        #expect(throws: MetadataError.self) { try MetadataUpstream(serverURL: "https://example.com") }
        #expect(throws: MetadataError.self) { try MetadataInstance.decode(Data("{\"instance\": 5}".utf8)) }
    }

    /// Refused before anything is made: ids that are no interface-name material, and two
    /// networks that would share a namespace.
    @Test func reconcileRefusesBadNetworkLists() throws {
        let folder = try TemporaryDirectory()
        let namespaces = MetadataNamespaces(prefix: "xmbad", binary: "/bin/false", serverURL: "http://127.0.0.1:9",
                                            runDirectory: folder.path + "/run")
        for bad in ["", "../../x", "net 1", "ümlaut"] {
            #expect(throws: MetadataError.self) { try namespaces.reconcile(networks: [.init(id: bad, subnets: [])]) }
        }
        #expect(throws: MetadataError.self) {
            try namespaces.reconcile(networks: [.init(id: "0123456789a-one", subnets: []), .init(id: "0123456789a-two", subnets: [])])
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/run"), "nothing made")
        #expect(namespaces.existingNamespaces().isEmpty)
    }
}
