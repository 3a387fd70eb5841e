#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NeutronModel
import Testing
import XDPLab

/// `xdpswitch agent` on one `all`-role node, driven through the real `openstack` client and
/// the real `xdpswitch server`, with VMs as namespaces behind their taps: DHCP, ping, a
/// security-group rule taking effect, port status, a port deleted, and `kill -9` + restart.
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

        // The tenant's network (a GRE network: the server's default tenant type), its subnet
        // with DHCP, a security group that lets ICMP in, and two VM ports on this host.
        try lab.openstack("network", "create", "net1")
        try lab.openstack("subnet", "create", "--network", "net1", "--subnet-range", "10.61.0.0/24", "sub1")
        try lab.openstack("security", "group", "create", "vms")
        try lab.openstack("security", "group", "rule", "create", "--ingress", "--protocol", "icmp", "vms")
        let vm1 = try lab.addVM("vm1", network: "net1", securityGroup: "vms")
        let vm2 = try lab.addVM("vm2", network: "net1", securityGroup: "vms")
        try lab.startAgent()

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

        // SIGTERM: a clean stop.
        #expect(lab.stopAgent() == 0, failure("the agent did not exit 0 on SIGTERM"))
        #expect(lab.agentOutput.contains("SIGTERM: stopped"))
    }
}
