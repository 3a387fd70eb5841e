#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import NeutronModel
import XDPLab

/// One node driven by `xdpswitch agent` against a real `xdpswitch server`: the server on a
/// SQLite file in a temporary folder, VMs as namespaces behind veth pairs named as Nova
/// names taps (`tap` + the first 11 characters of the port id), an underlay veth for the
/// tunnel endpoint, and the agent process itself. Everything is removed by `tearDown()`
/// (from a `defer`), whatever happened.
final class AgentLab {
    let folder: TemporaryDirectory
    let server: ServerProcess
    let lab = LabNetwork(tag: "n")
    let host: String
    /// The interface the tunnels use (the agent's `--tunnel-interface`).
    let underlay: String
    var stateDirectory: String { folder.path + "/state" }
    var controlSocket: String { folder.path + "/agent.ctl" }
    var agentLog: String { folder.path + "/agent.log" }
    private(set) var agentPID: pid_t?
    private var taps: [String] = []

    /// A VM: its port as the server made it, its namespace and its interface there.
    struct VM {
        let name: String
        let portID: String
        let mac: String
        let address: String
        let namespace: String
        var tap: String { "tap" + portID.prefix(11) }
    }

    init() throws {
        folder = try TemporaryDirectory()
        server = try ServerProcess(database: folder.path + "/model.db", logPath: folder.path + "/server.log")
        host = "host-\(lab.prefix)"
        underlay = lab.prefix + "ul"
        // The underlay: a veth pair whose other end stays in this namespace, up.
        try Shell.check(["ip", "link", "add", underlay, "type", "veth", "peer", "name", lab.prefix + "up"])
        taps.append(underlay)
        try Shell.check(["ip", "link", "set", lab.prefix + "up", "up"])
        try Shell.check(["ip", "link", "set", underlay, "up"])
    }

    func tearDown() {
        if let agentPID { kill(agentPID, SIGKILL); _ = Shell.wait(agentPID); self.agentPID = nil }
        server.stop()
        for tap in taps { Shell.run(["ip", "link", "del", tap]) }
        taps = []
        lab.tearDown()
    }

    deinit { tearDown() }

    // MARK: the cloud

    /// `openstack …` against the lab's server, its `-f json` output.
    @discardableResult
    func openstack(_ arguments: String...) throws -> JSONValue {
        try OpenStackCLI.json(server.endpoint, arguments)
    }

    /// `openstack …` for the commands that print nothing (delete, set): fails on a non-zero exit.
    func openstackQuiet(_ arguments: String...) throws {
        let result = try OpenStackCLI.run(server.endpoint, arguments)
        guard result.status == 0 else {
            throw HarnessError("openstack \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
    }

    /// Runs `body` (Python) with openstacksdk connected to the lab's server: `conn`, `json`,
    /// `HOST` (this host), `net` (network net1), `others` (group others) and `pause()` (waits
    /// 0.3 s, returns true) are defined. Its output is one line of JSON.
    @discardableResult
    func sdk(_ body: String) throws -> JSONValue {
        let script = """
            import json, time, openstack
            conn = openstack.connect(auth_type="none", auth={"endpoint": "\(server.endpoint)"})
            HOST = "\(host)"
            net = conn.network.find_network("net1")
            others = conn.network.find_security_group("others")
            def pause():
                time.sleep(0.3)
                return True

            """ + body
        let result = try OpenStackCLI.runProgram(OpenStackCLI.python, ["-c", script])
        guard result.status == 0, let line = result.stdout.split(separator: "\n").last else {
            throw HarnessError("openstacksdk script exited \(result.status): \(result.stderr)")
        }
        return try JSONValue.decode(Data(line.utf8))
    }

    /// The tenant's network net1 (a GRE network: the server's default tenant type), its
    /// subnet sub1 on `cidr` with DHCP, a security group "vms" that lets ICMP in, two VMs on
    /// it bound to this host, and the agent started.
    func startTenant(cidr: String) throws -> (VM, VM) {
        try openstack("network", "create", "net1")
        try openstack("subnet", "create", "--network", "net1", "--subnet-range", cidr, "sub1")
        try openstack("security", "group", "create", "vms")
        try openstack("security", "group", "rule", "create", "--ingress", "--protocol", "icmp", "vms")
        let vms = (try addVM("vm1", network: "net1", securityGroup: "vms"), try addVM("vm2", network: "net1", securityGroup: "vms"))
        try startAgent()
        return vms
    }

    /// Creates a port for VM `name` bound to this host, and the VM: a namespace whose `eth0`
    /// (with the port's MAC) is the peer of the port's tap. No address: DHCP gives it.
    func addVM(_ name: String, network: String, securityGroup: String) throws -> VM {
        let port = try openstack("port", "create", "--network", network, "--host", host,
                                 "--security-group", securityGroup, "--device-owner", "compute:nova", name)
        guard let id = port["id"]?.string, let mac = port["mac_address"]?.string,
              let address = Self.firstAddress(port["fixed_ips"]) else {
            throw HarnessError("port create \(name): unexpected answer \(port)")
        }
        let namespace = try lab.addNamespace(name)
        let vm = VM(name: name, portID: id, mac: mac, address: address, namespace: namespace)
        try plug(vm)
        return vm
    }

    /// The VM's tap and its `eth0` (again, after `unplug`).
    func plug(_ vm: VM) throws {
        try Shell.check(["ip", "link", "add", vm.tap, "type", "veth", "peer", "name", "eth0", "netns", vm.namespace])
        taps.append(vm.tap)
        try Shell.check(["ip", "-n", vm.namespace, "link", "set", "eth0", "address", vm.mac])
        LabNetwork.disableOffloads(vm.tap, namespace: nil)
        LabNetwork.disableOffloads("eth0", namespace: vm.namespace)
        Shell.run(["ip", "netns", "exec", vm.namespace, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"])
        Shell.run(["sysctl", "-qw", "net.ipv6.conf.\(vm.tap).disable_ipv6=1"])
        try Shell.check(["ip", "-n", vm.namespace, "link", "set", "eth0", "up"])
        try Shell.check(["ip", "link", "set", vm.tap, "up"])
    }

    /// A tap for a port with no VM behind it: the veth's far end stays here, up.
    func plugLoose(_ vm: VM) throws {
        try Shell.check(["ip", "link", "add", vm.tap, "type", "veth", "peer", "name", lab.prefix + "p" + vm.portID.prefix(4)])
        taps.append(vm.tap)
        Shell.run(["sysctl", "-qw", "net.ipv6.conf.\(vm.tap).disable_ipv6=1"])
        try Shell.check(["ip", "link", "set", lab.prefix + "p" + vm.portID.prefix(4), "up"])
        try Shell.check(["ip", "link", "set", vm.tap, "up"])
    }

    /// Removes the VM's tap (the VM "shut down").
    func unplug(_ vm: VM) {
        Shell.run(["ip", "link", "del", vm.tap])
        taps.removeAll { $0 == vm.tap }
    }

    /// The first `ip_address` of a port's `fixed_ips` as the client prints it.
    static func firstAddress(_ fixedIPs: JSONValue?) -> String? {
        if let list = fixedIPs?.array, let first = list.first { return first["ip_address"]?.string }
        // Older clients print "ip_address='10.0.0.3', subnet_id='…'".
        if let text = fixedIPs?.string, let range = text.range(of: "ip_address='") {
            return String(text[range.upperBound...].prefix { $0 != "'" })
        }
        return nil
    }

    // MARK: the agent

    /// Starts `xdpswitch agent` for this host (role all, the tunnel on the underlay veth).
    /// Without the metadata service: its namespaces and proxies would outlive the agent's
    /// `kill -9` (the metadata tests and the demo cover it).
    func startAgent() throws {
        precondition(agentPID == nil)
        let arguments = [try xdpswitchBinary(), "agent", "--server", server.endpoint, "--host", host, "--role", "all",
                         "--tunnel-ip", "172.31.\(getpid() % 200).1/24", "--tunnel-interface", underlay,
                         "--state-dir", stateDirectory, "--control", controlSocket, "--report-interval", "1",
                         "--poll-timeout", "5", "--no-metadata", "--metrics", "127.0.0.1:0"]
        agentPID = try Shell.spawn(arguments, logPath: agentLog)
    }

    /// `kill -9` of the agent (nothing cleaned up by it).
    func killAgent() {
        guard let agentPID else { return }
        kill(agentPID, SIGKILL)
        _ = Shell.wait(agentPID)
        self.agentPID = nil
    }

    /// SIGTERM; returns the agent's exit status.
    func stopAgent() -> Int32? {
        guard let agentPID else { return nil }
        kill(agentPID, SIGTERM)
        let status = Shell.wait(agentPID)
        self.agentPID = nil
        return status
    }

    var agentOutput: String { (try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? "" }

    /// The running agent's metrics (`--metrics 127.0.0.1:0`: the URL its start line names), by curl.
    func scrapeMetrics() -> String? {
        guard let range = agentOutput.range(of: "metrics http://127.0.0.1:", options: .backwards) else { return nil }
        let port = agentOutput[range.upperBound...].prefix(while: \.isNumber)
        let result = Shell.run(["curl", "-sS", "--max-time", "10", "http://127.0.0.1:\(port)/metrics"])
        return result.succeeded ? result.output : nil
    }

    /// A control-socket verb of the running agent (`dump-flows br-int`), its output.
    func control(_ verb: String...) -> Shell.Result {
        Shell.run([(try? xdpswitchBinary()) ?? "xdpswitch"] + verb + ["--control", controlSocket])
    }

    /// A tenant (`startTenant`) whose group "vms" allows TCP 22, both VMs leased by DHCP
    /// and vm1 pinging vm2 — what the transfer tests start from. `failure` adds context.
    func startTenantForTransfers(cidr: String, failure: (String) -> Comment) throws -> (VM, VM) {
        let (vm1, vm2) = try startTenant(cidr: cidr)
        try openstack("security", "group", "rule", "create", "--ingress", "--protocol", "tcp", "--dst-port", "22", "vms")
        for vm in [vm1, vm2] {
            #expect(eventually(20) { (try? dhcp(vm)) == vm.address }, failure("\(vm.name) got no DHCP lease"))
        }
        #expect(eventually(10) { run(vm1, "ping", "-c", "1", "-W", "1", vm2.address).succeeded }, failure("no ping"))
        return (vm1, vm2)
    }

    /// A TCP transfer of `megabytes` random bytes from `from` to port 22 of `to`, paced (16
    /// KiB every `pause` seconds) until the file `fullSpeed` exists, then at full speed.
    /// Both ends print "BYTES SHA256"; `finish()` waits for them.
    struct Transfer {
        let sender: pid_t, receiver: pid_t
        let senderLog: String, receiverLog: String
        /// Waits for both ends: their exit statuses and the lines they printed.
        func finish() -> (sent: Int32, received: Int32, senderLine: String, receiverLine: String) {
            let sent = Shell.wait(sender), received = Shell.wait(receiver)
            return (sent, received, ((try? String(contentsOfFile: senderLog, encoding: .utf8)) ?? ""),
                    ((try? String(contentsOfFile: receiverLog, encoding: .utf8)) ?? ""))
        }
    }

    func startTransfer(from: VM, to: VM, megabytes: Int, pause: Double, fullSpeed: String, timeout: Int) throws -> Transfer {
        let receiverLog = folder.path + "/receiver.log", senderLog = folder.path + "/sender.log"
        let receiver = try Shell.spawn(["ip", "netns", "exec", to.namespace, "python3", "-c", """
            import hashlib, socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", 22)); s.listen(1); s.settimeout(120)
            c, _ = s.accept(); c.settimeout(\(timeout)); h = hashlib.sha256(); n = 0
            while True:
                d = c.recv(65536)
                if not d: break
                h.update(d); n += len(d)
            print(n, h.hexdigest(), flush=True)
            """], logPath: receiverLog)
        usleep(500_000)
        let sender = try Shell.spawn(["ip", "netns", "exec", from.namespace, "python3", "-c", """
            import hashlib, os, random, socket, time
            data = random.Random(\(megabytes)).randbytes(\(megabytes) * 1024 * 1024)
            c = socket.create_connection(("\(to.address)", 22), timeout=\(timeout))
            for i in range(0, len(data), 16384):
                c.sendall(data[i:i + 16384])
                if not os.path.exists("\(fullSpeed)"): time.sleep(\(pause))
            c.close()
            print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
            """], logPath: senderLog)
        return Transfer(sender: sender, receiver: receiver, senderLog: senderLog, receiverLog: receiverLog)
    }

    /// Runs `command` in the VM.
    @discardableResult
    func run(_ vm: VM, _ command: String...) -> Shell.Result {
        lab.run(in: vm.namespace, command)
    }

    /// busybox udhcpc in the VM, with a script that sets the address it is given; the
    /// address the VM has afterwards.
    func dhcp(_ vm: VM) throws -> String? {
        let script = folder.path + "/udhcpc.sh"
        if !FileManager.default.fileExists(atPath: script) {
            try """
            #!/bin/sh
            case "$1" in
              bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
            esac
            """.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
        }
        let result = run(vm, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", script)
        guard result.succeeded else { return nil }
        let shown = run(vm, "ip", "-4", "-o", "addr", "show", "dev", "eth0").output
        guard let range = shown.range(of: "inet ") else { return nil }
        return String(shown[range.upperBound...].prefix { $0 != "/" })
    }

    /// Polls `condition` every 200 ms for up to `seconds`; whether it became true.
    func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(200_000)
        } while Date() < deadline
        return try condition()
    }
}
