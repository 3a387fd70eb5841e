#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPLab
import XDPScenarios
import Testing

/// The bench lab's pieces that need no traffic: the generator's template frames and the
/// forwarder-namespace topology. (No timing here: throughput is checked by `make bench-check`.)
@Suite("bench lab")
struct BenchLabTests {
    private func checksumOK(_ f: [UInt8], at l3: Int) -> Bool {
        var sum: UInt32 = 0
        for i in stride(from: l3, to: l3 + 20, by: 2) { sum += UInt32(f[i]) << 8 | UInt32(f[i + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return sum == 0xFFFF
    }

    @Test(arguments: [60, 124, 508, 1514])
    func untaggedFrameHasLengthsAndChecksum(size: Int) {
        let f = ScenarioFrames.udp(destination: [2, 0, 0, 0, 0, 4], source: [2, 0, 0, 0, 0, 1], size: size)
        #expect(f.count == size)
        #expect(Array(f[0..<6]) == [2, 0, 0, 0, 0, 4] && Array(f[6..<12]) == [2, 0, 0, 0, 0, 1])
        #expect(f[12] == 0x08 && f[13] == 0x00 && f[14] == 0x45 && f[23] == 17)
        #expect(Int(f[16]) << 8 | Int(f[17]) == size - 14)                 // IPv4 total length
        #expect(Int(f[38]) << 8 | Int(f[39]) == size - 34)                 // UDP length
        #expect(f[34] == 0 && f[35] == 9 && f[36] == 0 && f[37] == 9)      // ports 9 → 9 (flows rewrite 34..35)
        #expect(f[40] == 0 && f[41] == 0)                                  // no UDP checksum: port rewrites stay valid
        #expect(checksumOK(f, at: 14))
    }

    @Test func taggedFrameCarriesTheVLANAndShiftsTheHeaders() {
        let f = ScenarioFrames.udp(destination: [2, 0, 0, 0, 0, 4], source: [2, 0, 0, 0, 0, 1], size: 64, vlan: 100)
        #expect(f.count == 64)
        #expect(f[12] == 0x81 && f[13] == 0x00 && (Int(f[14]) << 8 | Int(f[15])) == 100)
        #expect(f[16] == 0x08 && f[17] == 0x00 && f[18] == 0x45)
        #expect(Int(f[20]) << 8 | Int(f[21]) == 64 - 18)
        #expect(f[39] == 9 && f[41] == 9)                                  // source port at 38 (the generator's offset)
        #expect(checksumOK(f, at: 18))
    }

    @Test func framesAreAtLeastTheEthernetMinimum() {
        #expect(ScenarioFrames.udp(destination: [], source: [], size: 10).count == 60)
        #expect(ScenarioFrames.udp(destination: [], source: [], size: 10, vlan: 5).count == 64)
    }

    /// The pid part of a lab's prefix has a fixed width: `xb28`+`21` and `xb282`+`1` were
    /// the same name.
    @Test func labPrefixesCarryThePidInThreeDigits() {
        #expect(LabNetwork.pidPart(7) == "007" && LabNetwork.pidPart(282) == "282" && LabNetwork.pidPart(12_028) == "028")
        let first = LabNetwork(tag: "q"), second = LabNetwork(tag: "q")
        #expect(first.prefix.hasPrefix("xq\(LabNetwork.pidPart(getpid()))") && first.prefix != second.prefix)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root (namespaces)"))
    func switchSideCanLiveInItsOwnNamespaceAndIsRemoved() throws {
        let lab = LabNetwork(tag: "t")
        defer { lab.tearDown() }
        let host = try lab.addNamespace("h")
        let fwd = try lab.addNamespace("f")
        let sw = try lab.addHost(namespace: host, switchSide: "x", hostSide: "h0", switchNamespace: fwd)
        #expect(lab.run(in: fwd, ["ip", "link", "show", sw]).succeeded)
        #expect(!Shell.run(["ip", "link", "show", sw]).succeeded)         // not in the caller's namespace
        lab.tearDown()
        #expect(!Shell.run(["ip", "netns", "list"]).output.contains(fwd))
    }
}

@Suite("bench lab: GRE frames")
struct BenchLabGRETests {
    @Test func greFrameWrapsTheInnerFrameAfter38Bytes() {
        let inner = ScenarioFrames.udp(destination: [2, 0, 0, 0, 0, 4], source: [2, 0, 0, 0, 0, 1], size: 60)
        let f = ScenarioFrames.gre(inner: inner, destination: [2, 0, 0, 0, 0, 0x0a], source: [2, 0, 0, 0, 0, 1],
                                          from: [172, 31, 0, 2], to: [172, 31, 0, 1])
        #expect(f.count == 38 + 60 && Array(f[38...]) == inner)
        #expect(f[14] == 0x45 && f[20] == 0x40 && f[23] == 47)            // DF, protocol GRE
        #expect(Int(f[16]) << 8 | Int(f[17]) == 20 + 4 + 60)
        #expect(f[34] == 0 && f[35] == 0 && f[36] == 0x65 && f[37] == 0x58) // no flags, TEB
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(f[i]) << 8 | UInt32(f[i + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        #expect(sum == 0xFFFF)
        #expect(f[72] == 0 && f[73] == 9)                                  // inner UDP source port at 72
    }
}


/// The `compute` scenario's configuration (BenchScenario+Compute.swift) passes traffic
/// end to end through our datapath: frame by frame in memory (`bench-micro compute` runs
/// ComputePathCheck before measuring and fails on any difference), and on veths
/// (`BenchLabLiveTests`).
@Suite("bench lab: compute scenario")
struct BenchComputeTests {
    /// Ethernet 14 + IPv4 20 + GRE 4 + key 4 around the 60-byte inner frame, which leaves untagged.
    static let expectedSinkFrame = 60 + 14 + 20 + 4 + 4

    @Test func computePathIsCheckedFrameByFrame() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        // VM frame → GRE key 1001 out of b (outer addresses, inner untagged); GRE reply into b →
        // the VM untagged; the VM's next frame counted +est in table 72.
        let r = Shell.run([binary, "bench-micro", "compute", "--batches", "1"])
        #expect(r.succeeded, "\(r.output)")
        #expect(r.output.contains("stage compute: 64 packets in 1 batches"), "\(r.output)")
    }
}

/// `xdpswitch bench` cleans up however it ends.
@Suite("bench lab: cleanup")
struct BenchCleanupTests {
    /// A bad `--ring-size` is refused before any namespace exists (bench and run alike).
    @Test(arguments: [["bench", "l2", "--ring-size", "100"], ["run", "--config", "/nonexistent.yaml", "--ring-size", "100"]])
    func ringSizeThatIsNoPowerOfTwoIsRefused(arguments: [String]) throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run([binary] + arguments)
        #expect(!r.succeeded)
        #expect(r.output.contains("--ring-size 100: expected a power of two, 64-16384"), "\(r.output)")
    }

    /// A CPU the process may not run on is refused before any set-up (pinning to it would
    /// fail and the thread run unpinned while the output named the CPU).
    @Test(arguments: [["bench", "l2", "--cpu", "4096"], ["bench", "l2", "--generator-cpu", "4096"],
                      ["run", "--config", "/nonexistent.yaml", "--cpu", "4096"]])
    func cpuThatIsNotAllowedIsRefused(arguments: [String]) throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let allowed = EngineConfiguration.cpuListText(EngineConfiguration.allowedCPUs)
        let r = Shell.run([binary] + arguments)
        #expect(!r.succeeded)
        #expect(r.output.contains("\(arguments[arguments.count - 2]) 4096: expected a CPU this process may run on (\(allowed)), or any"),
                "\(r.output)")
    }

    /// Online is not enough: under `taskset -c 0` CPU 1 is refused too (pinning to it
    /// would fail).
    @Test(.enabled(if: EngineConfiguration.allowedCPUs.contains(1) && EngineConfiguration.allowedCPUs.contains(0),
                   "needs CPUs 0 and 1"))
    func cpuOutsideTheAffinityMaskIsRefused() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run(["taskset", "-c", "0", binary, "bench", "l2", "--cpu", "1"])
        #expect(!r.succeeded)
        #expect(r.output.contains("--cpu 1: expected a CPU this process may run on (0), or any"), "\(r.output)")
    }

    /// A bench-check that the run could not evaluate is refused before any set-up: the
    /// fast-path check needs l2 and both its peers, the raw check l2 and raw.
    @Test(arguments: [
        (["bench", "l2", "--min-fast-path-ratio", "0.6"], "--min-fast-path-ratio 0.6: needs a positive ratio, scenario l2 and --compare fastpath,direct"),
        (["bench", "l2", "--compare", "fastpath", "--min-fast-path-ratio", "0.6"], "--min-fast-path-ratio 0.6: needs"),
        (["bench", "vlan-push", "--compare", "fastpath,direct", "--min-fast-path-ratio", "0.6"], "--min-fast-path-ratio 0.6: needs"),
        (["bench", "l2", "--compare", "fastpath,direct", "--min-fast-path-ratio", "0"], "--min-fast-path-ratio 0.0: needs a positive ratio"),
        (["bench", "l2", "--compare", "direct", "--min-raw-ratio", "0.75"], "--min-raw-ratio 0.75: needs a positive ratio, scenario l2 and --compare raw"),
    ])
    func benchCheckWithoutItsPeersIsRefused(arguments: [String], message: String) throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run([binary] + arguments)
        #expect(!r.succeeded)
        #expect(r.output.contains(message), "\(r.output)")
        #expect(!r.output.contains("bench l2: "), "refused after set-up: \(r.output)")
    }

    @Test func cpuThatIsNoNumberIsRefusedByTheParser() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run([binary, "bench", "l2", "--cpu", "last"])
        #expect(!r.succeeded)
        #expect(r.output.contains("The value 'last' is invalid for '--cpu <cpu|any>'"), "\(r.output)")
    }
}

extension AFXDPIntegrationTests {
/// The bench lab's tests that put load on the machine (a generator at full rate, a bench
/// run): in the serialized integration suite, so they neither starve the other veth tests'
/// timeouts nor see those tests' namespaces.
@Suite("bench lab on veth")
struct BenchLabLiveTests {
    /// The Linux stack routes (and rewrites in place) the live frames' pages; with
    /// `restoreHeaders` the generator sends the template again every time, so a routed
    /// stream keeps arriving (without it this kernel re-sent the rewritten frames and the
    /// router dropped every one as addressed to another host).
    @Test(.enabled(if: geteuid() == 0, "needs root (namespaces)"))
    func restoredHeadersKeepARoutedStreamFlowing() throws {
        let lab = LabNetwork(tag: "r")
        defer { lab.tearDown() }
        let gen = try lab.addNamespace("g"), fwd = try lab.addNamespace("f"), sinkNS = try lab.addNamespace("s")
        let a = try lab.addHost(namespace: gen, switchSide: "a", hostSide: "g0", mac: "02:00:00:00:00:01", switchNamespace: fwd)
        let b = try lab.addHost(namespace: sinkNS, switchSide: "b", hostSide: "s0", mac: "02:00:00:00:00:04", switchNamespace: fwd)
        for command in [["ip", "link", "set", a, "address", "02:00:00:00:00:0a"], ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
                        ["ip", "addr", "add", "10.77.0.254/24", "dev", a], ["ip", "addr", "add", "10.78.0.1/24", "dev", b],
                        ["ip", "neigh", "replace", "10.78.0.2", "lladdr", "02:00:00:00:00:04", "dev", b, "nud", "permanent"],
                        ["ethtool", "-K", a, "gro", "on"]] {
            #expect(lab.run(in: fwd, command).succeeded, "\(command)")
        }
        let sink = try CountingSink(interface: "s0", namespace: sinkNS)
        defer { sink.detach() }
        var frame = ScenarioFrames.udp(destination: [2, 0, 0, 0, 0, 0x0a], source: [2, 0, 0, 0, 0, 1], size: 60)
        frame.replaceSubrange(30..<34, with: [10, 78, 0, 2])   // 10.77.0.1 → 10.78.0.2
        frame[24] = 0; frame[25] = 0
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(frame[i]) << 8 | UInt32(frame[i + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        frame[24] = UInt8(~UInt16(sum) >> 8); frame[25] = UInt8(~UInt16(sum) & 0xFF)
        let generator = TrafficGenerator(interface: "g0", namespace: gen, frame: frame)
        generator.restoreHeaders = true
        try generator.start()
        usleep(1_000_000)
        let first = sink.counts.packets
        usleep(1_000_000)
        let second = sink.counts
        generator.stop()
        #expect(generator.error == nil)
        // Still arriving in the second second (the rewritten pages have been recycled by then).
        #expect(second.packets > first + 1000, "routed frames stopped arriving: \(first) then \(second.packets)")
        #expect(second.bytes / max(second.packets, 1) == 60)
    }

    /// A short `xdpswitch bench compute` run (ours only): GRE frames of the expected size
    /// reach the sink, and the VM's egress stays established.
    @Test func computeRunDeliversGREFramesAndStaysEstablished() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let json = "/tmp/xdpswitch-bench-compute-test-\(getpid()).json"
        defer { Shell.run(["rm", "-f", json]) }
        let r = Shell.run([binary, "bench", "compute", "--seconds", "1", "--repeat", "1", "--json", json])
        #expect(r.succeeded, "\(r.output)")
        let text = Shell.run(["cat", json]).output
        let run = try #require(text.split(separator: "\n").first { $0.contains("\"peer\": \"xdpswitch\"") }, "\(text)")
        func number(_ key: String) -> Double? {
            guard let k = run.range(of: "\"\(key)\": ") else { return nil }
            return Double(run[k.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        #expect((number("mpps") ?? 0) > 0, "\(run)")
        #expect(number("sink_frame_bytes") == Double(BenchComputeTests.expectedSinkFrame), "\(run)")
        // Every packet of the window passed the VM's egress filter as established.
        #expect(run.contains("conntrack: 100.00% of "), "\(run)")
    }

    /// The same with the fast path (`--compare fastpath`): the kernel carries the VM's
    /// established stream through both bridges' tables into the tunnel — nearly every frame
    /// of the window — and the sink still gets GRE frames of the expected size, every one
    /// through the VM's egress filter as established.
    @Test func computeRunIsCarriedByTheKernelWithTheFastPath() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run([binary, "bench", "compute", "--compare", "fastpath", "--seconds", "1", "--repeat", "1", "--verbose"])
        #expect(r.succeeded, "\(r.output)")
        let run = try #require(r.output.split(separator: "\n").first { $0.contains("run 1 xdpswitch-fp") }, "\(r.output)")
        func count(_ name: String) -> Double? {
            guard let k = run.range(of: " \(name) ") else { return nil }
            return Double(run[k.upperBound...].prefix { $0.isNumber })
        }
        // The window lists only the counters that grew: no `rx` there means the worker
        // received nothing at all, the kernel carried every frame.
        let carried = try #require(count("fast-path"), "\(run)"), worker = count("rx") ?? 0
        #expect(carried > 10_000 && worker < carried / 10, "the kernel carried \(carried), the worker received \(worker): \(run)")
        #expect(run.contains(" \(BenchComputeTests.expectedSinkFrame) B/frame at sink"), "\(run)")
        #expect(run.contains("conntrack: 100.00% of "), "\(run)")
    }

    /// `--verbose` prints each run's counter growth over the measured window (not the
    /// totals since start, which include the warm-up second); by default the forwarder
    /// runs on the last CPU and the generator on CPU 0.
    @Test func verboseRunShowsTheWindowsCountersAndThePlacement() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let cpus = EngineConfiguration.allowedCPUs
        let seconds = 2
        let r = Shell.run([binary, "bench", "l2", "--seconds", "\(seconds)", "--repeat", "1", "--verbose"])
        #expect(r.succeeded, "\(r.output)")
        let placement = cpus.count > 1 ? "forwarder on CPU \(cpus.last!), generator on CPU \(cpus.first!)"
            : "forwarder on CPU any, generator on CPU any"
        #expect(r.output.split(separator: "\n").first?.hasSuffix(placement) == true, "\(r.output)")
        let line = try #require(r.output.split(separator: "\n").first { $0.contains("run 1 xdpswitch") }, "\(r.output)")
        func number(after label: String) -> Double? {
            guard let k = line.range(of: label) else { return nil }
            return Double(line[k.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        let delivered = try #require(number(after: "xdpswitch ")) * 1e6 * Double(seconds)
        let rx = try #require(number(after: ", rx "), "\(line)")
        let batches = try #require(number(after: "rx-batches "), "\(line)")
        #expect(delivered > 0)
        // What the window received is about what the sink counted in it; the totals would be
        // about half as much again (the warm-up second).
        #expect(rx >= 0.9 * delivered && rx <= 1.3 * delivered, "rx \(rx), delivered \(delivered): \(line)")
        #expect(batches >= rx / 64 && batches <= rx, "\(line)")
    }

    /// `--compare fastpath,direct` with the fast-path check: `direct` delivers the
    /// generator's frames with no forwarder (no forwarder CPU, the frames as sent), the
    /// kernel carried xdpswitch-fp's frames (its share line is ok), and a ratio no run can
    /// reach (xdpswitch-fp forwarding 1000× what the bare veth pair carries) fails the
    /// check with exit status 1 and a FAIL line, not an error.
    @Test func fastPathCheckAgainstTheDirectPair() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run([binary, "bench", "l2", "--compare", "fastpath,direct", "--seconds", "1", "--repeat", "1",
                           "--verbose", "--min-fast-path-ratio", "1000"])
        #expect(r.status == 1, "\(r.output)")
        #expect(!r.output.contains("Error:"), "\(r.output)")
        let lines = r.output.split(separator: "\n")
        let direct = try #require(lines.first { $0.contains("run 1 direct") }, "\(r.output)")
        #expect(direct.contains("CPU s/Mpkt: fwd - "), "\(direct)")
        #expect(direct.contains(" 60 B/frame at sink"), "\(direct)")
        #expect(lines.contains { $0.hasPrefix("bench-check: FAIL xdpswitch-fp/direct on l2 = ") && $0.hasSuffix("< 1000.0 (median of 1)") },
                "\(r.output)")
        let share = try #require(lines.first { $0.hasPrefix("bench-check: ok the kernel carried ") }, "\(r.output)")
        let percent = try #require(Double(share.dropFirst("bench-check: ok the kernel carried ".count).prefix { $0.isNumber || $0 == "." }))
        #expect(percent >= 99, "\(share)")
    }

    /// `--cpu any --generator-cpu any` leaves both threads to the scheduler.
    @Test func anyCPULeavesTheThreadsUnpinned() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let r = Shell.run([binary, "bench", "l2", "--seconds", "1", "--repeat", "1", "--cpu", "any", "--generator-cpu", "any"])
        #expect(r.succeeded, "\(r.output)")
        #expect(r.output.split(separator: "\n").first?.hasSuffix("forwarder on CPU any, generator on CPU any") == true, "\(r.output)")
    }

    /// `| head -1` closes the bench's output after its first line: the bench must stop and
    /// remove its namespaces (a SIGPIPE used to kill it with them still there).
    @Test func closedOutputStopsTheBenchAndRemovesItsNamespaces() throws {
        let binary = try #require(xdpswitchBinary(), "build xdpswitch first (swift build)")
        let pidFile = "/tmp/xdpswitch-bench-closed-test-\(getpid()).pid"
        defer { Shell.run(["rm", "-f", pidFile]) }
        // sh returns once both ends of the pipe have exited. The inner sh writes its pid and
        // becomes the bench, whose pid names its namespaces (LabNetwork: `xb<pid % 1000, 3 digits><n>…`).
        let bench = "echo \\$$ > \(pidFile); exec '\(binary)' bench l2 --seconds 2 --repeat 3 2>/dev/null"
        let r = Shell.run(["sh", "-c", "sh -c \"\(bench)\" | head -1"])
        #expect(r.output.hasPrefix("bench l2: "), "\(r.output)")
        let pid = try #require(Int32(Shell.run(["cat", pidFile]).output.filter(\.isNumber)))
        // The header names the namespaces (`bench l2: xb…gen:g0 → …`): the prefix the
        // leftovers would carry, made of the bench's pid.
        let prefix = String(r.output.dropFirst("bench l2: ".count).prefix { $0 != ":" }.dropLast("gen".count))
        #expect(prefix.hasPrefix("xb\(LabNetwork.pidPart(pid))") && prefix.count > 5, "\(prefix) from \(r.output)")
        let left = Shell.run(["ip", "netns", "list"]).output.split(separator: "\n")
            .map { String($0.split(separator: " ").first ?? "") }.filter { $0.hasPrefix(prefix) }
        #expect(left.isEmpty, "namespaces left behind: \(left.sorted())")
        for name in left { Shell.run(["ip", "netns", "del", name]) }
        #expect(kill(pid, 0) != 0, "the bench (pid \(pid)) has exited")
    }
}
}
