#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Foundation
import Testing
import XDPSwitch

/// Neutron's firewall connectivity matrix with real traffic between namespaces (ping,
/// nc, scapy, tcpdump): hosts a, b, c, d on br-int's VLAN 1 behind AF_XDP, security
/// groups applied to the running engine. a and b are filtered VMs; c has port security
/// off unless a test binds it; d plays the network's DHCP server.
final class SGLab {
    let topo = Topology()
    let engine: AFXDPEngine
    var sg: SecurityGroupConfiguration
    let net: Int
    static let hosts = ["a", "b", "c", "d"]

    func ip(_ h: String) -> String { Self.ip(h, net: net) }
    func mac(_ h: String) -> String { Self.mac(h, net: net) }
    static func ip(_ h: String, net: Int) -> String { "10.\(net).0.\(hosts.firstIndex(of: h)! + 1)" }
    static func mac(_ h: String, net: Int) -> String { String(format: "02:00:00:%02x:00:%02x", net, hosts.firstIndex(of: h)! + 1) }
    func ns(_ h: String) -> String { topo.namespace(h) }
    var dir: String { "/tmp/\(topo.lab.prefix)-sg" }

    /// `fastPath`: the engine runs the in-kernel fast path (the hosts' ends take redirects).
    init(net: Int, rules: [SecurityGroupRule], fastPath: Bool = false) throws {
        self.net = net
        try Self.addHosts(to: topo, net: net)
        let topo = self.topo
        var options = EngineConfiguration()
        if fastPath {
            options.fastPath = true
            try topo.acceptRedirects(Self.hosts)
        }
        engine = try AFXDPEngine(configuration: bridge(Self.hosts.map { (topo.port($0), 1) }), options: options)
        sg = SecurityGroupConfiguration(groups: [SecurityGroup(id: "default", rules: rules)])
        sg.ports = [binding("a"), binding("b")]
        try engine.start()
        try apply()
    }

    /// A lab whose engine comes from `SwitchConfiguration.parse(yaml:)`.
    init(net: Int, yaml: (_ port: (String) -> String, _ ip: (String) -> String, _ mac: (String) -> String) -> String) throws {
        self.net = net
        try Self.addHosts(to: topo, net: net)
        let topo = self.topo
        let text = yaml({ topo.port($0) }, { Self.ip($0, net: net) }, { Self.mac($0, net: net) })
        let loaded = try SwitchConfiguration.parse(yaml: text, file: "sg-lab.yaml")
        sg = try #require(loaded.securityGroups)
        engine = try AFXDPEngine(configuration: loaded.datapath) { pool in try loaded.makeDatapath(pool: pool, now: .zero) }
        try engine.start()
    }

    /// Hosts a-d (10.NET.0.1-4) and the lab's scratch directory.
    private static func addHosts(to topo: Topology, net: Int) throws {
        for h in hosts { try topo.addHost(h, ip: ip(h, net: net), mac: mac(h, net: net)) }
        try Shell.check(["mkdir", "-p", "/tmp/\(topo.lab.prefix)-sg"])
    }

    func binding(_ h: String, groups: [String] = ["default"]) -> SecurityPort {
        SecurityPort(name: topo.port(h), mac: MACAddress(mac(h))!, fixedIPs: [AddressPrefix(ip(h))!], securityGroups: groups,
                     dhcpServers: [DHCPServer(address: AddressPrefix(ip("d"))!)])
    }

    /// Installs `sg` in the running engine.
    @discardableResult
    func apply() throws -> Datapath.SecurityGroupUpdate {
        let sg = self.sg
        let result = engine.perform { datapath, now in Result { () throws(DatapathConfigurationError) in try datapath.applySecurityGroups(sg, now: now) } }
        return try #require(result).get()
    }

    @discardableResult
    func setRules(_ rules: [SecurityGroupRule]) throws -> Datapath.SecurityGroupUpdate {
        sg.groups[0].rules = rules
        return try apply()
    }

    func tearDown() {
        engine.close()
        Shell.run(["rm", "-rf", dir])
        topo.tearDown()
    }

    /// Children of the test process inherit its blocked signals (kill and timeout would
    /// not work on them): this prefix runs a command with an empty signal mask.
    static let unblocked = ["/usr/bin/python3", "-c",
                            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execvp(sys.argv[1], sys.argv[1:])"]

    /// Starts `command` inside `h`'s namespace in the background (nsenter execs: the pid
    /// is the command's own), output to `log`.
    func spawn(in h: String, _ command: [String], log: String) throws -> pid_t {
        try Shell.spawn(Self.unblocked + ["nsenter", "--net=/run/netns/\(ns(h))"] + command, logPath: log)
    }

    /// Stops a process `spawn` started, and reaps it.
    func stop(_ pid: pid_t, signal: Int32 = SIGKILL) {
        kill(pid, signal)
        _ = Shell.wait(pid)
    }

    func ping(_ from: String, _ to: String, count: Int = 2, timeout: Int = 1) -> Bool {
        topo.lab.run(in: ns(from), ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "\(timeout)", ip(to)]).succeeded
    }

    /// A TCP connection from `from` to `to`:`port` (nc -z against nc -l).
    func tcp(_ from: String, _ to: String, _ port: Int) -> Bool {
        let script = """
            nsenter --net=/run/netns/\(ns(to)) timeout 5 nc -l \(ip(to)) \(port) >/dev/null 2>&1 &
            srv=$!
            sleep 0.6
            ip netns exec \(ns(from)) nc -z -w 2 \(ip(to)) \(port); rc=$?
            kill $srv 2>/dev/null; wait
            exit $rc
            """
        return Shell.run(Self.unblocked + ["sh", "-c", script]).succeeded
    }

    /// A UDP datagram from `from` reaching `to`:`port`.
    func udp(_ from: String, _ to: String, _ port: Int) -> Bool {
        let file = "\(dir)/udp-\(port)"
        let script = """
            rm -f \(file)
            nsenter --net=/run/netns/\(ns(to)) timeout 3 nc -u -l \(ip(to)) \(port) > \(file) 2>/dev/null &
            srv=$!
            sleep 0.6
            echo udp-probe | ip netns exec \(ns(from)) nc -u -w 1 \(ip(to)) \(port)
            sleep 0.3
            kill $srv 2>/dev/null; wait
            grep -q udp-probe \(file)
            """
        return Shell.run(Self.unblocked + ["sh", "-c", script]).succeeded
    }

    /// Python lines that import socket and time and connect `s` to `h`:`port` over TCP,
    /// trying for up to five seconds (the server may start slowly on a loaded machine).
    func pythonConnect(to h: String, port: Int) -> String {
        """
        import socket, time
        for attempt in range(10):
            try:
                s = socket.create_connection(('\(ip(h))', \(port)), timeout=2); break
            except OSError:
                time.sleep(0.5)
        """
    }

    /// Runs python (with scapy available) inside `h`'s namespace.
    @discardableResult
    func python(_ h: String, _ code: String) -> Shell.Result {
        topo.lab.run(in: ns(h), ["/usr/bin/python3", "-c", code])
    }

    /// Packets matching `filter` that `h` receives while `body` runs (tcpdump).
    func captured(at h: String, _ filter: String, during body: () -> Void) -> Int {
        let log = "\(dir)/tcpdump-\(h).log"
        Shell.run(["rm", "-f", log])
        guard let pid = try? spawn(in: h, ["tcpdump", "-n", "-l", "-i", "eth0", "-Q", "in", filter], log: log) else { return -1 }
        // tcpdump is ready when it prints "listening on".
        for _ in 0..<50 where !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("listening on") { usleep(100_000) }
        body()
        usleep(500_000)
        stop(pid, signal: SIGINT)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").first(where: { $0.hasSuffix("packets captured") }),
              let n = Int(line.split(separator: " ")[0]) else { return -1 }
        return n
    }

    func dropCount(_ h: String, _ reason: DropReason) -> UInt64 {
        let name = topo.port(h)
        return engine.perform { datapath, _ in datapath.port(named: name)!.stats.drops[reason] ?? 0 } ?? 0
    }
}

extension AFXDPIntegrationTests {
@Suite("security groups on veth (Neutron's firewall matrix)")
struct SecurityGroupLiveTests {
    static let egressAll = SecurityGroupRule(direction: .egress)
    static let icmpIn = SecurityGroupRule(direction: .ingress, protocol: "icmp")!

    @Test func ingressICMPOffThenOn() throws {
        let lab = try SGLab(net: 121, rules: [Self.egressAll])
        defer { lab.tearDown() }
        #expect(!lab.ping("a", "b"), "no ingress rule: ping must fail")
        #expect(!lab.ping("c", "b"))
        try lab.setRules([Self.egressAll, Self.icmpIn])
        #expect(lab.ping("a", "b"), "ingress ICMP allowed")
        #expect(lab.ping("c", "b"))
        try lab.setRules([Self.egressAll])
        #expect(!lab.ping("c", "b"), "off again")
        #expect(lab.engine.statistics().frames.isBalanced)
    }

    @Test(arguments: [false, true])
    func macSpoofAndIPSpoofAreDroppedAllowedAddressPairsPass(fastPath: Bool) throws {
        let lab = try SGLab(net: 122, rules: [Self.egressAll, Self.icmpIn], fastPath: fastPath)
        defer { lab.tearDown() }
        #expect(lab.ping("a", "b"))
        // MAC spoof: a's interface takes another MAC.
        let spoofMAC = "02:00:00:7a:00:99"
        try Shell.check(["ip", "-n", lab.ns("a"), "link", "set", "eth0", "address", spoofMAC])
        Shell.run(["ip", "-n", lab.ns("a"), "neigh", "flush", "all"])
        Shell.run(["ip", "-n", lab.ns("b"), "neigh", "flush", "all"])
        #expect(!lab.ping("a", "b"), "spoofed source MAC")
        try Shell.check(["ip", "-n", lab.ns("a"), "link", "set", "eth0", "address", lab.mac("a")])
        #expect(lab.ping("a", "b"))
        // IP spoof: a sends from an address that is not its fixed IP.
        let extra = "10.122.0.99"
        try Shell.check(["ip", "-n", lab.ns("a"), "addr", "add", "\(extra)/24", "dev", "eth0"])
        func pingFromExtra() -> Bool {
            lab.topo.lab.run(in: lab.ns("a"), ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "-I", extra, lab.ip("b")]).succeeded
        }
        #expect(!pingFromExtra(), "spoofed source IP")
        // ARP with a spoofed sender address never reaches b; the right one does.
        let arp = { (psrc: String) in
            "from scapy.all import *; sendp(Ether(src='\(lab.mac("a"))',dst='ff:ff:ff:ff:ff:ff')/ARP(op=1,hwsrc='\(lab.mac("a"))',psrc='\(psrc)',pdst='\(lab.ip("b"))'), iface='eth0', count=3, verbose=False)"
        }
        #expect(lab.captured(at: "b", "arp and src host \(extra)") { lab.python("a", arp(extra)) } == 0)
        #expect(lab.captured(at: "b", "arp and src host \(lab.ip("a"))") { lab.python("a", arp(lab.ip("a"))) } >= 3, "ARP allowed")
        // The address becomes an allowed address pair: now it passes.
        lab.sg.ports[0].allowedAddressPairs = [AllowedAddressPair(prefix: AddressPrefix("\(extra)/32")!)]
        try lab.apply()
        #expect(pingFromExtra(), "allowed address pair")
        #expect(lab.engine.statistics().frames.isBalanced)
    }

    @Test func portSecurityOffAllowsEverything() throws {
        let lab = try SGLab(net: 123, rules: [Self.egressAll, Self.icmpIn])
        defer { lab.tearDown() }
        // c has no binding (port security off): any MAC and address, and ingress unfiltered.
        lab.sg.bind(SecurityPort(name: lab.topo.port("c"), mac: MACAddress(lab.mac("c"))!, fixedIPs: [AddressPrefix(lab.ip("c"))!],
                                 portSecurityEnabled: false))
        try lab.apply()
        try Shell.check(["ip", "-n", lab.ns("c"), "link", "set", "eth0", "address", "02:00:00:7b:00:77"])
        #expect(lab.ping("c", "b"), "spoofed MAC from a port without port security")
        #expect(lab.tcp("a", "c", 7100), "no ingress filter on c")
        #expect(!lab.tcp("c", "a", 7100), "a's ingress still filters what c sends")
        // The same port with port security on and no groups: nothing but DHCP/ARP.
        lab.sg.bind(SecurityPort(name: lab.topo.port("c"), mac: MACAddress("02:00:00:7b:00:77")!, fixedIPs: [AddressPrefix(lab.ip("c"))!]))
        try lab.apply()
        #expect(!lab.ping("c", "b"))
        #expect(!lab.tcp("a", "c", 7101))
    }

    @Test func dhcpClientAllowedDHCPServerRepliesFromTheVMBlocked() throws {
        let lab = try SGLab(net: 124, rules: [])  // no rules at all
        defer { lab.tearDown() }
        let discover = """
            from scapy.all import *
            sendp(Ether(src='\(lab.mac("a"))',dst='ff:ff:ff:ff:ff:ff')/IP(src='0.0.0.0',dst='255.255.255.255')/UDP(sport=68,dport=67)/BOOTP(chaddr=bytes.fromhex('\(lab.mac("a").replacingOccurrences(of: ":", with: ""))'))/DHCP(options=[('message-type','discover'),'end']), iface='eth0', count=2, verbose=False)
            """
        #expect(lab.captured(at: "d", "udp and port 67") { lab.python("a", discover) } == 2, "DHCP client traffic leaves the VM")
        let offer = { (from: String, to: String) in
            """
            from scapy.all import *
            sendp(Ether(src='\(lab.mac(from))',dst='\(lab.mac(to))')/IP(src='\(lab.ip(from))',dst='\(lab.ip(to))')/UDP(sport=67,dport=68)/BOOTP(op=2,yiaddr='\(lab.ip(to))')/DHCP(options=[('message-type','offer'),'end']), iface='eth0', count=2, verbose=False)
            """
        }
        #expect(lab.captured(at: "b", "udp and port 68") { lab.python("a", offer("a", "b")) } == 0, "a VM may not answer DHCP")
        #expect(lab.captured(at: "a", "udp and port 68") { lab.python("d", offer("d", "a")) } == 2, "the DHCP server's reply reaches the VM")
        #expect(lab.captured(at: "a", "udp and port 68") { lab.python("c", offer("c", "a")) } == 0, "only from the DHCP server")
        #expect(lab.dropCount("a", .flowDrop) > 0)
    }

    @Test(arguments: [false, true])
    func tcpAndUDPPerDirectionAndPortRangeEdges(fastPath: Bool) throws {
        let lab = try SGLab(net: 125, rules: [
            Self.egressAll,
            SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 5100, portRangeMax: 5110)!,
            SecurityGroupRule(direction: .ingress, protocol: "udp", portRangeMin: 5200, portRangeMax: 5200)!,
        ], fastPath: fastPath)
        defer { lab.tearDown() }
        for (port, open) in [(5099, false), (5100, true), (5110, true), (5111, false)] {
            #expect(lab.tcp("c", "b", port) == open, "tcp to b:\(port)")
        }
        #expect(lab.udp("c", "b", 5200), "udp 5200 ingress")
        #expect(!lab.udp("c", "b", 5201))
        #expect(!lab.udp("c", "b", 5100), "the tcp range does not open udp")
        // Per direction: b reaches c on anything (egress all), c's reply comes back.
        #expect(lab.tcp("b", "c", 5300))
        #expect(lab.udp("b", "c", 5300))
        // Egress closed except tcp 5400: b may not open other connections.
        try lab.setRules([SecurityGroupRule(direction: .egress, protocol: "tcp", portRangeMin: 5400, portRangeMax: 5400)!,
                          SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 5100, portRangeMax: 5110)!])
        #expect(lab.tcp("b", "c", 5400))
        #expect(!lab.tcp("b", "c", 5401))
        #expect(!lab.udp("b", "c", 5400))
        #expect(lab.tcp("c", "b", 5105), "ingress unchanged")
        // VM to VM: a's egress tcp 5400 only, b's ingress 5100-5110 only: neither is enough alone.
        #expect(!lab.tcp("a", "b", 5105), "a's egress refuses 5105")
        #expect(!lab.tcp("a", "b", 5400), "b's ingress refuses 5400")
    }

    @Test(arguments: [false, true])
    func remoteGroupAdmitsMembersAndFollowsJoins(fastPath: Bool) throws {
        let lab = try SGLab(net: 126, rules: [Self.egressAll], fastPath: fastPath)
        defer { lab.tearDown() }
        lab.sg.upsert(SecurityGroup(id: "web", rules: [Self.egressAll,
                                                        SecurityGroupRule(direction: .ingress, protocol: "icmp", remoteGroupID: "default")!]))
        lab.sg.ports[1].securityGroups = ["web"]   // b: ICMP from members of default
        try lab.apply()
        #expect(lab.ping("a", "b"), "a is in default")
        #expect(!lab.ping("c", "b"), "c is not")
        lab.sg.bind(lab.binding("c"))              // c joins default
        try lab.apply()
        #expect(lab.ping("c", "b"), "c joined")
        lab.sg.unbind(lab.topo.port("c"))
        try lab.apply()
        #expect(!lab.ping("c", "b"), "c left")
    }

    @Test func relatedICMPUnreachableComesBack() throws {
        let lab = try SGLab(net: 127, rules: [Self.egressAll])   // a: no ingress rule at all
        defer { lab.tearDown() }
        let probe = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            s.connect(('\(lab.ip("c"))', 33434))
            s.send(b'probe')
            try:
                s.recv(100); print('data')
            except ConnectionRefusedError:
                print('refused')
            except socket.timeout:
                print('timeout')
            """
        let out = lab.python("a", probe).output
        #expect(out.contains("refused"), "c's ICMP port unreachable is RELATED and reaches a: \(out)")
        // The same ICMP error not quoting a tracked connection is dropped.
        let stray = """
            from scapy.all import *
            sendp(Ether(src='\(lab.mac("c"))',dst='\(lab.mac("a"))')/IP(src='\(lab.ip("c"))',dst='\(lab.ip("a"))')/ICMP(type=3,code=3)/IP(src='\(lab.ip("a"))',dst='\(lab.ip("c"))')/UDP(sport=999,dport=998), iface='eth0', count=2, verbose=False)
            """
        #expect(lab.captured(at: "a", "icmp") { lab.python("c", stray) } == 0)
    }

    /// With the fast path on, the stream's segments go by the kernel once established, and
    /// the rule's removal still cuts it at the next segment.
    @Test(arguments: [false, true])
    func establishedConnectionIsCutWhenItsRuleIsRemoved(fastPath: Bool) throws {
        let ssh = SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 5500, portRangeMax: 5500)!
        let lab = try SGLab(net: fastPath ? 129 : 128, rules: [Self.egressAll, Self.icmpIn, ssh], fastPath: fastPath)
        defer { lab.tearDown() }
        let countFile = "\(lab.dir)/count"
        let server = """
            import socket, time, os
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('\(lab.ip("b"))', 5500)); s.listen(1); s.settimeout(25)
            c, _ = s.accept(); c.settimeout(0.5); n = 0; end = time.time() + 25
            while time.time() < end:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d: break
                n += len(d)
                # Written aside and renamed: a reader never sees a file cut short.
                with open('\(countFile).tmp', 'w') as f: f.write(str(n))
                os.replace('\(countFile).tmp', '\(countFile)')
            """
        let client = """
            \(lab.pythonConnect(to: "b", port: 5500))
            s.settimeout(0.5); end = time.time() + 22
            while time.time() < end:
                try:
                    s.send(b'x' * 500)
                except Exception:
                    pass
                time.sleep(0.02)
            """
        let serverPID = try lab.spawn(in: "b", ["/usr/bin/python3", "-c", server], log: "\(lab.dir)/server.log")
        usleep(500_000)
        let clientPID = try lab.spawn(in: "a", ["/usr/bin/python3", "-c", client], log: "\(lab.dir)/client.log")
        defer { lab.stop(clientPID); lab.stop(serverPID) }
        func received() -> Int { Int((try? String(contentsOfFile: countFile, encoding: .utf8)) ?? "") ?? 0 }
        // Python starts slowly on a loaded machine: wait for the stream to run.
        for _ in 0..<200 where received() == 0 { usleep(100_000) }
        usleep(500_000)
        let before = received()
        #expect(before > 0, "the stream runs")
        let carried = lab.engine.statistics().fastPathPackets
        if fastPath {
            usleep(500_000)
            #expect(lab.engine.statistics().fastPathPackets > carried, "the kernel carries the established stream")
            let dump = lab.engine.perform { datapath, now in datapath.fastPathDump(now: now)?.entries.map(\.description) ?? [] } ?? []
            #expect(dump.contains { $0.contains("tcp(") && $0.contains("dst=5500") }, "\(dump)")
        }
        let update = try lab.setRules([Self.egressAll, Self.icmpIn])
        #expect(update.connectionsCut >= 1)
        if fastPath {
            let dump = lab.engine.perform { datapath, now in datapath.fastPathDump(now: now)?.entries.map(\.description) ?? [] } ?? []
            #expect(!dump.contains { $0.contains("5500") }, "no entry of the cut connection is left: \(dump)")
        }
        usleep(700_000)
        let afterCut = received()
        usleep(2_000_000)
        #expect(received() == afterCut, "nothing more arrives once the connection is cut (\(before) → \(afterCut) → \(received()))")
        #expect(!lab.tcp("a", "b", 5500), "and a new connection is refused")
        #expect(lab.ping("a", "b"), "other traffic still flows")
    }

    /// The fast path carries an allowed TCP stream once it is established; the FIN that
    /// closes it goes the slow path, and the connection's entries leave the fast path.
    @Test func aTCPStreamClosedWithFINLeavesTheFastPath() throws {
        let rule = SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 5600, portRangeMax: 5600)!
        let lab = try SGLab(net: 130, rules: [Self.egressAll, Self.icmpIn, rule], fastPath: true)
        defer { lab.tearDown() }
        let countFile = "\(lab.dir)/count"
        let server = """
            import socket, os
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('\(lab.ip("b"))', 5600)); s.listen(1); s.settimeout(25)
            c, _ = s.accept(); c.settimeout(25); n = 0
            while True:
                d = c.recv(65536)
                if not d: break
                n += len(d)
            c.close()
            with open('\(countFile).tmp', 'w') as f: f.write(str(n))
            os.replace('\(countFile).tmp', '\(countFile)')
            """
        let client = """
            \(lab.pythonConnect(to: "b", port: 5600))
            for i in range(300):
                s.sendall(b'y' * 500); time.sleep(0.01)
            s.close()
            """
        let before = lab.engine.statistics().fastPathPackets
        let serverPID = try lab.spawn(in: "b", ["/usr/bin/python3", "-c", server], log: "\(lab.dir)/server.log")
        usleep(500_000)
        let clientPID = try lab.spawn(in: "a", ["/usr/bin/python3", "-c", client], log: "\(lab.dir)/client.log")
        defer { lab.stop(clientPID); lab.stop(serverPID) }
        func received() -> Int? { (try? String(contentsOfFile: countFile, encoding: .utf8)).flatMap { Int($0) } }
        for _ in 0..<300 where received() == nil { usleep(100_000) }
        #expect(received() == 300 * 500, "the whole stream arrived")
        #expect(lab.engine.statistics().fastPathPackets - before > 100, "the kernel carried most of it")
        usleep(300_000)
        let dump = lab.engine.perform { datapath, now in datapath.fastPathDump(now: now)?.entries.map(\.description) ?? [] } ?? []
        #expect(!dump.contains { $0.contains("5600") }, "the closed connection left the fast path: \(dump)")
    }

    @Test(arguments: [false, true])
    func noBlinkWhileRulesAreReplacedManyTimes(fastPath: Bool) throws {
        let lab = try SGLab(net: 129, rules: [Self.egressAll, Self.icmpIn], fastPath: fastPath)
        defer { lab.tearDown() }
        #expect(lab.ping("a", "b"))
        // 400 pings at 10 ms while the rules are replaced 60 times (ICMP allowed by all).
        let pingPID = try lab.spawn(in: "a", ["ping", "-n", "-q", "-c", "400", "-i", "0.01", "-W", "1", lab.ip("b")],
                                    log: "\(lab.dir)/ping.log")
        var maxCut = 0
        for i in 0..<60 {
            let extra = SecurityGroupRule(direction: .ingress, protocol: "tcp", portRangeMin: 6000 + i, portRangeMax: 6000 + 2 * i)!
            maxCut = max(maxCut, try lab.setRules(i % 2 == 0 ? [Self.egressAll, Self.icmpIn, extra] : [Self.icmpIn, Self.egressAll]).connectionsCut)
            usleep(50_000)
        }
        let status = Shell.wait(pingPID)
        let log = (try? String(contentsOfFile: "\(lab.dir)/ping.log", encoding: .utf8)) ?? ""
        #expect(status == 0 && log.contains(" 0% packet loss"), "\(log)")
        #expect(maxCut == 0, "no update cut the ping")
    }

    @Test func synFloodOfTenTimesTheLimitLeavesAnEstablishedTransferRunning() throws {
        let limit = 64
        let lab = try SGLab(net: 130) { port, ip, mac in
            """
            bridges:
              - name: br-int
                ports:
                  - {name: \(port("a")), tag: 1}
                  - {name: \(port("b")), tag: 1}
                  - {name: \(port("c")), tag: 1}
                  - {name: \(port("d")), tag: 1}
            conntrack:
              max_connections: \(limit)
              timeouts: {tcp_syn_sent: 60}
            security_groups:
              - name: default
                rules:
                  - {direction: egress}
                  - {direction: ingress, protocol: tcp, port_range_min: 5600, port_range_max: 5700}
            ports:
              - {name: \(port("a")), mac_address: "\(mac("a"))", fixed_ips: [\(ip("a"))], security_groups: [default]}
              - {name: \(port("b")), mac_address: "\(mac("b"))", fixed_ips: [\(ip("b"))], security_groups: [default]}
            """
        }
        defer { lab.tearDown() }
        try Shell.check(["dd", "if=/dev/urandom", "of=\(lab.dir)/in", "bs=1M", "count=6", "status=none"])
        // A paced transfer (about 6 s) a → b:5600, verified end to end.
        let server = """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('\(lab.ip("b"))', 5600)); s.listen(1); s.settimeout(30)
            c, _ = s.accept(); c.settimeout(30)
            with open('\(lab.dir)/out', 'wb') as f:
                while True:
                    d = c.recv(65536)
                    if not d: break
                    f.write(d); f.flush()
            """
        let client = """
            import socket, time
            s = socket.create_connection(('\(lab.ip("b"))', 5600), timeout=30)
            data = open('\(lab.dir)/in', 'rb').read()
            for i in range(0, len(data), 65536):
                s.sendall(data[i:i + 65536]); time.sleep(0.06)
            s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
            """
        let serverPID = try lab.spawn(in: "b", ["/usr/bin/python3", "-c", server], log: "\(lab.dir)/server.log")
        usleep(500_000)
        let clientPID = try lab.spawn(in: "a", ["/usr/bin/python3", "-c", client], log: "\(lab.dir)/client.log")
        var reaped = false
        defer { if !reaped { lab.stop(clientPID); lab.stop(serverPID) } }
        // The transfer is established (bytes arrive) before the flood starts.
        func arrived() -> Int { (try? FileManager.default.attributesOfItem(atPath: "\(lab.dir)/out")[.size] as? Int) ?? 0 }
        for _ in 0..<100 where arrived() == 0 { usleep(100_000) }
        #expect(arrived() > 0, "the transfer started")
        // 10 × the limit of SYNs from c (no port security) to b, each a new connection.
        let flood = """
            from scapy.all import *
            pkts = [Ether(src='\(lab.mac("c"))',dst='\(lab.mac("b"))')/IP(src='\(lab.ip("c"))',dst='\(lab.ip("b"))')/TCP(sport=10000+i,dport=5650,flags='S',seq=i) for i in range(\(10 * limit))]
            sendp(pkts, iface='eth0', verbose=False)
            """
        let flooded = lab.python("c", flood)
        #expect(flooded.succeeded, "\(flooded.output)")
        let clientStatus = Shell.wait(clientPID)
        let serverStatus = Shell.wait(serverPID)
        reaped = true
        #expect(clientStatus == 0 && serverStatus == 0,
                "transfer: \((try? String(contentsOfFile: "\(lab.dir)/client.log", encoding: .utf8)) ?? "")")
        let sums = Shell.run(["sh", "-c", "sha256sum \(lab.dir)/in \(lab.dir)/out | cut -d' ' -f1"]).output.split(separator: "\n")
        #expect(sums.count == 2 && sums[0] == sums[1], "the transfer arrived intact: \(sums)")
        let (connections, capacity) = lab.engine.perform { datapath, _ in
            (datapath.conntrack?.connectionCount ?? -1, datapath.conntrack?.capacity ?? -1)
        } ?? (-1, -1)
        #expect(capacity == limit && connections <= limit)
        let refused = lab.dropCount("c", .conntrackLimit)
        #expect(refused >= UInt64(10 * limit - limit), "SYNs refused at the limit: \(refused)")
        #expect(lab.engine.statistics().frames.isBalanced)
    }

    /// The isolation scenario on veth (SecurityGroupIsolationTests in memory): `open`
    /// (egress anything) sends UDP 41000 → 7777 to `closed` (egress TCP 80 only, no
    /// ingress rule), which refuses it; `closed` then sends the reverse 5-tuple, and c
    /// (port security off) forges the same answer: neither reaches `open`. Both ways round.
    @Test(arguments: [("a", "b"), ("b", "a")])
    func answerToARefusedConnectionNeverArrives(open: String, closed: String) throws {
        let lab = try SGLab(net: open == "a" ? 128 : 129, rules: [Self.egressAll])
        defer { lab.tearDown() }
        lab.sg.upsert(SecurityGroup(id: "closed", rules: [
            SecurityGroupRule(direction: .egress, protocol: "tcp", portRangeMin: 80, portRangeMax: 80)!]))
        lab.sg.ports[closed == "a" ? 0 : 1].securityGroups = ["closed"]
        lab.sg.bind(SecurityPort(name: lab.topo.port("c"), mac: MACAddress(lab.mac("c"))!, fixedIPs: [AddressPrefix(lab.ip("c"))!],
                                 portSecurityEnabled: false))
        try lab.apply()
        func udp(from h: String, port: Int, to peer: String, port peerPort: Int) -> String {
            """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('\(lab.ip(h))', \(port)))
            for i in range(3):
                s.sendto(b'probe', ('\(lab.ip(peer))', \(peerPort))); time.sleep(0.1)
            """
        }
        #expect(lab.captured(at: closed, "udp and dst port 7777") { lab.python(open, udp(from: open, port: 41000, to: closed, port: 7777)) } == 0,
                "the receiver's ingress refuses the first packet")
        #expect(lab.captured(at: open, "udp and src port 7777") { lab.python(closed, udp(from: closed, port: 7777, to: open, port: 41000)) } == 0,
                "the reverse 5-tuple is no reply: the sender's egress refuses it")
        let forged = """
            from scapy.all import *
            sendp(Ether(src='\(lab.mac("c"))',dst='\(lab.mac(open))')/IP(src='\(lab.ip(closed))',dst='\(lab.ip(open))')/UDP(sport=7777,dport=41000)/b'forged', iface='eth0', count=3, verbose=False)
            """
        #expect(lab.captured(at: open, "udp and src port 7777") { lab.python("c", forged) } == 0,
                "a forged answer from a port without port security meets the addressee's ingress rules")
        #expect(lab.dropCount(closed, .flowDrop) >= 3)
        // Control: once the receiver admits UDP, the same exchange goes through both ways.
        lab.sg.upsert(SecurityGroup(id: "closed", rules: [
            SecurityGroupRule(direction: .egress, protocol: "tcp", portRangeMin: 80, portRangeMax: 80)!,
            SecurityGroupRule(direction: .ingress, protocol: "udp")!]))
        try lab.apply()
        #expect(lab.captured(at: closed, "udp and dst port 7777") { lab.python(open, udp(from: open, port: 41000, to: closed, port: 7777)) } >= 3)
        #expect(lab.captured(at: open, "udp and src port 7777") { lab.python(closed, udp(from: closed, port: 7777, to: open, port: 41000)) } >= 3,
                "now a reply")
        #expect(lab.engine.statistics().frames.isBalanced)
    }
}
}
