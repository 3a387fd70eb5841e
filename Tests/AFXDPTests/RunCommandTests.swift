#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import Testing

/// The built `xdpswitch` next to the test bundle (`swift build` builds it with the tests).
func xdpswitchBinary() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    var path = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while let last = path.last, last != "/" { path.removeLast() }
    // The test runner is .build/<config>/XDPSwitchPackageTests.xctest.
    let candidate = path + "xdpswitch"
    return access(candidate, X_OK) == 0 ? candidate : nil
}

extension AFXDPIntegrationTests {
@Suite("xdpswitch run on veth pairs")
struct RunCommandTests {
    @Test func runForwardsStopsOnSigtermAndSurvivesSigkill() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.90.0.1", mac: "02:00:00:90:00:01")
        try topo.addHost("b", ip: "10.90.0.2", mac: "02:00:00:90:00:02")
        let config = "/tmp/\(topo.lab.prefix)-run.yaml"
        let log = "/tmp/\(topo.lab.prefix)-run.log"
        defer { Shell.run(["rm", "-f", config, log]) }
        let yaml = """
            bridges:
              - name: br-int
                ports:
                  - {name: \(topo.port("a")), tag: 1}
                  - {name: \(topo.port("b")), tag: 1}

            """
        try Shell.check(["sh", "-c", "cat > \(config) <<'EOF'\n\(yaml)EOF"])

        func startSwitch() throws -> pid_t {
            let pid = try Shell.spawn([binary, "run", "--config", config], logPath: log)
            // Attached when the program shows up on both interfaces.
            for _ in 0..<100 where !(xdpAttached(topo.port("a")) && xdpAttached(topo.port("b"))) { usleep(50_000) }
            usleep(100_000)
            return pid
        }

        // 1. SIGTERM: forwards, then exits 0 and leaves nothing attached.
        var pid = try startSwitch()
        var ping = topo.ping("a", "b", count: 3)
        #expect(ping.succeeded, "\(ping.output)")
        kill(pid, SIGTERM)
        #expect(Shell.wait(pid) == 0)
        #expect(!xdpAttached(topo.port("a")) && !xdpAttached(topo.port("b")))

        // 2. SIGKILL: the bpf_link dies with the process; the next run attaches again.
        pid = try startSwitch()
        kill(pid, SIGKILL)
        #expect(Shell.wait(pid) == 128 + SIGKILL)
        pid = try startSwitch()
        ping = topo.ping("b", "a", count: 3)
        #expect(ping.succeeded, "\(ping.output)")
        kill(pid, SIGINT)
        #expect(Shell.wait(pid) == 0)
        #expect(!xdpAttached(topo.port("a")) && !xdpAttached(topo.port("b")))
        let output = Shell.run(["cat", log]).output
        #expect(output.contains("forwarding on \(topo.port("a")) (native"), "\(output)")
    }

    @Test func runWithMissingInterfaceFailsInOneLineAndAttachesNothing() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.90.1.1", mac: "02:00:00:90:01:01")
        let config = "/tmp/\(topo.lab.prefix)-bad.yaml"
        defer { Shell.run(["rm", "-f", config]) }
        try Shell.check(["sh", "-c", "printf 'bridges:\\n  - name: br0\\n    ports:\\n      - {name: \(topo.port("a"))}\\n      - {name: xtmissing0}\\n' > \(config)"])
        let result = Shell.run([binary, "run", "--config", config])
        #expect(result.status != 0)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 1, "\(result.output)")
        #expect(result.output.contains("xtmissing0: if_nametoindex: No such device"), "\(result.output)")
        #expect(!xdpAttached(topo.port("a")))
    }
}
}
