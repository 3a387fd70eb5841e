#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import XDPDatapath
import XDPLab
import XDPScenarios

/// The lab every peer forwards in: `ns gen: g0 ⇄ <p>a [ns <p>fwd] <p>b ⇄ s0 :ns sink`, the
/// counting sink on s0 (`direct` adds `ns gen: <p>d ⇄ sd :ns sink`, see `DirectPeer`).
/// Everything is removed by `tearDown()` (namespaces take their veths).
final class BenchLab {
    let network = LabNetwork(tag: "b")
    let gen: String, fwd: String, sink: String
    let a: String, b: String
    let counter: CountingSink

    init() throws {
        do {
            gen = try network.addNamespace("gen")
            fwd = try network.addNamespace("fwd")
            sink = try network.addNamespace("sink")
            a = try network.addHost(namespace: gen, switchSide: "a", hostSide: "g0", mac: "02:00:00:00:00:01",
                                    switchNamespace: fwd)
            b = try network.addHost(namespace: sink, switchSide: "b", hostSide: "s0", mac: "02:00:00:00:00:04",
                                    switchNamespace: fwd)
            for (port, mac) in [(a, BenchScenario.aMAC), (b, BenchScenario.bMAC)] {
                try Shell.check(["ip", "-n", fwd, "link", "set", port, "address", BenchScenario.colon(mac)])
            }
        } catch {
            network.tearDown()
            throw BenchFailure("topology: \(error)")
        }
        do { counter = try CountingSink(interface: "s0", namespace: sink) } catch {
            network.tearDown()
            throw BenchFailure("sink: \(error)")
        }
    }

    /// Runs `command` in the forwarder namespace.
    @discardableResult
    func inFwd(_ command: [String]) -> Shell.Result { network.run(in: fwd, command) }

    func tearDown() {
        counter.detach()
        network.tearDown()
    }
}

/// Where a run's frames go in and are counted: the generator's interface (in the lab's
/// generator namespace) and the sink's (in its sink namespace) with the counter on it.
struct BenchEndpoints {
    var generator: String
    var sink: String
    var counter: CountingSink
}

/// A peer cannot do a scenario's work on this machine (reported as n/a, not as a failure).
struct BenchUnsupported: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

/// What a peer reports after a run, besides the sink's and the generator's counts.
struct PeerCounters {
    /// CPU seconds of the peer's own threads (nil: it has none — the Linux bridge).
    var cpuSeconds: Double?
    var detail: String = ""
    /// Cumulative counters (drops by reason, loop iterations, ...): the bench prints how
    /// much each grew during the measured window.
    var counts: [String: UInt64] = [:]
}

/// A forwarder measured by the bench: set up for a scenario, run, torn down.
protocol BenchPeer: AnyObject {
    var name: String { get }
    /// How the forwarder CPU figure is taken, for the report.
    var cpuMethod: String { get }
    func start(_ scenario: BenchScenario, lab: BenchLab) throws
    func counters() -> PeerCounters
    func stop()
    /// Releases what lasts across runs (daemons).
    func shutdown()
    /// `sg` and `compute`: the established/new packet counts of the filter that passes the
    /// measured stream (`BenchScenario.firewallCounter`; nil: not a firewall run).
    func firewallCounts() -> FirewallCounts?
    /// Where the generator sends and the sink counts while this peer runs (after `start`).
    func endpoints(lab: BenchLab) -> BenchEndpoints
}

extension BenchPeer {
    func shutdown() {}
    func firewallCounts() -> FirewallCounts? { nil }
    /// Every forwarder: g0 → <p>a … <p>b → s0.
    func endpoints(lab: BenchLab) -> BenchEndpoints { BenchEndpoints(generator: "g0", sink: "s0", counter: lab.counter) }
}

/// Our datapath: an `AFXDPEngine` over the scenario's configuration (`xdpswitch-fp`: with the
/// in-kernel fast path on, whose forwarding is softirq work, not the worker's).
final class EnginePeer: BenchPeer {
    let name: String
    let options: EngineConfiguration
    private var engine: AFXDPEngine?
    private var firewallCounter: (bridge: String, table: Int, chain: String)?
    var cpuMethod: String { "worker thread user+system (RUSAGE_THREAD)" }

    init(name: String = "xdpswitch", options: EngineConfiguration) {
        self.name = name
        self.options = options
    }

    func start(_ scenario: BenchScenario, lab: BenchLab) throws {
        let (a, b, options) = (lab.a, lab.b, options)
        let config = try scenario.datapathConfiguration(a: a, b: b)
        firewallCounter = scenario.firewallCounter
        do {
            // Set up inside the forwarder namespace; the worker thread inherits it.
            engine = try LabNetwork.inNamespace(lab.fwd) {
                let engine = try AFXDPEngine(configuration: config, options: options)
                try engine.start()
                return engine
            }
        } catch {
            throw BenchFailure("\(name): \(error)")
        }
    }

    func counters() -> PeerCounters {
        guard let engine else { return PeerCounters(cpuSeconds: nil) }
        var counters = PeerCounters(engine.statistics())
        if let r = engine.perform({ datapath, _ in datapath.router(named: "bench")?.stats }) ?? nil {
            counters.detail += ", router: \(r.forwarded) forwarded, \(r.natTranslated) translated (cumulative)"
        }
        return counters
    }

    func firewallCounts() -> FirewallCounts? {
        guard let counter = firewallCounter,
              let flows = engine?.perform({ datapath, now in try? datapath.flowStatistics(bridge: counter.bridge, now: now) }) ?? nil
        else { return nil }
        return FirewallCounts(flows: flows, table: counter.table)
    }

    func stop() {
        engine?.close()
        engine = nil
    }
}

/// The minimal AF_XDP forwarder (XDPLab's `RawForwarder`: rx → peer tx, no datapath),
/// with our forwarder's options.
final class RawPeer: BenchPeer {
    let name = "raw"
    let options: EngineConfiguration
    private var forwarder: RawForwarder?
    var cpuMethod: String { "worker thread user+system (RUSAGE_THREAD)" }

    init(options: EngineConfiguration) { self.options = options }

    func start(_ scenario: BenchScenario, lab: BenchLab) throws {
        let (a, b, options) = (lab.a, lab.b, options)
        do {
            forwarder = try LabNetwork.inNamespace(lab.fwd) {
                let forwarder = try RawForwarder(pairs: [(a, b)], options: options)
                try forwarder.start()
                return forwarder
            }
        } catch {
            throw BenchFailure("\(name): \(error)")
        }
    }

    func counters() -> PeerCounters { forwarder.map { PeerCounters($0.statistics()) } ?? PeerCounters(cpuSeconds: nil) }

    func stop() {
        forwarder?.close()
        forwarder = nil
    }
}

extension PeerCounters {
    /// An AF_XDP forwarder's counters: its worker's CPU, loop and batch counts, drops by
    /// interface (`a:` / `b:` and the reason) and frames per kick.
    init(_ s: EngineStatistics) {
        var counts: [String: UInt64] = ["loops": s.iterations, "sleeps": s.sleeps, "rx-batches": s.rxBatches, "rx": s.rxPackets,
                                        "fast-path": s.fastPathPackets]
        for i in s.interfaces {
            for (reason, value) in i.drops { counts["\(i.name.suffix(1)):\(reason)"] = value }
        }
        self.init(cpuSeconds: s.workerCPUTime.secondsValue, detail: "\(fixed(s.framesPerKick, 1)) frames/kick (max \(s.maxFramesPerKick))",
                  counts: counts)
    }
}

/// The direct veth ceiling: no forwarder at all. A veth pair of its own runs from the
/// generator's namespace straight into the sink's (`<p>d` ⇄ `sd`, made at the first run and
/// removed with the namespaces), `sd` with a counting sink of its own: the generator's frames
/// cross one veth instead of two and meet no program between them. It does none of the
/// scenario's work (like `raw`); it is what the lab can carry at all, the figure the
/// in-kernel fast path (`xdpswitch-fp`) is held against by `--min-fast-path-ratio`.
final class DirectPeer: BenchPeer {
    let name = "direct"
    private var path: BenchEndpoints?
    var cpuMethod: String { "none: no forwarder, the generator's veth pair ends in the sink's namespace (its work is the softirq CPU)" }

    func start(_ scenario: BenchScenario, lab: BenchLab) throws {
        guard path == nil else { return }
        do {
            let generator = try lab.network.addHost(namespace: lab.sink, switchSide: "d", hostSide: "sd",
                                                    mac: BenchScenario.colon(BenchScenario.sinkMAC), switchNamespace: lab.gen)
            try Shell.check(["ip", "-n", lab.gen, "link", "set", generator, "address", BenchScenario.colon(BenchScenario.generatorMAC)])
            path = BenchEndpoints(generator: generator, sink: "sd", counter: try CountingSink(interface: "sd", namespace: lab.sink))
        } catch {
            throw BenchFailure("direct: \(error)")
        }
    }

    func endpoints(lab: BenchLab) -> BenchEndpoints { path ?? BenchEndpoints(generator: "g0", sink: "s0", counter: lab.counter) }

    func counters() -> PeerCounters { PeerCounters(cpuSeconds: nil) }

    /// The pair stays for the next run (nothing runs on it in between).
    func stop() {}

    func shutdown() {
        path?.counter.detach()
        path = nil
    }
}

/// Linux bridge in the forwarder namespace (VLAN filtering for the vlan scenarios: pvid +
/// untagged on access ports, tagged VLAN 100 on trunks; br_netfilter and iptables for `sg`),
/// or for `snat`/`fip` the namespace routing with iptables NAT (BenchScenario+NAT.swift).
/// GRO is turned on on `a` while it runs: a frame sent by XDP into a veth whose peer has
/// neither XDP nor GRO is dropped.
/// Debian packages a peer runs, installed when missing (`make bench` installs them first;
/// the bench binary run by itself does it here).
enum BenchPackages {
    /// Installs `packages` with apt-get unless every one of `commands` is found; true when
    /// it installed them. Throws when apt-get fails (after one `apt-get update`).
    static func ensure(commands: [String], packages: [String], peer: String, output: BenchOutput) throws -> Bool {
        let probe = commands.map { "command -v \($0) >/dev/null" }.joined(separator: " && ")
        if Shell.run(["sh", "-c", probe]).succeeded { return false }
        output.line("bench: installing \(packages.joined(separator: " ")) (apt-get)")
        let install = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--no-install-recommends"] + packages
        var r = Shell.run(install)
        if !r.succeeded {
            Shell.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-q"])
            r = Shell.run(install)
        }
        guard r.succeeded else {
            throw BenchFailure("\(peer): apt-get install \(packages.joined(separator: " ")) failed: \(r.output.suffix(400))")
        }
        return true
    }
}

final class KernelPeer: BenchPeer {
    let name = "kernel"
    let output: BenchOutput

    init(output: BenchOutput) {
        self.output = output
    }
    private var lab: BenchLab?
    private var bridge = ""
    /// The iptables rules file of an `sg` run (removed with the rules in `stop`).
    private var firewall: String?
    /// The `snat`/`fip` scenario running (its addresses and rules are removed in `stop`).
    private var router: BenchScenario?
    /// `compute`: the bridge and gretap created (removed in `stop`).
    private var computeDevices: (bridge: String, gretap: String)?
    /// The iptables chain whose counts `firewallCounts` reads.
    private var firewallChain = "sg-ingress"
    var cpuMethod: String { "none of its own: all of its work is softirq (see softirq CPU)" }

    /// Throws BenchUnsupported when this kernel cannot create a gretap (no CONFIG_NET_IPGRE).
    private func probeGRE(_ lab: BenchLab) throws {
        let probe = lab.inFwd(["ip", "link", "add", lab.network.prefix + "gt", "type", "gretap",
                               "local", BenchScenario.dotted(BenchScenario.localIP),
                               "remote", BenchScenario.dotted(BenchScenario.remoteIP)])
        lab.inFwd(["ip", "link", "del", lab.network.prefix + "gt"])
        guard probe.succeeded else {
            self.lab = nil
            throw BenchUnsupported(reason: "this kernel has no GRE (CONFIG_NET_IPGRE): `ip link add … type gretap` → "
                + probe.output.trimmingCharacters(in: "\n"))
        }
    }

    func start(_ scenario: BenchScenario, lab: BenchLab) throws {
        self.lab = lab
        bridge = lab.network.prefix + "br"
        if scenario.nat != nil || scenario.securityGroupRules != nil || scenario.compute {
            // Linux's firewall and NAT: iptables, and conntrack to flush the tracker.
            _ = try BenchPackages.ensure(commands: ["iptables", "iptables-restore", "conntrack"], packages: ["iptables", "conntrack"],
                                         peer: "kernel", output: output)
        }
        if scenario.nat != nil {
            // The L3 agent's namespace: no bridge, routing and iptables NAT.
            router = scenario
            for command in scenario.natKernelCommands(a: lab.a, b: lab.b) {
                let r = lab.inFwd(command)
                guard r.succeeded else {
                    stop()
                    throw BenchFailure("kernel: \(command.joined(separator: " ")): \(r.output.trimmingCharacters(in: "\n"))")
                }
            }
            return
        }
        if scenario.compute {
            // The Linux-bridge compute node: the VM's port and a keyed gretap on one bridge,
            // the `sg` iptables chains for the VM (BenchScenario+Compute.swift).
            try probeGRE(lab)
            let devices = (bridge: bridge, gretap: lab.network.prefix + "gt")
            let path = "/tmp/\(lab.network.prefix)-compute.rules"
            try writeFile(path, BenchScenario.computeIptables(a: lab.a, gretap: devices.gretap))
            computeDevices = devices
            firewall = path
            firewallChain = scenario.firewallCounter?.chain ?? "sg-egress"
            for command in BenchScenario.computeKernelCommands(a: lab.a, b: lab.b, bridge: devices.bridge,
                                                              gretap: devices.gretap, rules: path) {
                let r = lab.inFwd(command)
                guard r.succeeded else {
                    stop()
                    throw BenchFailure("kernel: \(command.joined(separator: " ")): \(r.output.trimmingCharacters(in: "\n"))")
                }
            }
            return
        }
        if scenario.tunnel != nil {
            if scenario.tunnelProtocol == .vxlan { throw BenchUnsupported(reason: "kernel VXLAN peer not written yet") }
            try probeGRE(lab)
            throw BenchUnsupported(reason: "kernel GRE peer not written yet")
        }
        let vlans = scenario.securityGroupRules == nil && (scenario.portA != .access || scenario.portB != .access)
        var commands: [[String]] = [
            ["ip", "link", "add", bridge, "type", "bridge"] + (vlans ? ["vlan_filtering", "1", "vlan_default_pvid", "0"] : []),
            ["ip", "link", "set", lab.a, "master", bridge], ["ip", "link", "set", lab.b, "master", bridge],
        ]
        if vlans {
            for (port, role) in [(lab.a, scenario.portA), (lab.b, scenario.portB)] {
                commands.append(["bridge", "vlan", "add", "vid", "\(BenchScenario.vlan)", "dev", port]
                    + (role == .access ? ["pvid", "untagged"] : []))
            }
        }
        commands += [["ip", "link", "set", bridge, "up"], ["ethtool", "-K", lab.a, "gro", "on"]]
        if let rules = scenario.securityGroupRules {
            // The reference design's iptables firewall on a qbr bridge: br_netfilter, zones, per-port chains.
            let path = "/tmp/\(lab.network.prefix)-sg.rules"
            try writeFile(path, BenchScenario.securityGroupIptables(rules: rules, a: lab.a, b: lab.b))
            firewall = path
            // GRO on `b` too: the sink's replies are XDP_TX'd into s0 (see the type's comment).
            commands += [["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"], ["iptables-restore", path],
                         ["ethtool", "-K", lab.b, "gro", "on"]]
        }
        for command in commands {
            let r = lab.inFwd(command)
            guard r.succeeded else {
                stop()
                if vlans && r.output.contains("Operation not supported") {
                    throw BenchUnsupported(reason: "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING, "
                        + "and no 802.1Q or act_vlan either): `\(command.joined(separator: " "))` → EOPNOTSUPP")
                }
                throw BenchFailure("kernel: \(command.joined(separator: " ")): \(r.output.trimmingCharacters(in: "\n"))")
            }
        }
    }

    func counters() -> PeerCounters { PeerCounters(cpuSeconds: nil) }

    func firewallCounts() -> FirewallCounts? {
        guard let lab, firewall != nil else { return nil }
        let r = lab.inFwd(["iptables", "-nvxL", firewallChain])
        return r.succeeded ? FirewallCounts(iptablesLines: r.output.split(separator: "\n").map(String.init)) : nil
    }

    func stop() {
        guard let lab else { return }
        if let devices = computeDevices {
            for command in BenchScenario.computeKernelCleanup(a: lab.a, b: lab.b, bridge: devices.bridge, gretap: devices.gretap) {
                lab.inFwd(command)
            }
            if let path = firewall { Shell.run(["rm", "-f", path]) }
            computeDevices = nil
            firewall = nil
            firewallChain = "sg-ingress"
            self.lab = nil
            return
        }
        if let router {
            for command in router.natKernelCleanup(a: lab.a, b: lab.b) { lab.inFwd(command) }
            self.router = nil
            self.lab = nil
            return
        }
        lab.inFwd(["ip", "link", "del", bridge])
        lab.inFwd(["ethtool", "-K", lab.a, "gro", "off"])
        if let path = firewall {
            for command in [["iptables", "-t", "raw", "-F"], ["iptables", "-F"], ["iptables", "-X"], ["iptables", "-P", "FORWARD", "ACCEPT"],
                            ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0"], ["conntrack", "-F"],
                            ["ethtool", "-K", lab.b, "gro", "off"]] {
                lab.inFwd(command)
            }
            Shell.run(["rm", "-f", path])
            firewall = nil
        }
        self.lab = nil
    }
}

/// Open vSwitch userspace: ovsdb-server and ovs-vswitchd started by the bench with their own
/// rundir (vswitchd inside the forwarder namespace), one `datapath_type=netdev` bridge per run
/// with `type=afxdp` ports (native XDP) configured like ours (access tag / trunks), NORMAL.
final class OVSPeer: BenchPeer {
    let name = "ovs"
    private let rundir: String
    private var dbPID: pid_t?
    private var vswitchdPID: pid_t?
    private var bridge: String?
    private var phyBridge: String?
    /// `compute`: br-tun (br-int is `bridge`).
    private var tunBridge: String?
    private var firewallTable = 82
    var cpuMethod: String { "ovs-vswitchd process user+system, all threads (/proc/PID/stat)" }

    /// The CPU of the pmd thread (`pmd-cpu-mask`), nil: Open vSwitch's own choice.
    let pmdCPU: Int?

    /// Where the package installation is announced.
    let output: BenchOutput

    init(rundir: String, pmdCPU: Int?, output: BenchOutput) {
        self.rundir = rundir
        self.pmdCPU = pmdCPU
        self.output = output
    }

    private var db: String { "unix:\(rundir)/db.sock" }
    private var env: [String] { ["env", "OVS_RUNDIR=\(rundir)", "OVS_LOGDIR=\(rundir)", "OVS_DBDIR=\(rundir)"] }

    private func vsctl(_ args: [String]) throws {
        let r = Shell.run(env + ["ovs-vsctl", "--db=\(db)", "--timeout=20"] + args)
        guard r.succeeded else { throw BenchFailure("ovs: ovs-vsctl \(args.joined(separator: " ")): \(r.output)") }
    }

    /// Installs Open vSwitch when missing (Debian `openvswitch-switch`) and stops the
    /// distribution's daemons if the package started them.
    func ensureInstalled() throws {
        guard try BenchPackages.ensure(commands: ["ovs-vswitchd", "ovsdb-server"], packages: ["openvswitch-switch"],
                                       peer: "ovs", output: output) else { return }
        // The package's own service (if its postinst started it) is not ours to measure with.
        Shell.run(["sh", "-c", "/usr/share/openvswitch/scripts/ovs-ctl status >/dev/null 2>&1 && "
            + "/usr/share/openvswitch/scripts/ovs-ctl stop"])
    }

    private func startDaemons(lab: BenchLab) throws {
        try ensureInstalled()
        Shell.run(["rm", "-rf", rundir])
        Shell.run(["mkdir", "-p", rundir])
        let created = Shell.run(["ovsdb-tool", "create", "\(rundir)/conf.db", "/usr/share/openvswitch/vswitch.ovsschema"])
        guard created.succeeded else { throw BenchFailure("ovs: ovsdb-tool create: \(created.output)") }
        do {
            dbPID = try Shell.spawn(env + ["ovsdb-server", "\(rundir)/conf.db", "--remote=punix:\(rundir)/db.sock",
                                           "--pidfile=\(rundir)/ovsdb-server.pid", "--unixctl=\(rundir)/ovsdb-server.ctl",
                                           "--log-file=\(rundir)/ovsdb-server.log", "-vconsole:off"],
                                    logPath: "\(rundir)/ovsdb-server.out")
        } catch { throw BenchFailure("ovs: \(error)") }
        try waitFor("ovsdb-server socket") { access("\(rundir)/db.sock", F_OK) == 0 }
        try vsctl(["--no-wait", "init"])
        if let pmdCPU {
            try vsctl(["--no-wait", "set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=0x\(String(1 << pmdCPU, radix: 16))"])
        }
        // bpffs inside the namespace's own mount namespace (ip netns exec remounts /sys).
        let vswitchd = (env + ["ovs-vswitchd", db, "--pidfile=\(rundir)/ovs-vswitchd.pid",
                               "--unixctl=\(rundir)/ovs-vswitchd.ctl", "--log-file=\(rundir)/ovs-vswitchd.log",
                               "-vconsole:off"]).joined(separator: " ")
        do {
            vswitchdPID = try Shell.spawn(["ip", "netns", "exec", lab.fwd, "sh", "-c",
                                           "mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec \(vswitchd)"],
                                          logPath: "\(rundir)/ovs-vswitchd.out")
        } catch { throw BenchFailure("ovs: \(error)") }
        try waitFor("ovs-vswitchd control socket") { access("\(rundir)/ovs-vswitchd.ctl", F_OK) == 0 }
    }

    private func waitFor(_ what: String, seconds: Double = 20, _ ready: () -> Bool) throws {
        var waited = 0.0
        while !ready() {
            if let pid = vswitchdPID ?? dbPID, kill(pid, 0) != 0 { throw BenchFailure("ovs: daemon died (logs in \(rundir))") }
            guard waited < seconds else { throw BenchFailure("ovs: timed out waiting for \(what) (logs in \(rundir))") }
            usleep(100_000)
            waited += 0.1
        }
    }

    func start(_ scenario: BenchScenario, lab: BenchLab) throws {
        if vswitchdPID == nil { try startDaemons(lab: lab) }
        let br = lab.network.prefix + "ovs"
        bridge = br
        func role(_ r: BenchScenario.Role) -> String { r == .access ? "tag=\(BenchScenario.vlan)" : "trunks=\(BenchScenario.vlan)" }
        func afxdp(_ port: String, _ ofport: Int) -> [String] {
            ["--", "set", "interface", port, "type=afxdp", "options:xdp-mode=native", "ofport_request=\(ofport)"]
        }
        firewallTable = scenario.firewallCounter?.table ?? 82
        if scenario.compute {
            try startCompute(lab: lab, integration: br)
        } else if let tunnel = scenario.tunnel {
            // OVS userspace tunnelling: br-phy owns the underlay port and the local address (on
            // its internal port), br-int holds the other port and the gre (or vxlan: UDP 4789,
            // key 0) port; the remote's MAC is set in the tunnel ARP cache (static, like our
            // neighbours).
            let phy = lab.network.prefix + "phy"
            let tunnelPort = scenario.tunnelProtocol.rawValue + "0"
            phyBridge = phy
            let (underlay, port, mac, remoteMAC) = tunnel == .encap ? (lab.b, lab.a, BenchScenario.bMAC, BenchScenario.sinkMAC)
                : (lab.a, lab.b, BenchScenario.aMAC, BenchScenario.generatorMAC)
            try vsctl(["add-br", phy, "--", "set", "bridge", phy, "datapath_type=netdev",
                       "other-config:hwaddr=\"\(BenchScenario.colon(mac))\"", "--", "add-port", phy, underlay] + afxdp(underlay, 1)
                      + ["--", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "--", "add-port", br, port]
                      + afxdp(port, 2)
                      + ["--", "add-port", br, tunnelPort, "--", "set", "interface", tunnelPort, "type=\(scenario.tunnelProtocol.rawValue)",
                         "options:remote_ip=\(BenchScenario.dotted(BenchScenario.remoteIP))"])
            try setUpUnderlay(lab: lab, phy: phy, remoteMAC: remoteMAC)
        } else if scenario.securityGroupRules != nil || scenario.nat != nil {
            // sg: the very same OpenFlow text as ours, the security-group compiler's output
            // (ports on VLAN 100, the zone); snat/fip: the translation in flows.
            let flows = try scenario.securityGroupRules.map { try BenchScenario.securityGroupFlows(rules: $0) } ?? scenario.natFlows
            let tag = scenario.nat == nil ? [role(.access)] : []
            try vsctl(["add-br", br, "--", "set", "bridge", br, "datapath_type=netdev",
                       "--", "add-port", br, lab.a] + tag + afxdp(lab.a, 1)
                      + ["--", "add-port", br, lab.b] + tag + afxdp(lab.b, 2))
            try loadFlows(flows, bridge: br, file: scenario.name)
        } else {
            try vsctl(["add-br", br, "--", "set", "bridge", br, "datapath_type=netdev",
                       "--", "add-port", br, lab.a, role(scenario.portA)] + afxdp(lab.a, 1)
                      + ["--", "add-port", br, lab.b, role(scenario.portB)] + afxdp(lab.b, 2))
        }
        let db = self.db, env = self.env
        try waitFor("afxdp ports") {
            [lab.a, lab.b].allSatisfy { port in
                let r = Shell.run(env + ["ovs-vsctl", "--db=\(db)", "get", "interface", port, "ofport"])
                return r.succeeded && !r.output.hasPrefix("-1") && !r.output.hasPrefix("[]")
            }
        }
        usleep(500_000)  // the pmd thread picks the new rx queues up
    }

    /// The underlay of OVS userspace tunnelling: the local address on br-phy's internal
    /// port, the route to the remote through it, and the remote's MAC in the tunnel ARP cache.
    private func setUpUnderlay(lab: BenchLab, phy: String, remoteMAC: [UInt8]) throws {
        for command in [["ip", "addr", "add", "\(BenchScenario.dotted(BenchScenario.localIP))/24", "dev", phy],
                        ["ip", "link", "set", phy, "up"]] {
            let r = lab.inFwd(command)
            guard r.succeeded else { throw BenchFailure("ovs: \(command.joined(separator: " ")): \(r.output)") }
        }
        usleep(300_000)
        for command in [["ovs/route/add", "\(BenchScenario.dotted(BenchScenario.remoteIP))/32", phy],
                        ["tnl/arp/set", phy, BenchScenario.dotted(BenchScenario.remoteIP), BenchScenario.colon(remoteMAC)]] {
            let r = Shell.run(env + ["ovs-appctl", "-t", "\(rundir)/ovs-vswitchd.ctl"] + command)
            guard r.succeeded else { throw BenchFailure("ovs: ovs-appctl \(command.joined(separator: " ")): \(r.output)") }
        }
    }

    /// Replaces `bridge`'s flows with `flows` (del-flows + add-flows: `replace-flows` refuses
    /// flows that need NXM with table_id).
    private func loadFlows(_ flows: [String], bridge: String, file: String) throws {
        let path = "\(rundir)/\(file).flows"
        try writeFile(path, flows.joined(separator: "\n") + "\n")
        for command in [["del-flows", bridge], ["add-flows", bridge, path]] {
            let r = Shell.run(env + ["ovs-ofctl"] + command)
            guard r.succeeded else { throw BenchFailure("ovs: ovs-ofctl \(command[0]) \(bridge): \(r.output)") }
        }
    }

    /// `compute`: br-int (the VM's afxdp port `a`, tag 100, patch-tun) with the security-group
    /// flows, br-tun (patch-int, gre0 key=flow) with Neutron's tunnel flows, and br-phy owning
    /// the underlay `b` as in `gre-encap`; ofports as the flows name them.
    private func startCompute(lab: BenchLab, integration br: String) throws {
        let phy = lab.network.prefix + "phy", tun = lab.network.prefix + "tun"
        phyBridge = phy
        tunBridge = tun
        let ports = BenchScenario.computePorts
        func afxdp(_ port: String, _ ofport: Int) -> [String] {
            ["--", "set", "interface", port, "type=afxdp", "options:xdp-mode=native", "ofport_request=\(ofport)"]
        }
        try vsctl(["add-br", phy, "--", "set", "bridge", phy, "datapath_type=netdev",
                   "other-config:hwaddr=\"\(BenchScenario.colon(BenchScenario.bMAC))\"", "--", "add-port", phy, lab.b] + afxdp(lab.b, 1)
                  + ["--", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev",
                     "--", "add-port", br, lab.a, "tag=\(BenchScenario.vlan)"] + afxdp(lab.a, ports.vm)
                  + ["--", "add-port", br, "patch-tun", "--", "set", "interface", "patch-tun", "type=patch",
                     "options:peer=patch-int", "ofport_request=\(ports.patchTun)"]
                  + ["--", "add-br", tun, "--", "set", "bridge", tun, "datapath_type=netdev",
                     "--", "add-port", tun, "patch-int", "--", "set", "interface", "patch-int", "type=patch",
                     "options:peer=patch-tun", "ofport_request=\(ports.patchInt)",
                     "--", "add-port", tun, "gre0", "--", "set", "interface", "gre0", "type=gre",
                     "options:remote_ip=\(BenchScenario.dotted(BenchScenario.remoteIP))", "options:key=flow",
                     "ofport_request=\(ports.gre)"])
        try setUpUnderlay(lab: lab, phy: phy, remoteMAC: BenchScenario.sinkMAC)
        try loadFlows(try BenchScenario.computeIntegrationFlows(), bridge: br, file: "compute-br-int")
        try loadFlows(BenchScenario.computeTunnelFlows, bridge: tun, file: "compute-br-tun")
    }

    func firewallCounts() -> FirewallCounts? {
        guard let bridge else { return nil }
        let r = Shell.run(env + ["ovs-ofctl", "dump-flows", bridge, "table=\(firewallTable)"])
        return r.succeeded ? FirewallCounts(dumpLines: r.output.split(separator: "\n").map { "table=\(firewallTable), " + $0 },
                                            table: firewallTable) : nil
    }

    func counters() -> PeerCounters {
        guard let pid = vswitchdPID else { return PeerCounters(cpuSeconds: nil) }
        return PeerCounters(cpuSeconds: ProcessCPU.seconds(pid: pid))
    }

    func stop() {
        for br in [bridge, tunBridge, phyBridge].compactMap({ $0 }) { try? vsctl(["--if-exists", "del-br", br]) }
        // Connections of an sg run must not make the next run's stream established from the start.
        if bridge != nil { Shell.run(env + ["ovs-appctl", "-t", "\(rundir)/ovs-vswitchd.ctl", "dpctl/flush-conntrack"]) }
        bridge = nil
        phyBridge = nil
        tunBridge = nil
    }

    func shutdown() {
        stop()
        for pid in [vswitchdPID, dbPID].compactMap({ $0 }) {
            kill(pid, SIGTERM)
            var waited = 0
            while waitpid(pid, nil, WNOHANG) == 0 && waited < 50 { usleep(100_000); waited += 1 }
            if waited >= 50 { kill(pid, SIGKILL); _ = Shell.wait(pid) }
        }
        vswitchdPID = nil
        dbPID = nil
    }

    /// Deletes the rundir (database, sockets, logs); kept when the daemons failed, for the logs.
    func removeRundir() { Shell.run(["rm", "-rf", rundir]) }
}

/// CPU time from /proc (control path only).
enum ProcessCPU {
    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// user + system seconds of process `pid`, all threads (live and exited).
    static func seconds(pid: pid_t) -> Double? {
        guard let text = read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After "pid (comm)": state is field 3, utime 14, stime 15 → indices 11, 12 here.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticks
    }

    /// Machine-wide (all CPUs) seconds spent in softirq and in total busy time, from /proc/stat.
    static func machine() -> (softirq: Double, busy: Double) {
        guard let text = read("/proc/stat"), let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return (0, 0) }
        let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard v.count >= 8 else { return (0, 0) }
        // user nice system idle iowait irq softirq steal
        return (v[6] / ticks, (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks)
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Writes `text` to `path` (control path: rules and flows files for the peers).
func writeFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw BenchFailure("\(path): \(String(cString: strerror(errno)))") }
    defer { fclose(file) }
    guard fputs(text, file) >= 0 else { throw BenchFailure("\(path): \(String(cString: strerror(errno)))") }
}
