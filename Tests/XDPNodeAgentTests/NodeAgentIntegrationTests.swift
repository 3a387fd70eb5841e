#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NeutronModel
import Testing
import XDPLab

/// `xdpswitch agent` on one `all`-role node, driven through the real `openstack` client and
/// the real `xdpswitch server`, with VMs as namespaces behind their taps: DHCP, ping, a
/// security-group rule taking effect, port status, a port deleted, `kill -9` + restart, the
/// server away; and traffic while ports and rules change. One test at a time: each runs a
/// server, an agent and the VMs' traffic.
@Suite(.serialized) struct NodeAgentIntegrationTests {
    static var canRun: Bool {
        guard getuid() == 0 else {
            print("NodeAgentIntegrationTests: skipped: needs root (network namespaces, AF_XDP)")
            return false
        }
        return OpenStackCLI.available
    }

    @Test(.enabled(if: canRun)) func agentRunsTheHostsShareOfTheModel() throws {
        let lab = try AgentLab()
        defer { lab.tearDown() }
        func failure(_ what: String) -> Comment { Comment(rawValue: "\(what)\n--- agent log:\n\(lab.agentOutput)") }
        let (vm1, vm2) = try lab.startTenant(cidr: "10.61.0.0/24")

        // DHCP from the agent's responder (role all serves the network's DHCP).
        var leased1: String?, leased2: String?
        #expect(lab.eventually(20) { leased1 = try? lab.dhcp(vm1); return leased1 != nil }, failure("vm1 got no DHCP lease"))
        #expect(lab.eventually(20) { leased2 = try? lab.dhcp(vm2); return leased2 != nil }, failure("vm2 got no DHCP lease"))
        #expect(leased1 == vm1.address)
        #expect(leased2 == vm2.address)
        #expect(lab.run(vm1, "ping", "-c", "3", "-i", "0.2", "-W", "2", vm2.address).succeeded, failure("vm1 cannot ping vm2"))
        #expect(lab.run(vm2, "ping", "-c", "3", "-i", "0.2", "-W", "2", vm1.address).succeeded, failure("vm2 cannot ping vm1"))

        // The ports show ACTIVE once their interfaces are attached.
        for vm in [vm1, vm2] {
            #expect(lab.eventually(15) { (try? lab.openstack("port", "show", vm.portID))?["status"]?.string == "ACTIVE" },
                    failure("\(vm.name)'s port is not ACTIVE"))
        }

        // The agent's metrics: its own events and the engine's counters of the VM ports.
        let metrics = try #require(lab.scrapeMetrics(), failure("no metrics from the agent"))
        func value(_ text: String, _ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
        }
        #expect((value(metrics, "xdpswitch_agent_revisions_applied_total") ?? 0) >= 1, failure(metrics))
        #expect(value(metrics, "xdpswitch_agent_server_reachable") == 1, failure(metrics))
        #expect((value(metrics, #"xdpswitch_port_rx_packets_total{port="\#(vm1.tap)",bridge="br-int"}"#) ?? 0) >= 3, failure(metrics))
        #expect(metrics.contains("xdpswitch_dhcp_leases{network="), failure(metrics))

        // TCP 22 is refused until the rule allowing it is created; port 2222 stays refused.
        let listeners = [22, 2222].map { port in
            try? Shell.spawn(["ip", "netns", "exec", vm2.namespace, "nc", "-lk", "-p", "\(port)"], logPath: "/dev/null")
        }
        defer { for case let pid? in listeners { kill(pid, SIGKILL); _ = Shell.wait(pid) } }
        func connects(_ port: Int) -> Bool {
            lab.run(vm1, "nc", "-z", "-w", "2", vm2.address, "\(port)").succeeded
        }
        #expect(!connects(22), failure("TCP 22 passed before any rule allowed it"))
        try lab.openstack("security", "group", "rule", "create", "--ingress", "--protocol", "tcp", "--dst-port", "22", "vms")
        #expect(lab.eventually(15) { connects(22) }, failure("TCP 22 still refused after the rule"))
        #expect(!connects(2222), failure("TCP 2222 passed: only 22 is allowed"))

        // The node configuration written, and the flows of vm2's port on br-int.
        let yaml = try String(contentsOfFile: lab.stateDirectory + "/node.yaml", encoding: .utf8)
        #expect(yaml.contains(vm1.tap) && yaml.contains(vm2.tap))
        #expect(lab.control("dump-flows", "br-int").output.contains(vm2.mac), failure("no flow names vm2's MAC"))

        // kill -9 and restart: the same configuration, byte for byte, and traffic again.
        lab.killAgent()
        try lab.startAgent()
        #expect(lab.eventually(20) { lab.run(vm1, "ping", "-c", "1", "-W", "1", vm2.address).succeeded },
                failure("no traffic after the agent's restart"))
        #expect(lab.eventually(10) { lab.agentOutput.components(separatedBy: "connected to").count == 3 })
        let again = try String(contentsOfFile: lab.stateDirectory + "/node.yaml", encoding: .utf8)
        #expect(again == yaml, "the restarted agent compiled another configuration")
        #expect(connects(22), failure("TCP 22 refused after the restart"))

        // Deleting vm2's port removes its flows (its tap still there); vm1 keeps working.
        try lab.openstackQuiet("port", "delete", vm2.portID)
        #expect(lab.eventually(15) { !lab.control("dump-flows", "br-int").output.contains(vm2.mac) },
                failure("vm2's flows are still there after its port was deleted"))
        #expect(!(try String(contentsOfFile: lab.stateDirectory + "/node.yaml", encoding: .utf8)).contains(vm2.tap))
        #expect(lab.control("show").output.contains(vm1.tap))
        lab.unplug(vm2)

        // The server goes away: forwarding goes on with the last configuration, and the log
        // says so once however many retries follow.
        lab.server.stop()
        usleep(4_000_000)
        #expect((try? lab.dhcp(vm1)) == vm1.address, failure("vm1's DHCP lease not renewed with the server away"))
        let unreachable = lab.agentOutput.components(separatedBy: "server unreachable").count - 1
        #expect(unreachable == 1, failure("expected one 'server unreachable' line, found \(unreachable)"))
        let away = lab.scrapeMetrics() ?? ""
        #expect(value(away, "xdpswitch_agent_server_reachable") == 0 && value(away, "xdpswitch_agent_server_unreachable_total") == 1,
                failure(away))

        // SIGTERM: a clean stop.
        #expect(lab.stopAgent() == 0, failure("the agent did not exit 0 on SIGTERM"))
        #expect(lab.agentOutput.contains("SIGTERM: stopped"))
    }
}

/// Changes applied in place while traffic runs: a ping flood and a paced 10 MB TCP transfer
/// between two VMs while 50 changes happen elsewhere on the same node and network — 20 ports
/// created and deleted (5 with a tap plugged), 5 rules of another group added and removed.
/// Not a packet lost, and the transfer arrives whole (its sha256).
extension NodeAgentIntegrationTests {
    @Test(.enabled(if: canRun)) func trafficKeepsFlowingWhilePortsAndRulesChange() throws {
        let lab = try AgentLab()
        defer { lab.tearDown() }
        func failure(_ what: String) -> Comment { Comment(rawValue: "\(what)\n--- agent log:\n\(lab.agentOutput)") }
        try lab.openstack("security", "group", "create", "others")
        let (vm1, vm2) = try lab.startTenantForTransfers(cidr: "10.63.0.0/24", failure: failure)

        // The traffic: floods of 500 pings, one after the other until told to stop, and a
        // 10 MB transfer to vm2's port 22, paced (16 KiB every 0.1 s) until the changes are
        // over and then at full speed, so that it runs through all of them. Each flood has a
        // deadline (`-w 10`) instead of a reply timeout: with replies coming, `-W` gives the
        // last one only two round trips (~0.1 ms here), so a reply held for the few
        // milliseconds a reconfiguration takes the worker would be counted lost although it
        // arrived; with `-w` only a reply that never comes is.
        let stop = lab.folder.path + "/stop"
        let pingLog = lab.folder.path + "/ping.log"
        let pinger = try Shell.spawn(["ip", "netns", "exec", vm1.namespace, "sh", "-c",
                                      "while [ ! -e \(stop) ]; do echo \"$(ping -q -f -c 500 -w 10 \(vm2.address) | grep transmitted) at $(date +%T.%N)\"; done"],
                                     logPath: pingLog)
        let transfer = try lab.startTransfer(from: vm1, to: vm2, megabytes: 10, pause: 0.1, fullSpeed: stop, timeout: 30)

        // 50 changes elsewhere, through openstacksdk (the client library under the openstack
        // command), a change every 0.3 s: 20 ports on net1 bound to this host (5 plugged)
        // created, 5 rules of group "others" added, then all of them deleted.
        let created = try lab.sdk("""
            ports = [conn.network.create_port(network_id=net.id, binding_host_id=HOST, name=f"churn{i}",
                                              security_group_ids=[others.id], device_owner="compute:nova")
                     for i in range(20) if pause()]
            rules = [conn.network.create_security_group_rule(security_group_id=others.id, direction="ingress",
                                                             protocol="tcp", port_range_min=p, port_range_max=p)
                     for p in range(1000, 1005) if pause()]
            print(json.dumps({"ports": [[p.id, p.mac_address] for p in ports], "rules": [r.id for r in rules]}))
            """)
        let churned = (created["ports"]?.array ?? []).compactMap { pair -> AgentLab.VM? in
            guard let id = pair[0]?.string, let mac = pair[1]?.string else { return nil }
            return AgentLab.VM(name: "churn", portID: id, mac: mac, address: "", namespace: "")
        }
        let rules = (created["rules"]?.array ?? []).compactMap(\.string)
        #expect(churned.count == 20 && rules.count == 5)
        for vm in churned.prefix(5) { try lab.plugLoose(vm) }
        usleep(1_000_000)
        let quoted = { (ids: [String]) in ids.map { "\"\($0)\"" }.joined(separator: ", ") }
        try lab.sdk("""
            for r in [\(quoted(rules))]: pause(); conn.network.delete_security_group_rule(r)
            for p in [\(quoted(churned.map(\.portID)))]: pause(); conn.network.delete_port(p)
            print("{}")
            """)
        for vm in churned { lab.unplug(vm) }
        usleep(1_000_000)

        // The transfer ends at full speed, then the floods stop.
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        let (sent, received, senderLine, receiverLine) = transfer.finish()
        _ = Shell.wait(pinger)
        #expect(sent == 0 && received == 0, failure("sender \(sent) \(senderLine), receiver \(received) \(receiverLine)"))
        #expect(senderLine.hasPrefix("10485760 ") && receiverLine == senderLine,
                failure("sent \(senderLine) received \(receiverLine)"))

        let floods = ((try? String(contentsOfFile: pingLog, encoding: .utf8)) ?? "").split(separator: "\n")
        var transmitted = 0, answered = 0
        for line in floods {
            let numbers = line.split(separator: " ").compactMap { Int($0) }
            if numbers.count >= 2 { transmitted += numbers[0]; answered += numbers[1] }
        }
        let changes = lab.agentOutput.components(separatedBy: "applied:").count - 1
        print("NodeAgentIntegrationTests: \(changes) configurations applied; \(floods.count) floods, \(transmitted) pings, "
              + "\(answered) answered; transfer \(receiverLine.trimmingCharacters(in: .newlines))")
        #expect(floods.count >= 2 && transmitted >= 1000, failure("the floods did not run: \(floods)"))
        let lossy = floods.filter { !$0.contains(" 0% packet loss") }
        #expect(answered == transmitted, failure("\(transmitted - answered) of \(transmitted) pings lost while the ports changed: \(lossy)"))
        #expect(changes >= 10, failure("only \(changes) configurations applied during the changes"))
    }
}

/// `kill -9` of the agent in the middle of a TCP transfer through a security group, and a
/// restart a second later: while the agent is away nothing forwards (its programs went with
/// it), the VMs' TCP retransmits, and the restarted agent adopts the connection tracker's
/// state file from its `--state-dir`, so the mid-stream segments are the same established
/// connection again (without it they are invalid and the group drops them). The transfer
/// arrives whole.
extension NodeAgentIntegrationTests {
    @Test(.enabled(if: canRun)) func aTransferSurvivesTheAgentsKill9AndRestart() throws {
        let lab = try AgentLab()
        defer { lab.tearDown() }
        func failure(_ what: String) -> Comment { Comment(rawValue: "\(what)\n--- agent log:\n\(lab.agentOutput)") }
        let (vm1, vm2) = try lab.startTenantForTransfers(cidr: "10.64.0.0/24", failure: failure)

        // 8 MB from vm1 to vm2:22, paced (16 KiB every 0.05 s) until told to go at full speed.
        let fast = lab.folder.path + "/fast"
        let transfer = try lab.startTransfer(from: vm1, to: vm2, megabytes: 8, pause: 0.05, fullSpeed: fast, timeout: 90)
        var reaped = false
        defer {
            if !reaped {
                for pid in [transfer.sender, transfer.receiver] { kill(pid, SIGKILL) }
                _ = transfer.finish()
            }
        }

        // Two seconds in (the connection established and moving): kill -9, restart 1 s later.
        usleep(2_000_000)
        let sizeBefore = lab.agentOutput.count
        lab.killAgent()
        usleep(1_000_000)
        try lab.startAgent()
        #expect(lab.eventually(30) { lab.agentOutput.dropFirst(sizeBefore).contains("applied:") }, failure("the restarted agent applied nothing"))
        let restartLog = String(lab.agentOutput.dropFirst(sizeBefore))
        // The restarted agent reports adopting the tracker's connections (at least this one).
        #expect(restartLog.contains("conntrack: state file") && restartLog.contains("ended without closing it")
                && !restartLog.contains("adopted 0 connections"), failure("conntrack state not adopted"))
        // … and learning back the MAC entries of the killed agent's engine (its snapshot, every second).
        #expect(restartLog.contains("learned.state: restored ") && !restartLog.contains("restored 0 MAC entries"),
                failure("learned state not restored"))

        _ = FileManager.default.createFile(atPath: fast, contents: nil)
        let (sent, received, senderLine, receiverLine) = transfer.finish()
        reaped = true
        print("NodeAgentIntegrationTests: transfer across kill -9: sent \(senderLine.trimmingCharacters(in: .newlines)), "
              + "received \(receiverLine.trimmingCharacters(in: .newlines))")
        #expect(sent == 0 && received == 0, failure("sender \(sent) \(senderLine), receiver \(received) \(receiverLine)"))
        #expect(senderLine.hasPrefix("8388608 ") && receiverLine == senderLine, failure("sent \(senderLine) received \(receiverLine)"))
    }
}
