#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Foundation
import Testing
import XDPDatapath
import XDPPacket

/// A real DHCP client (busybox `udhcpc`, Debian's `busybox`) in a namespace behind br-int's
/// access VLAN 1 gets its lease from the `dhcp` service port: the reference design's `qdhcp-` namespace
/// replaced by the datapath's responder. The client checks IPv4 and UDP checksums of what
/// it receives; its script records what it was given.
extension AFXDPIntegrationTests {
@Suite("DHCP responder with a real client")
struct DHCPLiveTests {
    static let serverMAC = "fa:16:3e:00:00:03"
    static let vmMAC = "fa:16:3e:aa:00:05"
    static let broadcastVMMAC = "fa:16:3e:aa:00:06"
    static let strangerMAC = "fa:16:3e:bb:00:09"

    static var udhcpcUnavailable: String? {
        Shell.run(["sh", "-c", "command -v busybox"]).succeeded ? nil : "busybox (udhcpc) is not installed: make deps-test"
    }

    static func configuration(ports: [String]) -> DatapathConfiguration {
        let dhcp = DHCPConfiguration(network: "net1", mac: MACAddress(serverMAC)!, subnets: [
            .init(name: "subnet1", cidr: IPv4Prefix("10.1.0.0/24")!, serverAddress: IPv4Address(10, 1, 0, 3),
                  gateway: IPv4Address(10, 1, 0, 1), dnsServers: [IPv4Address(8, 8, 8, 8), IPv4Address(8, 8, 4, 4)],
                  hostRoutes: [.init(destination: IPv4Prefix("169.254.169.254/32")!, nextHop: IPv4Address(10, 1, 0, 2)),
                               .init(destination: IPv4Prefix("10.2.0.0/16")!, nextHop: IPv4Address(10, 1, 0, 1))]),
        ], hosts: [.init(mac: MACAddress(vmMAC)!, address: IPv4Address(10, 1, 0, 5)),
                   .init(mac: MACAddress(broadcastVMMAC)!, address: IPv4Address(10, 1, 0, 6), hostname: "web1")],
           mtu: 1450)
        return DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: ports.map { PortConfiguration(name: $0, tag: 1) }
                                + [PortConfiguration(name: "tap-dhcp-net1", type: .dhcp(network: "net1"), tag: 1)]),
        ], dhcp: [dhcp])
    }

    /// A namespace with a veth into the switch and no address: the client configures it.
    static func addClient(_ lab: LabNetwork, _ name: String, mac: String) throws -> (namespace: String, port: String) {
        let ns = try lab.addNamespace(name)
        let port = try lab.addHost(namespace: ns, switchSide: name, mac: mac)
        return (ns, port)
    }

    /// `KEY=value` lines of a file the script wrote.
    static func environment(_ path: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    /// Starts `arguments` in the background with output to `log`, default signal handling
    /// and an empty signal mask (the test's threads block signals, and posix_spawn would pass
    /// that on), and no inherited descriptors (`Shell.run` would wait for a child holding
    /// its pipe, and the engine's sockets must not leak). Returns the pid.
    static func spawn(_ arguments: [String], log: String) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        for fd: Int32 in 3..<1024 { posix_spawn_file_actions_addclose(&actions, fd) }  // EBADF is ignored
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, environ) == 0 else { return nil }
        return pid
    }

    /// Stops a process `spawn` started and reaps it.
    static func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<30 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    @Test func realClientGetsItsLeaseRenewsAndReleases() throws {
        if let reason = Self.udhcpcUnavailable { Issue.record("cannot run: \(reason)"); return }
        let lab = LabNetwork(tag: "d")
        defer { lab.tearDown() }
        let vm = try Self.addClient(lab, "vm", mac: Self.vmMAC)
        let bvm = try Self.addClient(lab, "bvm", mac: Self.broadcastVMMAC)
        let stranger = try Self.addClient(lab, "x", mac: Self.strangerMAC)
        let dir = "/tmp/\(lab.prefix)-dhcp"
        try Shell.check(["mkdir", "-p", dir])
        var client: pid_t?
        defer {
            if let client { Self.stop(client) }
            Shell.run(["rm", "-rf", dir])
        }
        // The script applies the lease (so the renewal can go unicast) and records it.
        let script = "\(dir)/script.sh"
        try """
            #!/bin/sh
            case "$1" in
            bound|renew)
                ip addr replace "$ip/$mask" dev "$interface"
                env > "$OUT.$1.tmp" && mv "$OUT.$1.tmp" "$OUT.$1" ;;   # appears whole
            esac
            exit 0

            """.write(toFile: script, atomically: true, encoding: .utf8)
        try Shell.check(["chmod", "+x", script])

        let engine = try AFXDPEngine(configuration: Self.configuration(ports: [vm.port, bvm.port, stranger.port]))
        defer { engine.close() }
        try engine.start()

        // The VM: DISCOVER/OFFER/REQUEST/ACK, unicast replies.
        let out = "\(dir)/vm"
        // (`ip netns exec` and `env` exec the client: the pid is udhcpc's.)
        client = Self.spawn(["ip", "netns", "exec", vm.namespace, "env", "OUT=\(out)", "busybox", "udhcpc", "-f", "-i", "eth0",
                             "-s", script, "-t", "5", "-T", "1"], log: "\(dir)/vm.log")
        let pid = try #require(client)
        #expect(Self.waitFor(15) { FileManager.default.fileExists(atPath: "\(out).bound") },
                "no lease: \((try? String(contentsOfFile: "\(dir)/vm.log", encoding: .utf8)) ?? "")")
        let lease = Self.environment("\(out).bound")
        #expect(lease["ip"] == "10.1.0.5")
        #expect(lease["mask"] == "24")
        #expect(lease["subnet"] == "255.255.255.0")
        #expect(lease["broadcast"] == "10.1.0.255")
        #expect(lease["router"] == "10.1.0.1")
        #expect(lease["dns"]?.split(separator: " ") == ["8.8.8.8", "8.8.4.4"])
        #expect(lease["mtu"] == "1450")
        #expect(lease["lease"] == "120")
        #expect(lease["serverid"] == "10.1.0.3")
        #expect(lease["domain"] == "openstacklocal")
        #expect(lease["hostname"] == "host-10-1-0-5")
        let routes = "169.254.169.254/32 10.1.0.2 10.2.0.0/16 10.1.0.1 0.0.0.0/0 10.1.0.1"
        #expect(lease["staticroutes"] == routes)
        #expect(lease["msstaticroutes"] == routes)
        #expect(Shell.run(["ip", "-n", vm.namespace, "-4", "-o", "addr", "show", "dev", "eth0"]).output.contains("10.1.0.5/24"))

        // Renewal (SIGUSR1; T1 is 60 s away): unicast to the server, which the client first
        // resolves by ARP.
        #expect(!FileManager.default.fileExists(atPath: "\(out).renew"))
        kill(pid, SIGUSR1)
        #expect(Self.waitFor(10) { FileManager.default.fileExists(atPath: "\(out).renew") },
                "no renewal: \((try? String(contentsOfFile: "\(dir)/vm.log", encoding: .utf8)) ?? "")")
        #expect(Self.environment("\(out).renew")["ip"] == "10.1.0.5")
        let neighbours = Shell.run(["ip", "-n", vm.namespace, "neigh", "show", "10.1.0.3"]).output
        #expect(neighbours.contains(Self.serverMAC), "the server answered ARP: \(neighbours)")
        // Release (SIGUSR2): counted by the responder, not answered.
        let tapBefore = engine.statistics().datapathPorts["tap-dhcp-net1"]?.txPackets ?? 0
        kill(pid, SIGUSR2)
        #expect(Self.waitFor(5) { (engine.statistics().datapathPorts["tap-dhcp-net1"]?.txPackets ?? 0) > tapBefore })

        // A VM asking for broadcast replies (udhcpc -B), and quitting once bound.
        let bout = "\(dir)/bvm"
        let broadcast = Shell.run(["ip", "netns", "exec", bvm.namespace, "env", "OUT=\(bout)", "timeout", "20",
                                   "busybox", "udhcpc", "-f", "-q", "-n", "-B", "-i", "eth0", "-s", script, "-t", "5", "-T", "1"])
        #expect(broadcast.succeeded, "\(broadcast.output)")
        let blease = Self.environment("\(bout).bound")
        #expect(blease["ip"] == "10.1.0.6" && blease["hostname"] == "web1" && blease["router"] == "10.1.0.1")

        // A MAC without a static lease gets nothing: udhcpc gives up after its 2 tries.
        let started = Date()
        let refused = Shell.run(["ip", "netns", "exec", stranger.namespace, "env", "OUT=\(dir)/x", "timeout", "20",
                                 "busybox", "udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", script, "-t", "2", "-T", "1"])
        #expect(!refused.succeeded, "\(refused.output)")
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.bound"))

        Self.stop(pid)
        client = nil
        let stats = engine.statistics()
        engine.close()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
        let s = try #require(engine.perform { datapath, _ in datapath.dhcpResponder(network: "net1")?.stats } ?? nil)
        // Bound, renewed, bound with -B (a client may repeat a request on a loaded machine).
        #expect(s.offers >= 2 && s.acks >= 3 && s.naks == 0, "\(s)")
        #expect(s.releases == 1, "\(s)")
        #expect(s.arpReplies >= 1, "\(s)")
        #expect((s.drops[.unknownClient] ?? 0) >= 2, "\(s)")
        // Besides the stranger's messages, only traffic that is not DHCP (IGMP reports when
        // the client configures its address, ARP for other hosts) may be dropped.
        #expect(s.drops.keys.allSatisfy { [.unknownClient, .notDHCP, .arpNotForServer].contains($0) }, "\(s)")
    }
}
}
