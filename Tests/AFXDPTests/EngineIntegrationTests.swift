#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import Foundation
import XDPLab
import XDPScenarios
import Testing
import XDPDatapath
import XDPModel
import XDPSwitch

/// Every AF_XDP integration suite is nested here so they run one at a time: they share two
/// cores, and the load test would starve the ping tests' timeouts.
@Suite("AF_XDP integration", .serialized, .enabled(if: afxdpAvailable, "needs root and AF_XDP"))
struct AFXDPIntegrationTests {}

extension AFXDPIntegrationTests {
@Suite("AF_XDP engine on veth pairs")
struct EngineIntegrationTests {
    @Test func twoNamespacesPingThroughAccessPorts() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.91.0.1", mac: "02:00:00:91:00:01")
        try topo.addHost("b", ip: "10.91.0.2", mac: "02:00:00:91:00:02")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 10), (topo.port("b"), 10)]))
        defer { engine.close() }
        try engine.start()

        let small = topo.ping("a", "b")
        #expect(small.succeeded, "\(small.output)")
        let large = topo.ping("a", "b", size: 1472, dontFragment: true)
        #expect(large.succeeded, "\(large.output)")

        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
        // By the rings or, with the fast path on, by the kernel.
        #expect(stats.interface(topo.port("a"))!.receivedPackets >= 6)
        #expect(stats.interface(topo.port("b"))!.sentPackets >= 6)
        for attachment in engine.attachments { #expect(attachment.mode == .native) }
    }

    @Test func threeNamespacesOnOneBridgeReachEachOther() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.92.0.1", mac: "02:00:00:92:00:01")
        try topo.addHost("b", ip: "10.92.0.2", mac: "02:00:00:92:00:02")
        try topo.addHost("c", ip: "10.92.0.3", mac: "02:00:00:92:00:03")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 5), (topo.port("b"), 5), (topo.port("c"), 5)]))
        defer { engine.close() }
        try engine.start()
        for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")] {
            let result = topo.ping(from, to, count: 2)
            #expect(result.succeeded, "\(from) → \(to): \(result.output)")
        }
        let jumbo = topo.ping("c", "b", count: 2, size: 1472, dontFragment: true)
        #expect(jumbo.succeeded, "\(jumbo.output)")
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    @Test func tcpTransferOfTwelveMegabytesArrivesIntact() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.93.0.1", mac: "02:00:00:93:00:01")
        try topo.addHost("b", ip: "10.93.0.2", mac: "02:00:00:93:00:02")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 7), (topo.port("b"), 7)]))
        defer { engine.close() }
        try engine.start()

        let problems = try topo.transferTwelveMegabytes("a", "b")
        #expect(problems.isEmpty, "\(problems)")
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    @Test func hostsOnDifferentTagsAreIsolated() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.94.0.1", mac: "02:00:00:94:00:01")
        try topo.addHost("b", ip: "10.94.0.2", mac: "02:00:00:94:00:02")
        try topo.addHost("c", ip: "10.94.0.3", mac: "02:00:00:94:00:03")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 10), (topo.port("b"), 10), (topo.port("c"), 20)]))
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 2).succeeded)
        #expect(!topo.ping("a", "c", count: 2, timeout: 1).succeeded)
        #expect(!topo.ping("c", "b", count: 2, timeout: 1).succeeded)
        let stats = engine.statistics()
        // c's ARP requests flood nowhere: no other port carries VLAN 20.
        #expect(stats.interface(topo.port("a"))!.txPackets > 0)
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    @Test func macMoveRedirectsTrafficToTheNewPort() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.95.0.1", mac: "02:00:00:95:00:01")
        try topo.addHost("b", ip: "10.95.0.2", mac: "02:00:00:95:00:02")
        try topo.addHost("c", ip: "10.95.0.3", mac: "02:00:00:95:00:03")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 3), (topo.port("b"), 3), (topo.port("c"), 3)]))
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 2).succeeded)

        // The "VM" behind port a moves behind port c: same MAC and IP, old link down.
        try Shell.check(["ip", "-n", topo.namespace("a"), "link", "set", "eth0", "down"])
        let c = topo.namespace("c")
        try Shell.check(["ip", "-n", c, "link", "set", "eth0", "down"])
        try Shell.check(["ip", "-n", c, "link", "set", "eth0", "address", "02:00:00:95:00:01"])
        try Shell.check(["ip", "-n", c, "addr", "flush", "dev", "eth0"])
        try Shell.check(["ip", "-n", c, "addr", "add", "10.95.0.1/24", "dev", "eth0"])
        try Shell.check(["ip", "-n", c, "link", "set", "eth0", "up"])
        // b still has the moved MAC in its ARP cache: its replies are unicast to it.
        let moved = topo.lab.run(in: c, ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", "10.95.0.2"])
        #expect(moved.succeeded, "\(moved.output)")
        let stats = engine.statistics()
        #expect((stats.datapathPorts[topo.port("c")]?.macMoves ?? 0) >= 1)
        #expect(stats.interface(topo.port("c"))!.sentPackets >= 3)
        #expect(stats.frames.isBalanced, "\(stats.frames)")
    }

    @Test func multiQueueVethGetsOneSocketPerQueue() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.96.0.1", mac: "02:00:00:96:00:01", queues: 2)
        try topo.addHost("b", ip: "10.96.0.2", mac: "02:00:00:96:00:02", queues: 2)
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 4), (topo.port("b"), 4)]))
        defer { engine.close() }
        #expect(engine.attachments.map(\.queues) == [2, 2])
        try engine.start()
        let result = topo.ping("a", "b", count: 4)
        #expect(result.succeeded, "\(result.output)")
        #expect(engine.statistics().frames.isBalanced)
    }

    /// More sockets than the UMEM has rings' worth of frames for: the fill rings leave an
    /// eighth of the UMEM to the datapath, which floods the ARP requests and answers them
    /// from it. Without the reserve the fill rings took every frame (free 0) and the
    /// datapath dropped every copy it had to make as `no-buffer`.
    @Test func fillRingsLeaveTheDatapathItsReserve() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        for (n, host) in ["a", "b", "c"].enumerated() {
            try topo.addHost(host, ip: "10.95.0.\(n + 1)", mac: "02:00:00:95:00:0\(n + 1)")
        }
        var options = EngineConfiguration()
        options.frameCount = 4096
        options.ringSize = 2048           // three fill rings would want 6,144 frames
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 5), (topo.port("b"), 5), (topo.port("c"), 5)]),
                                options: options)
        defer { engine.close() }
        #expect(engine.statistics().frames.free >= 4096 / 8)
        try engine.start()
        let toB = topo.ping("a", "b", count: 3), toC = topo.ping("a", "c", count: 3)
        #expect(toB.succeeded, "\(toB.output)")
        #expect(toC.succeeded, "\(toC.output)")
        let statistics = engine.statistics()
        #expect(statistics.datapathPorts.values.allSatisfy { ($0.drops[.noBuffer] ?? 0) == 0 }, "\(statistics)")
        #expect(statistics.frames.isBalanced)
    }

    /// A datapath made for an engine is built at the engine's clock, so `dump-flows`
    /// counts a configured flow's duration from the engine's start (it was built at time 0,
    /// and every flow showed the time since boot), from a `DatapathConfiguration` and from
    /// a `SwitchConfiguration` alike.
    @Test func theDatapathIsBuiltAtTheEnginesClock() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.94.0.1", mac: "02:00:00:94:00:01")
        let configuration = bridge([(topo.port("a"), 1)])
        for useSwitchConfiguration in [false, true] {
            let before = DatapathInstant.now()
            let engine = useSwitchConfiguration
                ? try AFXDPEngine(configuration: SwitchConfiguration(datapath: configuration))
                : try AFXDPEngine(configuration: configuration)
            let created = engine.perform { datapath, _ in datapath.flows(bridge: "br-int").map(\.counters.created) } ?? []
            engine.close()
            #expect(!created.isEmpty)
            #expect(created.allSatisfy { $0 >= before }, "created \(created), engine made after \(before)")
        }
    }

    /// A queue whose socket is still being released (a previous engine, a run that just
    /// exited: the kernel clears it in deferred work under the RTNL lock) answers EBUSY;
    /// the next engine waits for it instead of failing. Here the first engine holds the
    /// queue for 3 s after the second starts opening it.
    @Test func aQueueStillHeldIsWaitedFor() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.95.0.1", mac: "02:00:00:95:00:01")
        try topo.addHost("b", ip: "10.95.0.2", mac: "02:00:00:95:00:02")
        let configuration = bridge([(topo.port("a"), 1), (topo.port("b"), 1)])
        final class Held: @unchecked Sendable { let engine: AFXDPEngine; init(_ engine: AFXDPEngine) { self.engine = engine } }
        let first = Held(try AFXDPEngine(configuration: configuration))
        let released = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            sleep(3)
            first.engine.close()
            released.signal()
        }
        let second = try AFXDPEngine(configuration: configuration)
        defer { second.close() }
        #expect(released.wait(timeout: .now()) == .success, "the second engine opened the queue while the first held it")
        try second.start()
        #expect(topo.ping("a", "b", count: 2).succeeded)
    }

    /// The engine's AF_XDP sockets (the UMEM's and each queue's) are close-on-exec: libxdp
    /// opens them without it, and a child started meanwhile (the agent's metadata proxies,
    /// which outlive it) kept the queues bound after the engine closed them — EBUSY for
    /// the next engine until the child exited. (AF_XDP sockets only: the suites running
    /// beside this one open descriptors of their own.)
    @Test func theEnginesAFXDPSocketsAreCloseOnExec() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.96.0.1", mac: "02:00:00:96:00:01")
        try topo.addHost("b", ip: "10.96.0.2", mac: "02:00:00:96:00:02")
        func xdpSockets() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init).filter { fd in
                var domain: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && domain == AF_XDP
            }
        }
        let before = Set(xdpSockets())
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 1), (topo.port("b"), 1)]))
        defer { engine.close() }
        try engine.start()
        let opened = xdpSockets().filter { !before.contains($0) }
        #expect(opened.count >= 2, "one socket per interface at least: \(opened)")
        let inherited = opened.filter { fcntl($0, F_GETFD) & FD_CLOEXEC == 0 }
        #expect(inherited.isEmpty, "AF_XDP sockets a child would inherit: \(inherited) of \(opened)")
    }

    @Test func cleanShutdownLeavesNoXDPProgram() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.97.0.1", mac: "02:00:00:97:00:01")
        try topo.addHost("b", ip: "10.97.0.2", mac: "02:00:00:97:00:02")
        do {
            let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 1), (topo.port("b"), 1)]))
            try engine.start()
            #expect(xdpAttached(topo.port("a")))
            #expect(topo.ping("a", "b", count: 1).succeeded)
            engine.close()
        }
        #expect(!xdpAttached(topo.port("a")))
        #expect(!xdpAttached(topo.port("b")))
    }

    @Test func staleNetlinkProgramIsReplaced() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.98.0.1", mac: "02:00:00:98:00:01")
        try topo.addHost("b", ip: "10.98.0.2", mac: "02:00:00:98:00:02")
        // What a killed netlink-attaching run leaves behind: a program on the interface
        // owned by no process (xdp-loader / ip attach through netlink).
        let object = "/tmp/\(topo.lab.prefix)-pass.o"
        defer { Shell.run(["rm", "-f", object]) }
        let source = "/tmp/\(topo.lab.prefix)-pass.c"
        defer { Shell.run(["rm", "-f", source]) }
        try Shell.check(["sh", "-c", "printf '#include <linux/bpf.h>\\n#include <bpf/bpf_helpers.h>\\nSEC(\"xdp\") int stale(struct xdp_md *c) { return XDP_PASS; }\\nchar _l[] SEC(\"license\") = \"GPL\";\\n' > \(source)"])
        try Shell.check(["clang", "-O2", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", source, "-o", object])
        try Shell.check(["ip", "link", "set", "dev", topo.port("a"), "xdpdrv", "obj", object, "sec", "xdp"])
        #expect(xdpAttached(topo.port("a")))
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 1), (topo.port("b"), 1)]))
        #expect(engine.attachments[0].replaced?.contains("stale") == true)
        try engine.start()
        #expect(topo.ping("a", "b", count: 2).succeeded)
        engine.close()
        #expect(!xdpAttached(topo.port("a")))
    }

    @Test func genericModeForwardsAndIsReported() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.88.0.1", mac: "02:00:00:88:00:01")
        try topo.addHost("b", ip: "10.88.0.2", mac: "02:00:00:88:00:02")
        var options = EngineConfiguration()
        options.attachMode = .generic
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 2), (topo.port("b"), 2)]), options: options)
        defer { engine.close() }
        #expect(engine.attachments.allSatisfy { $0.mode == .generic })
        #expect(Shell.run(["ip", "-d", "link", "show", "dev", topo.port("a")]).output.contains("xdpgeneric"))
        try engine.start()
        let result = topo.ping("a", "b", count: 2, size: 1472, dontFragment: true)
        #expect(result.succeeded, "\(result.output)")
        #expect(engine.statistics().frames.isBalanced)
    }

    @Test func missingInterfaceIsOneLineErrorNamingIt() throws {
        #expect {
            _ = try AFXDPEngine(configuration: bridge([("xtnosuch0", 1)]))
        } throws: { error in
            "\(error)" == "xtnosuch0: if_nametoindex: No such device"
        }
    }

    @Test func ringSizeThatIsNoPowerOfTwoIsRefusedBeforeAnythingIsAttached() throws {
        var options = EngineConfiguration()
        options.ringSize = 1000
        #expect {
            _ = try AFXDPEngine(configuration: bridge([("xtnosuch0", 1)]), options: options)
        } throws: { error in
            "\(error)" == "EngineConfiguration.ringSize: Invalid argument (1000: expected a power of two, 64-16384)"
        }
        #expect(EngineConfiguration.isValidRingSize(64) && EngineConfiguration.isValidRingSize(16384))
        #expect(!EngineConfiguration.isValidRingSize(32) && !EngineConfiguration.isValidRingSize(32768))
    }

    /// Pinning to a CPU the process may not run on would fail and leave the worker unpinned.
    @Test func cpuThatIsNotAllowedIsRefusedBeforeAnythingIsAttached() throws {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let allowed = EngineConfiguration.allowedCPUs
        var options = EngineConfiguration()
        options.cpu = online
        #expect {
            _ = try AFXDPEngine(configuration: bridge([("xtnosuch0", 1)]), options: options)
        } throws: { error in
            "\(error)" == "EngineConfiguration.cpu: Invalid argument (\(online): expected a CPU this process may run on (\(EngineConfiguration.cpuListText(allowed))))"
        }
        #expect(!allowed.isEmpty && allowed.allSatisfy { (0..<online).contains($0) })
        #expect(allowed.allSatisfy(EngineConfiguration.isValidCPU))
        #expect(!EngineConfiguration.isValidCPU(-1) && !EngineConfiguration.isValidCPU(online))
    }

    @Test func cpuListsAreWrittenAsTasksetReadsThem() {
        #expect(EngineConfiguration.cpuListText([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8")
        #expect(EngineConfiguration.cpuListText([3]) == "3")
        #expect(EngineConfiguration.cpuListText([]) == "")
    }

    @Test func rawForwarderMovesFramesBothWays() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.99.0.1", mac: "02:00:00:99:00:01")
        try topo.addHost("b", ip: "10.99.0.2", mac: "02:00:00:99:00:02")
        let engine = try RawForwarder(pairs: [(topo.port("a"), topo.port("b"))])
        defer { engine.close() }
        try engine.start()
        let result = topo.ping("a", "b", count: 3, size: 1472, dontFragment: true)
        #expect(result.succeeded, "\(result.output)")
        let stats = engine.statistics()
        #expect(stats.frames.isBalanced, "\(stats.frames)")
        #expect(stats.frames.total == engine.umemFrames.count)
        // The kernel put received data behind its 256-byte XDP headroom.
        #expect(engine.umemFrames.dataOffset == 256)
    }
}
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let last = s.last, set.contains(last) { s = s.dropLast() }
        return String(s)
    }
}

extension AFXDPIntegrationTests {
@Suite("AF_XDP engine under load")
struct EngineLoadTests {
    /// gen:g0 ⇄ a [engine] b ⇄ s0:sink, a live-frames generator (not started) and a counting
    /// sink; everything is removed when `body` returns or throws.
    private func withLoadLab(tag: String, options: EngineConfiguration = EngineConfiguration(),
                             _ body: (_ engine: AFXDPEngine, _ generator: TrafficGenerator, _ sink: CountingSink,
                                      _ a: String, _ b: String) throws -> Void) throws {
        let lab = LabNetwork(tag: tag)
        defer { lab.tearDown() }
        let gen = try lab.addNamespace("gen")
        let sinkNS = try lab.addNamespace("sink")
        let a = try lab.addHost(namespace: gen, switchSide: "a", hostSide: "g0", mac: "02:00:00:00:00:01")
        let b = try lab.addHost(namespace: sinkNS, switchSide: "b", hostSide: "s0", mac: "02:00:00:00:00:04")
        let sink = try CountingSink(interface: "s0", namespace: sinkNS)
        defer { sink.detach() }
        let engine = try AFXDPEngine(configuration: bridge([(a, 1), (b, 1)]), options: options)
        defer { engine.close() }
        try engine.start()
        let generator = TrafficGenerator(interface: "g0", namespace: gen,
                                         frame: ScenarioFrames.udp(destination: [2, 0, 0, 0, 0, 4], source: [2, 0, 0, 0, 0, 1], size: 60))
        defer { generator.stop() }
        try body(engine, generator, sink, a, b)
    }

    /// The sockets' rings under overload, so with the fast path off whatever
    /// XDPSWITCH_FAST_PATH says: the generator's stream (to a MAC the sink never announces)
    /// is NORMAL's flood to the one port left, which the fast path would carry past them.
    @Test func framesStayAccountedForUnderOverloadAndKicksAreBatched() throws {
        var options = EngineConfiguration()
        options.fastPath = false
        try withLoadLab(tag: "t", options: options) { engine, generator, sink, a, b in
            try generator.start()
            var balancedWhileLoaded = 0
            for _ in 0..<10 {
                usleep(100_000)
                let stats = engine.statistics()
                #expect(stats.frames.isBalanced, "\(stats.frames)")
                if stats.frames.isBalanced { balancedWhileLoaded += 1 }
            }
            generator.stop()
            #expect(generator.error == nil)
            usleep(200_000)
            let stats = engine.statistics()
            #expect(balancedWhileLoaded == 10)
            #expect(stats.frames.isBalanced, "\(stats.frames)")
            // Everything forwarded was seen by the sink (nothing lost between TX ring and s0).
            #expect(sink.counts.packets > 10_000)
            #expect(sink.counts.packets == stats.interface(b)!.completed)
            // Every RX batch holds 1...batchSize frames.
            #expect(stats.rxBatches > 0 && stats.rxPackets >= stats.rxBatches)
            #expect(stats.rxPackets <= stats.rxBatches * 64, "\(stats.rxPackets) frames in \(stats.rxBatches) batches")
            // Copy mode sends a limited batch per kick: 32 on this kernel (16 on older ones).
            #expect([16, 32].contains(stats.maxFramesPerKick), "max frames per kick \(stats.maxFramesPerKick)")
            // Excess load is dropped by the kernel at RX (no fill buffer / RX ring full), counted.
            let dropped = stats.interface(a)!.drops.values.reduce(0, +)
            #expect(generator.sent > stats.interface(a)!.rxPackets)
            #expect(dropped > 0)
        }
    }

    /// The fill ring holds one ring's worth together with the RX ring: a worker a whole
    /// ring behind leaves the kernel no buffer, so it drops arrivals before copying them
    /// (`rx-dropped`) and never copies a frame only to find the RX ring full.
    @Test func aWorkerARingBehindMakesTheKernelDropBeforeCopying() throws {
        var options = EngineConfiguration()
        options.ringSize = 64
        try withLoadLab(tag: "r", options: options) { engine, generator, sink, a, _ in
            usleep(100_000)
            let sockets = engine.attachments.reduce(0) { $0 + $1.queues }
            let idle = engine.statistics()
            // At rest every socket's fill ring holds one ring's worth.
            #expect(idle.frames.fillRing == 64 * sockets, "\(idle.frames)")
            try generator.start()
            usleep(100_000)
            // Hold the worker for 300 ms: arrivals pile up on a's RX ring, then find no buffer.
            let before = engine.statistics().interface(a)!
            _ = engine.perform { _, _ in usleep(300_000) }
            let after = engine.statistics().interface(a)!
            generator.stop()
            #expect(generator.error == nil)
            let dropped = after.drops["rx-dropped", default: 0] - before.drops["rx-dropped", default: 0]
            let ringFull = after.drops["rx-ring-full", default: 0] - before.drops["rx-ring-full", default: 0]
            #expect(dropped > 1000, "rx-dropped grew by \(dropped) while the worker was held")
            #expect(ringFull == 0, "rx-ring-full grew by \(ringFull): frames copied and then dropped")
            usleep(200_000)
            let stats = engine.statistics()
            #expect(stats.frames.isBalanced, "\(stats.frames)")
            #expect(sink.counts.packets > 0)
        }
    }

    @Test func idleSwitchUsesNoCPU() throws {
        let topo = Topology()
        defer { topo.tearDown() }
        try topo.addHost("a", ip: "10.89.0.1", mac: "02:00:00:89:00:01")
        try topo.addHost("b", ip: "10.89.0.2", mac: "02:00:00:89:00:02")
        let engine = try AFXDPEngine(configuration: bridge([(topo.port("a"), 1), (topo.port("b"), 1)]))
        defer { engine.close() }
        try engine.start()
        #expect(topo.ping("a", "b", count: 1).succeeded)
        usleep(300_000)
        let before = engine.statistics()
        usleep(1_500_000)
        let after = engine.statistics()
        let busy = after.workerCPUTime - before.workerCPUTime
        #expect(busy < .milliseconds(50), "idle worker used \(busy) of CPU in 1.5 s")
        #expect(after.sleeps > before.sleeps)
    }
}
}
