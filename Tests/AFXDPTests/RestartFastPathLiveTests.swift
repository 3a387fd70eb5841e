#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Foundation
import Testing
import XDPDatapath
import XDPLab

extension AFXDPIntegrationTests {
/// Forwarding while the daemon is away: `xdpswitch run --fast-path on` pins its program and
/// maps (SteeringPins.swift), so the kernel goes on carrying cached flows after a `kill -9`
/// (or a SIGTERM with `--on-exit keep`), and the next run adopts them in place.
@Suite("xdpswitch run with the fast path, restarted", .serialized)
struct RestartFastPathLiveTests {
    /// Hosts on one bridge, access ports on VLAN 1, no flow tables: learned unicast between
    /// them is what the fast path carries. GRO on the hosts' ends (`acceptRedirects`).
    static func lab(_ names: [String]) throws -> RestartLab {
        let lab = try RestartLab(hosts: names.enumerated().map { i, name in
            (name, "10.156.0.\(i + 1)", "02:00:00:9c:00:0\(i + 1)")
        })
        do {
            try lab.topo.acceptRedirects(names)
            try lab.write("bridges:\n  - name: br-int\n    ports:\n"
                          + names.map { "      - {name: \(lab.topo.port($0)), tag: 1}\n" }.joined())
        } catch {
            lab.tearDown()
            throw error
        }
        return lab
    }

    /// The entries of `dump-fastpath` (one line each; the drop line left out).
    static func entries(_ lab: RestartLab) -> [Substring] {
        lab.control(["dump-fastpath"]).output.split(separator: "\n").filter { $0.hasPrefix("in_port(") }
    }

    /// The packets of the entry from `port` to `dst` in `dump-fastpath`, nil without one.
    static func packets(_ lab: RestartLab, from port: String, to dst: String) -> Int? {
        entries(lab).first { $0.hasPrefix("in_port(\(port))") && $0.contains("dst=\(dst)") }
            .flatMap { $0.split(separator: " ").first { $0.hasPrefix("packets:") } }
            .flatMap { Int($0.dropFirst("packets:".count).dropLast()) }
    }

    /// A UDP stream a → b (1000 datagrams a second) across a `kill -9` two seconds in and a
    /// restart a second later, with and without the fast path: what is lost is printed
    /// (docs/operations.md). With it, the kernel carries the cached flow while no process
    /// runs and the new one takes the program over in place: nothing is lost. A flow started
    /// while the daemon is away (ARP for an address nobody has: broadcast, never cached) is
    /// dropped and counted, and the restarted switch shows the count.
    @Test(arguments: ["on", "off"])
    func aCachedFlowKeepsMovingWhileTheDaemonIsAway(fastPath: String) throws {
        let lab = try Self.lab(["a", "b"])
        defer { lab.tearDown() }
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        try lab.start(["--fresh", "--fast-path", fastPath], interfaces: ports)
        let warm = lab.topo.ping("a", "b")
        #expect(warm.succeeded, "\(warm.output)")
        if fastPath == "on" { #expect(Self.entries(lab).count == 2, "\(lab.control(["dump-fastpath"]).output)") }
        #expect(lab.waitForLearnedSnapshot(macEntries: 2))
        var second = ""
        var killed: UInt64 = 0, restarted: UInt64 = 0
        var beforeKill: Int?
        let stream = try lab.udpStream("a", to: "b", address: "10.156.0.2") {
            sleep(2)
            if fastPath == "on" { beforeKill = Self.packets(lab, from: ports[0], to: "02:00:00:9c:00:02") }
            lab.stopSwitch(SIGKILL)
            killed = DatapathInstant.now().nanoseconds
            lab.topo.lab.run(in: lab.topo.namespace("a"), ["ping", "-n", "-c", "1", "-W", "1", "10.156.0.99"])
            second = try lab.start(["--fast-path", fastPath], interfaces: ports)
            restarted = DatapathInstant.now().nanoseconds
        }
        print("udp across kill -9 + restart, fast path \(fastPath): 6000 sent at 1000/s, \(stream.received) received, "
              + "\(6000 - stream.received) lost; "
              + String(format: "switch away for %.2f s (kill to attached again)", Double(restarted - killed) / 1e9))
        #expect(stream.last == 5999, "the stream flows after the restart")
        let output = lab.log(second)
        guard fastPath == "on" else {
            #expect(stream.received < 6000, "nothing forwards while no switch runs without the fast path")
            #expect(!output.contains("fast path: adopted"), "\(output)")
            return
        }
        #expect(stream.received == 6000, "the kernel carried the cached flow while no switch ran")
        #expect(output.contains("fast path: pinned in \(lab.pinDirectory); adopted the program attached to \(ports[0]), \(ports[1])"),
                "\(output)")
        #expect(output.contains("fast path: adopted 2 entries left pinned by the previous run, removed 0 "), "\(output)")
        let dropped = output.split(separator: "\n").first { $0.contains("frames dropped while no socket") }
            .flatMap { line in line.components(separatedBy: "; ").last?.split(separator: " ").first.flatMap { Int($0) } }
        #expect((dropped ?? 0) >= 1, "the ARP request sent while away was dropped and counted: \(output)")
        // The adopted entry a → b carries its counters over, with what the kernel counted
        // while no switch ran.
        let dump = lab.control(["dump-fastpath"]).output
        let afterRestart = Self.packets(lab, from: ports[0], to: "02:00:00:9c:00:02")
        #expect((beforeKill ?? 0) > 0 && (afterRestart ?? 0) > (beforeKill ?? 0),
                "before the kill \(String(describing: beforeKill)), after the restart: \(dump)")
        #expect(dump.contains("frames dropped while no socket: \(dropped ?? -1)"), "\(dump)")
    }

    /// A TCP transfer a → b with its sha256 across a `kill -9` and a restart with the fast
    /// path: intact, and the restarted switch adopted the connection's two entries.
    @Test func aTCPTransferIsIntactAcrossAKill() throws {
        let lab = try Self.lab(["a", "b"])
        defer { lab.tearDown() }
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        try lab.start(["--fresh", "--fast-path", "on"], interfaces: ports)
        var second = ""
        let result = try lab.transfer("a", to: "b", address: "10.156.0.2", port: 5001) {
            sleep(3)
            lab.stopSwitch(SIGKILL)
            sleep(1)
            second = try lab.start(["--fast-path", "on"], interfaces: ports)
        }
        let output = lab.log(second)
        #expect(result.intact, "\(result.detail)\nswitch: \(output)")
        #expect(output.contains("fast path: adopted 2 entries left pinned by the previous run, removed 0 "), "\(output)")
    }

    /// A TCP transfer vm2 → ext through the router's SNAT across a `kill -9` and a restart,
    /// with the fast path: intact, and the restarted switch adopted the routed entries
    /// (the path worked out again from the restored MAC entries, neighbours and
    /// translation, to the same rewrite) and removed none.
    @Test func aRoutedTransferIsIntactAndItsEntriesAdoptedAcrossAKill() throws {
        let lab = try RestartLab(hosts: [("vm1", "10.1.0.5", "fa:16:3e:aa:00:05"), ("vm2", "10.1.0.6", "fa:16:3e:aa:00:06"),
                                         ("ext", "172.24.4.225", "02:42:ac:18:04:e1")])
        defer { lab.tearDown() }
        try lab.topo.acceptRedirects(["vm1", "vm2", "ext"])
        for vm in ["vm1", "vm2"] {
            try Shell.check(["ip", "-n", lab.topo.namespace(vm), "route", "add", "default", "via", "10.1.0.1"])
        }
        try lab.write(RestartStateLiveTests.routerYAML(lab, securityGroup: false))
        let ports = [lab.topo.port("vm1"), lab.topo.port("vm2"), lab.topo.port("ext")]
        try lab.start(["--fresh", "--fast-path", "on"], interfaces: ports)
        var before = "", second = ""
        let result = try lab.transfer("vm2", to: "ext", address: "172.24.4.225", port: 5004) {
            sleep(3)
            before = lab.control(["dump-fastpath"]).output
            #expect(lab.waitForLearnedSnapshot(macEntries: 4))
            lab.stopSwitch(SIGKILL)
            sleep(1)
            second = try lab.start(["--fast-path", "on"], interfaces: ports)
        }
        let output = lab.log(second)
        #expect(result.intact, "\(result.detail)\nswitch: \(output)")
        #expect(before.contains("set(ipv4(src=172.24.4.227,dst=172.24.4.225"), "the transfer was carried, translated: \(before)")
        let adopted = output.split(separator: "\n").first { $0.contains("fast path: adopted ") }
            .flatMap { $0.components(separatedBy: "fast path: adopted ").last?.split(separator: " ").first.flatMap { Int($0) } }
        #expect((adopted ?? 0) >= 2 && output.contains("left pinned by the previous run, removed 0 "), "\(output)")
    }

    /// SIGTERM with `--on-exit keep` leaves the program attached and pinned (a cached ping
    /// goes on with no switch), the next run adopts it, and a SIGTERM with `--on-exit
    /// detach` leaves no program and no pin.
    @Test func sigtermKeepsOrDetachesAsTold() throws {
        let lab = try Self.lab(["a", "b"])
        defer { lab.tearDown() }
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        let first = try lab.start(["--fresh", "--fast-path", "on", "--on-exit", "keep"], interfaces: ports)
        #expect(lab.topo.ping("a", "b").succeeded)
        #expect(lab.stopSwitch(SIGTERM) == 0)
        #expect(lab.log(first).contains("left the fast path pinned on 2 interface(s) in \(lab.pinDirectory)"), "\(lab.log(first))")
        #expect(ports.allSatisfy(xdpAttached))
        #expect(access(lab.pinDirectory + "/fp_flows", F_OK) == 0)
        let away = lab.topo.ping("a", "b", count: 5)
        #expect(away.succeeded, "the kernel answers for the cached pair with no switch: \(away.output)")

        let second = try lab.start(["--fast-path", "on", "--on-exit", "detach"], interfaces: ports)
        #expect(lab.log(second).contains("fast path: adopted 2 entries left pinned by the previous run, removed 0 "),
                "\(lab.log(second))")
        #expect(lab.topo.ping("a", "b").succeeded)
        #expect(lab.stopSwitch(SIGTERM) == 0)
        #expect(!ports.contains(where: xdpAttached), "a detaching exit leaves no program")
        #expect(access(lab.pinDirectory, F_OK) != 0, "a detaching exit leaves no pin")
    }

    /// A pinned map of another layout (as an upgrade that changed one would leave): the
    /// restarted switch says so in one line, unpins the maps and starts with an empty fast
    /// path, and still takes the links over in place; the fast path fills again.
    @Test func mapsOfAnotherLayoutAreUnpinnedAndTheLinksStillTakenOver() throws {
        let lab = try Self.lab(["a", "b"])
        defer { lab.tearDown() }
        let ports = [lab.topo.port("a"), lab.topo.port("b")]
        try lab.start(["--fresh", "--fast-path", "on"], interfaces: ports)
        #expect(lab.topo.ping("a", "b").succeeded)
        lab.stopSwitch(SIGKILL)
        let flows = lab.pinDirectory + "/fp_flows"
        #expect(unlink(flows) == 0)
        try Shell.check(["bpftool", "map", "create", flows, "type", "hash", "key", "4", "value", "4", "entries", "8",
                         "name", "fp_flows"])

        let output = lab.log(try lab.start(["--fast-path", "on"], interfaces: ports))
        let refusals = output.split(separator: "\n").filter { $0.contains("do not fit this program") }
        #expect(refusals.count == 1
                && refusals[0].hasPrefix("xdpswitch: fast path: the maps pinned in \(lab.pinDirectory) do not fit this program (")
                && refusals[0].hasSuffix("); unpinned, starting with an empty fast path"), "\(output)")
        #expect(output.contains("adopted the program attached to \(ports[0]), \(ports[1]) (replaced in place)"), "\(output)")
        #expect(!output.contains("entries left pinned"), "\(output)")
        let ping = lab.topo.ping("a", "b")
        #expect(ping.succeeded, "\(ping.output)")
        #expect(Self.entries(lab).count == 2, "\(lab.control(["dump-fastpath"]).output)")
    }

    /// An interface deleted (and made again) while the daemon was away: its pinned link has
    /// no interface any more; the restarted switch says so in one line, removes the pin,
    /// attaches the new interface afresh and drops the entries that went to or came from the
    /// old one, keeping the others.
    @Test func aPinWhoseInterfaceWasDeletedIsRemovedWithAWarning() throws {
        let lab = try Self.lab(["a", "b", "c"])
        defer { lab.tearDown() }
        let ports = ["a", "b", "c"].map { lab.topo.port($0) }
        try lab.start(["--fresh", "--fast-path", "on"], interfaces: ports)
        #expect(lab.topo.ping("a", "b").succeeded)
        #expect(lab.topo.ping("a", "c").succeeded)
        #expect(Self.entries(lab).count == 4, "\(lab.control(["dump-fastpath"]).output)")
        #expect(lab.waitForLearnedSnapshot(macEntries: 3))
        lab.stopSwitch(SIGKILL)
        try Shell.check(["ip", "link", "del", ports[2]])
        try lab.topo.lab.addHost(namespace: lab.topo.namespace("c"), switchSide: "c", mac: "02:00:00:9c:00:03",
                                 address: "10.156.0.3/24")
        try lab.topo.acceptRedirects(["c"])

        let log = try lab.start(["--fast-path", "on"], interfaces: ports)
        let output = lab.log(log)
        let warnings = output.split(separator: "\n").filter { $0.contains("link-\(ports[2])") }
        #expect(warnings == ["xdpswitch: fast path: pinned link \(lab.pinDirectory)/link-\(ports[2]): its interface is gone; "
                             + "removed, attaching \(ports[2]) afresh"], "\(output)")
        #expect(output.contains("fast path: adopted 2 entries left pinned by the previous run, removed 2 "), "\(output)")
        let ping = lab.topo.ping("a", "c")
        #expect(ping.succeeded, "\(ping.output)")
        #expect(access(lab.pinDirectory + "/link-\(ports[2])", F_OK) == 0, "the new link is pinned")
    }
}
}
