#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Foundation
import XDPDatapath
import XDPLab
import Testing

/// `xdpswitch run` restarted under a live TCP stream: the restarted switch adopts the
/// connections the previous process left in its state directory (StateFile.swift), so the
/// security group (and the router's NAT) keep letting the stream's segments through.
final class RestartLab {
    let topo = Topology()
    let binary: String
    let dir: String
    let config: String
    let control: String
    let stateDirectory: String
    private var runs = 0
    private(set) var switchPID: pid_t = 0

    init(hosts: [(name: String, ip: String, mac: String)]) throws {
        guard let binary = xdpswitchBinary() else {
            topo.tearDown()
            throw RestartLabError(description: "build xdpswitch first (swift build)")
        }
        self.binary = binary
        dir = "/tmp/\(topo.lab.prefix)-restart"
        config = dir + "/switch.yaml"
        control = dir + "/ctl"
        stateDirectory = dir + "/state"
        do {
            try Shell.check(["mkdir", "-p", dir])
            for h in hosts { try topo.addHost(h.name, ip: h.ip, mac: h.mac) }
        } catch {
            tearDown()
            throw error
        }
    }

    func write(_ yaml: String) throws {
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// Starts `xdpswitch run` (output to run-N.log) and waits until it is attached to
    /// `interfaces` and its control socket is up. Returns the run's log path.
    @discardableResult
    func start(_ extra: [String] = [], interfaces: [String]) throws -> String {
        runs += 1
        let log = "\(dir)/run-\(runs).log"
        Shell.run(["rm", "-f", control])
        switchPID = try Shell.spawn([binary, "run", "--config", config, "--control", control, "--state-dir", stateDirectory] + extra,
                                    logPath: log)
        for _ in 0..<100 where !interfaces.allSatisfy(xdpAttached) { usleep(50_000) }
        for _ in 0..<100 where access(control, F_OK) != 0 { usleep(50_000) }
        usleep(100_000)
        return log
    }

    /// Stops the running switch with `signal` and reaps it; returns its exit status.
    @discardableResult
    func stopSwitch(_ signal: Int32) -> Int32 {
        guard switchPID > 0 else { return -1 }
        kill(switchPID, signal)
        let status = Shell.wait(switchPID)
        switchPID = 0
        return status
    }

    func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// A paced TCP transfer of `megabytes` from `from` to `address`:`port` (in `to`,
    /// about `seconds` long), during which `interruption` runs once the first bytes
    /// arrived. Returns whether both ends finished with the file's sha256 intact, and what
    /// the ends said.
    func transfer(_ from: String, to: String, address: String, port: Int, megabytes: Int = 20, seconds: Double = 8,
                  interruption: () throws -> Void) throws -> (intact: Bool, detail: String) {
        try Shell.check(["dd", "if=/dev/urandom", "of=\(dir)/in", "bs=1M", "count=\(megabytes)", "status=none"])
        Shell.run(["rm", "-f", "\(dir)/out"])
        let chunk = 131_072
        let pause = seconds / Double(megabytes * 1_048_576 / chunk)
        let server = """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('0.0.0.0', \(port))); s.listen(1); s.settimeout(40)
            c, _ = s.accept(); c.settimeout(40)
            with open('\(dir)/out', 'wb') as f:
                while True:
                    d = c.recv(65536)
                    if not d: break
                    f.write(d); f.flush()
            c.sendall(b'k'); c.close()
            """
        let client = """
            import socket, time
            s = socket.create_connection(('\(address)', \(port)), timeout=40)
            data = open('\(dir)/in', 'rb').read()
            for i in range(0, len(data), \(chunk)):
                s.sendall(data[i:i + \(chunk)]); time.sleep(\(pause))
            s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
            """
        let serverPID = try spawn(in: to, ["/usr/bin/python3", "-c", server], log: "\(dir)/server.log")
        usleep(500_000)
        let clientPID: pid_t
        do { clientPID = try spawn(in: from, ["/usr/bin/python3", "-c", client], log: "\(dir)/client.log") } catch {
            kill(serverPID, SIGKILL); _ = Shell.wait(serverPID)
            throw error
        }
        var reaped = false
        defer { if !reaped { for pid in [clientPID, serverPID] { kill(pid, SIGKILL); _ = Shell.wait(pid) } } }
        func arrived() -> Int { (try? FileManager.default.attributesOfItem(atPath: "\(dir)/out")[.size] as? Int) ?? 0 }
        for _ in 0..<100 where arrived() == 0 { usleep(100_000) }
        guard arrived() > 0 else { return (false, "the transfer never started: \(log("\(dir)/client.log"))") }
        try interruption()
        let clientStatus = Shell.wait(clientPID)
        let serverStatus = Shell.wait(serverPID)
        reaped = true
        let sums = Shell.run(["sh", "-c", "sha256sum \(dir)/in \(dir)/out | cut -d' ' -f1"]).output.split(separator: "\n")
        let intact = clientStatus == 0 && serverStatus == 0 && sums.count == 2 && sums[0] == sums[1]
        return (intact, "client \(clientStatus): \(log("\(dir)/client.log")) server \(serverStatus): \(log("\(dir)/server.log")) "
                    + "bytes \(arrived()) sums \(sums)")
    }

    /// A numbered UDP stream of `count` datagrams, 1000 a second, from `from` to
    /// `address`:5005 (in `to`), during which `interruption` runs (from the stream's
    /// start). Returns how many arrived and the highest number that did (-1: none).
    func udpStream(_ from: String, to: String, address: String, count: Int = 6000,
                   interruption: () throws -> Void) throws -> (received: Int, last: Int) {
        let receiver = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5005)); s.settimeout(3)
            got = []
            try:
                while True: got.append(int(s.recv(64)))
            except socket.timeout: pass
            print(len(got), max(got) if got else -1)
            """
        let sender = """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            start = time.monotonic()
            for i in range(\(count)):
                while time.monotonic() < start + i / 1000: time.sleep(0.0002)
                s.sendto(str(i).encode(), ('\(address)', 5005))
            """
        let receiverLog = "\(dir)/udp-receiver.log"
        let receiverPID = try spawn(in: to, ["/usr/bin/python3", "-c", receiver], log: receiverLog)
        usleep(300_000)
        let senderPID: pid_t
        do { senderPID = try spawn(in: from, ["/usr/bin/python3", "-c", sender], log: "\(dir)/udp-sender.log") } catch {
            kill(receiverPID, SIGKILL); _ = Shell.wait(receiverPID)
            throw error
        }
        var failure: Error?
        do { try interruption() } catch { failure = error }
        let senderStatus = Shell.wait(senderPID)
        let receiverStatus = Shell.wait(receiverPID)
        if let failure { throw failure }
        let fields = log(receiverLog).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        guard senderStatus == 0, receiverStatus == 0, fields.count == 2 else {
            throw RestartLabError(description: "udp stream: sender \(senderStatus), receiver \(receiverStatus): \(log(receiverLog))")
        }
        return (fields[0], fields[1])
    }

    /// Waits (up to 5 s) until the running switch's snapshot of what it learned
    /// (learned.state, written every second) holds at least `macEntries` MAC entries: what a
    /// `kill -9` from then on leaves to the next run. Returns whether it does.
    @discardableResult
    func waitForLearnedSnapshot(macEntries: Int) -> Bool {
        func count() -> Int {
            log(stateDirectory + "/learned.state").split(separator: "\n").filter { $0.hasPrefix("mac ") }.count
        }
        for _ in 0..<50 where count() < macEntries { usleep(100_000) }
        return count() >= macEntries
    }

    /// Runs `xdpswitch ARGUMENTS --control <the lab's socket>` (dump-fastpath, stats...).
    func control(_ arguments: [String]) -> Shell.Result {
        Shell.run([binary] + arguments + ["--control", control])
    }

    /// Starts `command` in `h`'s namespace (nsenter execs: the pid is the command's own).
    func spawn(in h: String, _ command: [String], log: String) throws -> pid_t {
        try Shell.spawn(["nsenter", "--net=/run/netns/\(topo.namespace(h))"] + command, logPath: log)
    }

    /// Where `run` pins the fast path's program and maps for the lab's state directory.
    var pinDirectory: String { FastPathPinning.directory(forStateDirectory: stateDirectory) }

    func tearDown() {
        if switchPID > 0 { stopSwitch(SIGKILL) }
        FastPathPinning.remove(directory: pinDirectory)   // a killed switch leaves its pins
        Shell.run(["rm", "-rf", dir])
        topo.tearDown()
    }
}

struct RestartLabError: Error, CustomStringConvertible { var description: String }

extension AFXDPIntegrationTests {
@Suite("xdpswitch run restarted under live connections", .serialized)
struct RestartStateLiveTests {
    /// Two hosts on br-int behind a security group that lets TCP 5001 in.
    static func securityGroupYAML(_ lab: RestartLab, capacity: Int = 4096) -> String {
        let a = lab.topo.port("a"), b = lab.topo.port("b")
        return """
            bridges:
              - name: br-int
                ports:
                  - {name: \(a), tag: 1}
                  - {name: \(b), tag: 1}
            conntrack:
              max_connections: \(capacity)
            security_groups:
              - name: default
                rules:
                  - {direction: egress}
                  - {direction: ingress, protocol: icmp}
                  - {direction: ingress, protocol: tcp, port_range_min: 5001, port_range_max: 5001}
                  - {direction: ingress, protocol: udp, port_range_min: 5005, port_range_max: 5005}
            ports:
              - {name: \(a), mac_address: "02:00:00:9a:00:01", fixed_ips: [10.154.0.1], security_groups: [default]}
              - {name: \(b), mac_address: "02:00:00:9a:00:02", fixed_ips: [10.154.0.2], security_groups: [default]}

            """
    }

    static func securityGroupLab() throws -> RestartLab {
        try RestartLab(hosts: [("a", "10.154.0.1", "02:00:00:9a:00:01"), ("b", "10.154.0.2", "02:00:00:9a:00:02")])
    }

    /// The issue's measure: a 20 MB stream through a security group, the switch stopped
    /// (kill -9, or SIGTERM) four seconds in and started again one second later; the
    /// stream finishes with its sha256, and the restarted switch says it adopted it.
    @Test(arguments: [SIGKILL, SIGTERM])
    func aStreamThroughASecurityGroupSurvivesARestart(signal: Int32) throws {
        let lab = try Self.securityGroupLab()
        defer { lab.tearDown() }
        try lab.write(Self.securityGroupYAML(lab))
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        try lab.start(["--fresh"], interfaces: ports)
        var second = ""
        var learned = 0
        let result = try lab.transfer("a", to: "b", address: "10.154.0.2", port: 5001) {
            sleep(4)
            // The MAC entries the switch has (snapshotted every second) before it stops.
            let fdb = Shell.run([lab.binary, "fdb-show", "br-int", "--control", lab.control]).output
            learned = fdb.split(separator: "\n").filter { $0.contains("02:00:00:9a:00:0") }.count
            lab.stopSwitch(signal)
            sleep(1)
            second = try lab.start(interfaces: ports)
        }
        #expect(result.intact, "\(result.detail)\nswitch: \(lab.log(second))")
        let output = lab.log(second)
        #expect(output.contains("conntrack: state file \(lab.stateDirectory)/conntrack.state: adopted"), "\(output)")
        #expect(output.contains(signal == SIGTERM ? "stopped cleanly" : "ended without closing it"), "\(output)")
        // Its MAC entries were restored before the first packet (no flood to find them again).
        #expect(learned > 0)
        #expect(output.contains("\(lab.stateDirectory)/learned.state: restored \(learned) MAC entries, 0 neighbours"), "\(output)")
    }

    /// router1 between br-int (vm1 10.1.0.5 with floating IP 172.24.4.228 and a security
    /// group letting TCP 5002 in; vm2 10.1.0.6 without one) and br-ex (ext 172.24.4.225),
    /// SNAT to ports 20000-29999 (so a new translation would not keep the client's port).
    /// Without `securityGroup`, br-int has no flow tables.
    static func routerYAML(_ lab: RestartLab, securityGroup: Bool = true) -> String {
        let vm1 = lab.topo.port("vm1"), vm2 = lab.topo.port("vm2"), ext = lab.topo.port("ext")
        let group = """
            security_groups:
              - name: web
                rules:
                  - {direction: egress}
                  - {direction: ingress, protocol: tcp, port_range_min: 5002, port_range_max: 5002}
            ports:
              - {name: \(vm1), mac_address: "fa:16:3e:aa:00:05", fixed_ips: [10.1.0.5], security_groups: [web]}

            """
        return """
            bridges:
              - name: br-int
                ports:
                  - {name: \(vm1), tag: 1}
                  - {name: \(vm2), tag: 1}
                  - {name: qr-restart, type: router, tag: 1}
              - name: br-ex
                ports:
                  - {name: \(ext)}
                  - {name: qg-restart, type: router}
            routers:
              - name: router1
                interfaces:
                  - {name: qr-restart, mac: fa:16:3e:00:00:01, address: 10.1.0.1/24}
                  - {name: qg-restart, mac: fa:16:3e:00:00:02, address: 172.24.4.227/28}
                default_gateway: 172.24.4.225
                snat: {enabled: true, ports: 20000-29999}
                floating_ips:
                  - {floating: 172.24.4.228, fixed: 10.1.0.5}

            """ + (securityGroup ? group : "")
    }

    /// A stream through the router's SNAT (vm2 → ext) and one through the floating IP
    /// (ext → vm1, behind its security group), each across a kill -9 and a restart: the
    /// router's NAT connections (the translations) are adopted with the tracker's.
    @Test(arguments: ["snat", "floating-ip"])
    func aStreamThroughTheRoutersNATSurvivesAKill(path: String) throws {
        let lab = try RestartLab(hosts: [("vm1", "10.1.0.5", "fa:16:3e:aa:00:05"), ("vm2", "10.1.0.6", "fa:16:3e:aa:00:06"),
                                         ("ext", "172.24.4.225", "02:42:ac:18:04:e1")])
        defer { lab.tearDown() }
        for vm in ["vm1", "vm2"] {
            try Shell.check(["ip", "-n", lab.topo.namespace(vm), "route", "add", "default", "via", "10.1.0.1"])
        }
        try lab.write(Self.routerYAML(lab))
        let ports = [lab.topo.port("vm1"), lab.topo.port("vm2"), lab.topo.port("ext")]
        try lab.start(["--fresh"], interfaces: ports)
        var second = ""
        let interruption = {
            sleep(4)
            lab.stopSwitch(SIGKILL)
            sleep(1)
            second = try lab.start(interfaces: ports)
        }
        let result = path == "snat"
            ? try lab.transfer("vm2", to: "ext", address: "172.24.4.225", port: 5003, interruption: interruption)
            : try lab.transfer("ext", to: "vm1", address: "172.24.4.228", port: 5002, interruption: interruption)
        #expect(result.intact, "\(result.detail)\nswitch: \(lab.log(second))")
        let output = lab.log(second)
        #expect(output.contains("router router1: state file \(lab.stateDirectory)/router-router1.nat.state: adopted"), "\(output)")
        // The router's neighbours came back with it (no ARP before the first routed packet).
        #expect(output.contains("learned.state: restored") && !output.contains(", 0 neighbours"), "\(output)")
    }

    /// A corrupt state file and one of another geometry (max_connections changed) are
    /// refused in one line each; the switch starts with an empty tracker and forwards.
    @Test func aCorruptOrMismatchedStateFileIsRefusedInOneLine() throws {
        let lab = try Self.securityGroupLab()
        defer { lab.tearDown() }
        try lab.write(Self.securityGroupYAML(lab))
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        let file = "\(lab.stateDirectory)/conntrack.state"
        try lab.start(["--fresh"], interfaces: ports)
        #expect(lab.topo.ping("a", "b").succeeded)
        #expect(lab.stopSwitch(SIGTERM) == 0)
        // Bytes 16-23 (the payload size) overwritten: the header's checksum no longer holds.
        try Shell.check(["sh", "-c", "printf 'XXXXXXXX' | dd of=\(file) bs=1 seek=16 conv=notrunc status=none"])
        var log = try lab.start(interfaces: ports)
        var output = lab.log(log)
        var lines = output.split(separator: "\n").filter { $0.contains("conntrack.state") }
        #expect(lines.count == 1 && lines[0].hasPrefix("xdpswitch: conntrack: state file \(file): corrupt: header checksum")
                && lines[0].hasSuffix("; starting with no connections"), "\(output)")
        let ping = lab.topo.ping("a", "b")
        #expect(ping.succeeded, "\(ping.output)")
        #expect(lab.stopSwitch(SIGTERM) == 0)
        // Another capacity: another geometry.
        try lab.write(Self.securityGroupYAML(lab, capacity: 8192))
        log = try lab.start(interfaces: ports)
        output = lab.log(log)
        lines = output.split(separator: "\n").filter { $0.contains("conntrack.state") }
        #expect(lines.count == 1 && lines[0].hasPrefix("xdpswitch: conntrack: state file \(file): geometry differs: file 4096/")
                && lines[0].hasSuffix("; starting with no connections"), "\(output)")
        #expect(lab.topo.ping("a", "b").succeeded)
        #expect(lab.stopSwitch(SIGTERM) == 0)
    }

    /// The loss of a UDP stream (1000 datagrams a second, numbered) across a kill -9 and a
    /// restart one second later, measured and printed: what is lost is the time no
    /// process forwards (nothing forwards while the daemon is away, docs/operations.md);
    /// the stream flows again after the restart.
    @Test func udpLossAcrossAKillIsMeasured() throws {
        let lab = try Self.securityGroupLab()
        defer { lab.tearDown() }
        try lab.write(Self.securityGroupYAML(lab))
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        try lab.start(["--fresh"], interfaces: ports)
        var downtime = 0.0
        let stream = try lab.udpStream("a", to: "b", address: "10.154.0.2") {
            sleep(2)
            lab.stopSwitch(SIGKILL)
            let stopped = DatapathInstant.now().nanoseconds
            sleep(1)
            try lab.start(interfaces: ports)
            downtime = Double(DatapathInstant.now().nanoseconds - stopped) / 1e9
        }
        print("udp across kill -9 + restart: 6000 sent at 1000/s, \(stream.received) received, \(6000 - stream.received) lost; "
              + String(format: "switch away for %.2f s (kill to attached again)", downtime))
        #expect(stream.last == 5999, "the stream flows again after the restart")
        #expect(stream.received < 6000, "nothing forwards while no switch runs")
    }
}
}
