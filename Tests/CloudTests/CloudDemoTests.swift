import Foundation
import Testing
import XDPLab

/// `make demo` as a test: scripts/demo-cloud.sh builds the reference design's cloud (API server,
/// a network node and two compute nodes as agents in their own namespaces, two VMs, an external
/// network) with the real `openstack` client and checks DHCP, cross-node traffic, the security
/// group, SNAT, the floating IP and metadata with real traffic, then a second network with the
/// same CIDR (isolated, its own metadata) and a VM moved between compute nodes. Every check prints PASS or FAIL;
/// the script exits non-zero on any FAIL.
@Suite(.serialized) struct CloudDemoTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Why the demo cannot run here, or nil.
    static var missingCapability: String? {
        if getuid() != 0 { return "needs root (network namespaces, veth pairs, AF_XDP)" }
        let client = packageRoot.appendingPathComponent(".venv-openstack/bin/openstack").path
        if !FileManager.default.isExecutableFile(atPath: client) {
            return "no openstack client at .venv-openstack (scripts/install-openstack-client.sh)"
        }
        return nil
    }

    /// The `xdpswitch` built beside the test runner.
    static func xdpswitch() throws -> String {
        let runner = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let path = runner.deletingLastPathComponent().appendingPathComponent("xdpswitch").path
        try #require(FileManager.default.isExecutableFile(atPath: path), "no xdpswitch beside the test runner at \(path)")
        return path
    }

    /// Runs the demo in `mode`; returns its exit status and output. `Shell.run` waits with
    /// waitpid: Foundation's `Process.waitUntilExit` was seen spinning forever on a demo that
    /// had exited (its child left a zombie the monitor never noticed).
    static func runDemo(mode: String) throws -> (status: Int32, output: String) {
        let result = Shell.run(["env", "MODE=\(mode)", "DEMO_PREFIX=xt\(getpid() % 100_000)\(mode.prefix(1))",
                                "/bin/bash", packageRoot.appendingPathComponent("scripts/demo-cloud.sh").path, try xdpswitch()])
        return (result.status, result.output)
    }

    @Test(arguments: ["gre", "vlan"])
    func demoPassesEveryCheck(mode: String) throws {
        if let reason = Self.missingCapability {
            print("CloudDemoTests: skipped: \(reason)")
            return
        }
        let (status, output) = try Self.runDemo(mode: mode)
        let lines = output.split(separator: "\n").map(String.init)
        let passes = lines.filter { $0.contains("PASS") }
        let failures = lines.filter { $0.contains("FAIL") }
        #expect(failures.isEmpty, "MODE=\(mode): \(failures.joined(separator: "\n"))\n\(output)")
        #expect(status == 0, "MODE=\(mode): exit \(status)\n\(output)")
        // agents, ports ACTIVE, 2× DHCP, ping, TCP 22, TCP 80 refused, SNAT, floating IP out, metadata;
        // the second network: DHCP, isolation from the first, its own metadata; the VM moved.
        #expect(passes.count == 14, "MODE=\(mode): \(passes.count) checks passed\n\(output)")
    }
}
