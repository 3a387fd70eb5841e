#if canImport(Glibc)
import Glibc
#endif
@testable import AFXDP
import Testing
@testable import XDPDatapath
import XDPLab
import XDPPacket
import XDPScenarios

/// GRE in the fast path (Datapath+FastPathTunnels.swift): a learned unicast NORMAL sends to
/// a `gre` port is decided with the outer headers the tunnel writes, and holds while the
/// next hop's MAC does; one whose frames arrive in GRE packets is decided as entering by the
/// tunnel port, with the packets they must arrive in.
@Suite("Fast path: GRE encapsulation and decapsulation")
struct FastPathTunnelTests {
    /// The remote tunnel endpoints: the first three are static neighbours, the fourth is
    /// learned by ARP (unknown until it answers).
    static let remotes = [IPv4Address(172, 16, 0, 2), IPv4Address(172, 16, 0, 3), IPv4Address(172, 16, 0, 4), IPv4Address(172, 16, 0, 5)]
    static let remoteMACs = [MACAddress(rawValue: 0x0200_00ac_1002), MACAddress(rawValue: 0x0200_00ac_1003),
                             MACAddress(rawValue: 0x0200_00ac_1004)]
    static let localMAC = MACAddress(rawValue: 0x0200_00ac_1001)
    /// A GRE port of each key mode (none, 0x1234, flow) and one whose next hop is not known.
    static let tunnels: [(name: String, key: GREOptions.Key, wireKey: UInt32?)] = [
        ("gre-none", .none, nil), ("gre-fixed", .fixed(0x1234), 0x1234), ("gre-flow", .flow, 0x99), ("gre-far", .none, nil),
    ]
    /// The hosts behind each tunnel (in VLAN 10), and the local ones: `a` (access, VLAN 10), `t` (trunk, tagged 10).
    static let farMACs = (0..<4).map { MACAddress(rawValue: 0x0200_0000_ee00 | UInt64($0)) }
    static let localHosts: [(port: String, mac: MACAddress, tagged: Bool)] = [
        ("a", MACAddress(rawValue: 0x0200_0000_0a01), false), ("t", MACAddress(rawValue: 0x0200_0000_0a02), true),
    ]

    /// The underlay's MTU: a 280-byte frame does not fit once encapsulated.
    static func configuration(mtu: Int = 300) -> DatapathConfiguration {
        var ports = [PortConfiguration(name: "a", tag: 10), PortConfiguration(name: "t", trunks: [10])]
        for (i, tunnel) in tunnels.enumerated() {
            ports.append(PortConfiguration(name: tunnel.name, type: .gre(GREOptions(remoteIP: remotes[i], key: tunnel.key))))
        }
        var neighbours: [IPv4Address: MACAddress] = [:]
        for i in 0..<3 { neighbours[remotes[i]] = remoteMACs[i] }
        return DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-int", ports: ports)],
                                     underlay: UnderlayConfiguration(interface: "u", address: IPv4Address(172, 16, 0, 1), prefixLength: 24,
                                                                     mac: localMAC, mtu: mtu, neighbours: neighbours))
    }

    /// A GRE packet from tunnel `i`'s remote carrying `inner`.
    static func fromTunnel(_ i: Int, inner: [UInt8], remoteMAC: MACAddress = MACAddress(rawValue: 0x0200_00ac_10ff)) -> [UInt8] {
        FrameBuilder().ethernet(source: remoteMAC, destination: localMAC)
            .ipv4(source: remotes[i], destination: IPv4Address(172, 16, 0, 1), identification: 0, dontFragment: true)
            .gre(key: tunnels[i].wireKey, protocolType: .transparentEthernetBridging).payload(inner).build()
    }

    /// A datapath that has learned every host: the far ones through their tunnels (their
    /// broadcasts, tagged with VLAN 10 as a trunk carries them), the local ones by theirs.
    static func learned(_ configuration: DatapathConfiguration, now: DatapathInstant) throws -> Datapath {
        let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 512), now: now)
        datapath.fastPathRecording = true
        for i in 0..<tunnels.count {
            let hello = FrameBuilder().ethernet(source: farMACs[i], destination: .broadcast).vlan(vid: 10)
                .ipv4(source: IPv4Address(10, 0, 0, 100 + UInt8(i)), destination: IPv4Address(10, 0, 0, 255))
                .udp(sourcePort: 68, destinationPort: 67).build()
            datapath.inject(fromTunnel(i, inner: hello), into: datapath.port(named: "u")!, now: now)
            _ = FastPathConnectionTests.drain(datapath)
        }
        for host in localHosts {
            var hello = FrameBuilder().ethernet(source: host.mac, destination: .broadcast)
            if host.tagged { hello = hello.vlan(vid: 10) }
            datapath.inject(hello.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 255))
                .udp(sourcePort: 68, destinationPort: 67).build(), into: datapath.port(named: host.port)!, now: now)
            _ = FastPathConnectionTests.drain(datapath)
        }
        _ = datapath.takeFastPathDecisions()
        return datapath
    }

    static func datagram(from host: (port: String, mac: MACAddress, tagged: Bool), to mac: MACAddress, size: Int = 0) -> [UInt8] {
        var f = FrameBuilder().ethernet(source: host.mac, destination: mac)
        if host.tagged { f = f.vlan(vid: 10) }
        return f.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2)).udp(sourcePort: 4000, destinationPort: 53)
            .payload(count: size).build()
    }

    @Test func aFrameToAHostBehindAGREPortIsDecidedWithTheTunnelsOuterHeaders() throws {
        let now = DatapathInstant.now()
        let datapath = try Self.learned(Self.configuration(), now: now)
        for host in Self.localHosts {
            for i in 0..<3 {
                let frame = Self.datagram(from: host, to: Self.farMACs[i])
                let (left, decisions) = FastPathRouteTests.send(frame, datapath, now: now, port: host.port)
                try #require(left.count == 1 && left[0].0 == "u", "\(left.map(\.0))")
                let decision = try #require(decisions.first, "\(host.port) → \(Self.tunnels[i].name): nothing decided")
                let encapsulation = try #require(decision.encapsulation)
                #expect(decisions.count == 1)
                #expect(decision.outPort == datapath.port(named: Self.tunnels[i].name)!.id)
                #expect(decision.egressPort == datapath.port(named: "u")!.id)
                #expect(encapsulation.header.count == (Self.tunnels[i].wireKey == nil ? 38 : 42))
                // The kernel's bytes are the tunnel's: the tag pushed (access port), the outer
                // headers with their length and checksum; the flow-keyed port sends key 0.
                #expect(decision.applied(to: frame) == left[0].1)
                #expect(decision.tagOperation == (host.tagged ? .keep : .push))
                #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
                // The adoption at restart works it out again from the key alone.
                #expect(datapath.fastPathDecision(for: decision.key, now: now) == decision)
                // Longest frame as received: 300 + 14 - overhead - the tag pushed.
                #expect(encapsulation.maximumLength == UInt32(314 - encapsulation.header.count - (host.tagged ? 0 : 4)))
            }
        }
    }

    @Test func aNextHopWithoutAKnownMACIsNotDecidedAndItsAnswerThenAMoveDecideAndUndo() throws {
        let now = DatapathInstant.now()
        let datapath = try Self.learned(Self.configuration(), now: now)
        let far = Self.farMACs[3]
        let first = FastPathRouteTests.send(Self.datagram(from: Self.localHosts[0], to: far), datapath, now: now)
        #expect(first.decisions.isEmpty, "decided while the next hop's MAC is unknown")
        // The remote answers the tunnel's ARP: the waiting frame leaves, the next is decided.
        func arpReply(_ mac: MACAddress) -> [UInt8] {
            FrameBuilder().ethernet(source: mac, destination: Self.localMAC)
                .arp(operation: .reply, senderMAC: mac, senderIP: Self.remotes[3], targetMAC: Self.localMAC, targetIP: IPv4Address(172, 16, 0, 1))
                .build()
        }
        datapath.inject(arpReply(MACAddress(rawValue: 0x0200_00ac_1005)), into: datapath.port(named: "u")!, now: now)
        _ = FastPathConnectionTests.drain(datapath)
        let second = FastPathRouteTests.send(Self.datagram(from: Self.localHosts[0], to: far), datapath, now: now)
        let decision = try #require(second.decisions.first)
        #expect(Array(decision.encapsulation!.header[0..<6]) == [0x02, 0, 0, 0xac, 0x10, 0x05])
        #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
        // The remote moves to another MAC: the transport is told, and the decision no longer holds.
        let changes = datapath.neighbourChanges
        datapath.inject(arpReply(MACAddress(rawValue: 0x0200_00ac_1006)), into: datapath.port(named: "u")!, now: now)
        _ = FastPathConnectionTests.drain(datapath)
        #expect(datapath.neighbourChanges > changes)
        #expect(datapath.fastPathExpiry(of: decision, now: now) == nil)
        let third = FastPathRouteTests.send(Self.datagram(from: Self.localHosts[0], to: far), datapath, now: now)
        #expect(third.decisions.first?.encapsulation?.header[5] == 0x06)
    }

    /// Tunnel `i`'s GRE packet carrying a datagram from its far host to local host `to`
    /// (tagged with VLAN 10, as a trunk carries it).
    static func inbound(_ i: Int, to: (port: String, mac: MACAddress, tagged: Bool), size: Int = 0) -> (packet: [UInt8], inner: [UInt8]) {
        let inner = FrameBuilder().ethernet(source: farMACs[i], destination: to.mac).vlan(vid: 10)
            .ipv4(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 1)).udp(sourcePort: 53, destinationPort: 4000)
            .payload(count: size).build()
        return (fromTunnel(i, inner: inner), inner)
    }

    @Test func aGREPacketForALocalHostIsDecidedAsEnteringByItsTunnel() throws {
        let now = DatapathInstant.now()
        let datapath = try Self.learned(Self.configuration(), now: now)
        let underlay = datapath.port(named: "u")!.id
        for host in Self.localHosts {
            // Every tunnel, gre-far too: taking a packet in needs no next hop.
            for i in 0..<Self.tunnels.count {
                let (packet, inner) = Self.inbound(i, to: host)
                let (left, decisions) = FastPathRouteTests.send(packet, datapath, now: now, port: "u")
                try #require(left.count == 1 && left[0].0 == host.port, "\(left.map(\.0))")
                let decision = try #require(decisions.first, "\(Self.tunnels[i].name) → \(host.port): nothing decided")
                let decapsulation = try #require(decision.decapsulation)
                #expect(decision.key.inPort == datapath.port(named: Self.tunnels[i].name)!.id)
                #expect(decision.key.tunnelID == UInt64(Self.tunnels[i].wireKey ?? 0))
                #expect(decision.ingressPort == underlay)
                #expect(decapsulation.key == Self.tunnels[i].wireKey && decapsulation.remote == Self.remotes[i])
                #expect(decapsulation.headerLength == packet.count - inner.count)
                #expect(decision.applied(to: inner) == left[0].1)
                #expect(decision.tagOperation == (host.tagged ? .keep : .pop))
                #expect(datapath.fastPathExpiry(of: decision, now: now) != nil)
                #expect(decision.bytesArriving(UInt64(inner.count), packets: 1) == UInt64(packet.count))
            }
        }
        // What the tunnel stage takes in only on its general path, or not at all, is not decided.
        let (packet, _) = Self.inbound(1, to: Self.localHosts[0])
        func variant(_ change: (inout [UInt8]) -> Void) -> [UInt8] { var f = packet; change(&f); return f }
        let others: [(String, [UInt8], Int)] = [
            ("trailing bytes", packet + [0, 0, 0, 0], 1),
            ("another key", variant { $0[41] ^= 1; TestChecksums.fix(&$0, l3: 14) }, 0),
            ("bad outer checksum", variant { $0[24] ^= 0x10 }, 0),
            ("another remote", variant { $0[29] = 9; TestChecksums.fix(&$0, l3: 14) }, 0),
        ]
        for (what, frame, leaving) in others {
            let (left, decisions) = FastPathRouteTests.send(frame, datapath, now: now, port: "u")
            #expect(left.count == leaving, "\(what): \(left.map(\.0))")
            #expect(decisions.isEmpty, "\(what): decided")
        }
        // The adoption at restart does not take a tunnel's entry (its id was the old process's).
        let decided = FastPathRouteTests.send(packet, datapath, now: now, port: "u").decisions
        #expect(decided.count == 1)
        #expect(decided.first.map { datapath.fastPathDecision(for: $0.key, now: now) } == .some(nil))
    }

    /// The bench's `gre-encap` and `gre-decap`: after the sink's prime frame (through the
    /// tunnel for `gre-encap`) the generator's stream is learned unicast, and decided.
    @Test(arguments: ["gre-encap", "gre-decap"])
    func theBenchsGREStreamsAreDecidedAfterTheirPrimeFrame(_ name: String) throws {
        let scenario = try #require(BenchScenario.select(name)?.first)
        let now = DatapathInstant.now()
        let datapath = try Datapath(configuration: try scenario.datapathConfiguration(a: "a", b: "b"), pool: FramePool(frameCount: 256), now: now)
        datapath.fastPathRecording = true
        let prime = try #require(scenario.primeFrame(size: 60))
        _ = FastPathRouteTests.send(prime.frame, datapath, now: now, port: "b")
        let (left, decisions) = FastPathRouteTests.send(scenario.generatorFrame(size: 60).frame, datapath, now: now)
        #expect(left.map(\.0) == ["b"])
        let decision = try #require(decisions.first, "\(name): nothing decided")
        #expect(name == "gre-encap" ? decision.encapsulation != nil : decision.decapsulation != nil)
    }

    @Test func aVXLANPortIsNotRepeated() throws {
        let now = DatapathInstant.now()
        let configuration = DatapathConfiguration(
            bridges: [BridgeConfiguration(name: "br-int", ports: [PortConfiguration(name: "a"),
                                                                   PortConfiguration(name: "vx", type: .vxlan(VXLANOptions(remoteIP: Self.remotes[0])))])],
            underlay: UnderlayConfiguration(interface: "u", address: IPv4Address(172, 16, 0, 1), mac: Self.localMAC,
                                            neighbours: [Self.remotes[0]: Self.remoteMACs[0]]))
        let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 256), now: now)
        datapath.fastPathRecording = true
        let hello = FrameBuilder().ethernet(source: Self.farMACs[0], destination: .broadcast)
            .ipv4(source: IPv4Address(10, 0, 0, 9), destination: IPv4Address(10, 0, 0, 255)).udp(sourcePort: 1, destinationPort: 2).build()
        datapath.inject(ScenarioFrames.vxlan(inner: hello, destination: [2, 0, 0, 0xac, 0x10, 0x01], source: [2, 0, 0, 0, 0, 9],
                                             from: [172, 16, 0, 2], to: [172, 16, 0, 1]), into: datapath.port(named: "u")!, now: now)
        _ = FastPathConnectionTests.drain(datapath)
        let sent = FastPathRouteTests.send(Self.datagram(from: ("a", MACAddress(rawValue: 0x0200_0000_0a01), false), to: Self.farMACs[0]),
                                           datapath, now: now)
        #expect(sent.left.map(\.0) == ["u"])
        #expect(sent.decisions.isEmpty)
        let back = FrameBuilder().ethernet(source: Self.farMACs[0], destination: MACAddress(rawValue: 0x0200_0000_0a01))
            .ipv4(source: IPv4Address(10, 0, 0, 9), destination: IPv4Address(10, 0, 0, 1)).udp(sourcePort: 1, destinationPort: 2).build()
        let inbound = FastPathRouteTests.send(ScenarioFrames.vxlan(inner: back, destination: [2, 0, 0, 0xac, 0x10, 0x01], source: [2, 0, 0, 0, 0, 9],
                                                                   from: [172, 16, 0, 2], to: [172, 16, 0, 1]), datapath, now: now, port: "u")
        #expect(inbound.left.map(\.0) == ["a"])
        #expect(inbound.decisions.isEmpty)
    }
}

extension AFXDPIntegrationTests {
    /// The program's GRE encapsulation and decapsulation against the pipeline's, frame by
    /// frame (`BPF_PROG_TEST_RUN`, as FastPathDifferentialTests): every key mode, from an
    /// access port (tag pushed) and a trunk, and back (tag popped, kept); frames too long for
    /// the underlay once encapsulated, IP options and a next hop without a MAC take the slow
    /// path, and so do GRE packets the tunnel stage takes only on its general path or not at
    /// all (trailing bytes, a bad outer checksum, a fragment, another MAC, remote or key, GRE
    /// flags, an inner broadcast); the relieved datapath's ports, the tunnels' and the
    /// underlay's included, count what the reference's do.
    @Suite("Fast path: XDP program vs Swift pipeline through GRE, both ways")
    struct FastPathTunnelDifferentialTests {
        @Test func theProgramEncapsulatesAndDecapsulatesAsTheTunnelDoesFrameByFrame() throws {
            let lab = LabNetwork(tag: "fpg")
            defer { lab.tearDown() }
            let namespace = try lab.addNamespace("dp")
            for wire in ["a", "t", "u"] {
                try Shell.check(["ip", "-n", namespace, "link", "add", "name", wire, "type", "veth", "peer", "name", "fpg" + wire])
                try Shell.check(["ip", "-n", namespace, "link", "set", "dev", wire, "up"])
            }
            let failures = try LabNetwork.inNamespace(namespace) { () throws -> [String] in try Self.compare() }
            #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
        }

        static func compare() throws -> [String] {
            var failures: [String] = []
            let now = DatapathInstant.now()
            let reference = try FastPathTunnelTests.learned(FastPathTunnelTests.configuration(), now: now)
            let cached = try FastPathTunnelTests.learned(FastPathTunnelTests.configuration(), now: now)
            reference.fastPathRecording = false
            let program = try SteeringProgram()
            var ifindex: [String: Int32] = [:]
            for (slot, wire) in ["a", "t", "u"].enumerated() {
                ifindex[wire] = Int32(bitPattern: if_nametoindex(wire))
                try program.setPort(ifindex: ifindex[wire]!, portID: slot, slotBase: UInt32(slot), queues: 1, interface: wire)
            }
            try program.fastPath.setEnabled(true)
            // One datagram per pair records the decisions (none toward gre-far: no MAC yet).
            var installed: [[UInt8]: FastPathDecision] = [:]
            for host in FastPathTunnelTests.localHosts {
                for far in FastPathTunnelTests.farMACs {
                    let frame = FastPathTunnelTests.datagram(from: host, to: far)
                    _ = FastPathRouteTests.send(frame, reference, now: now, port: host.port)
                    for decision in FastPathRouteTests.send(frame, cached, now: now, port: host.port).decisions {
                        guard let expiry = cached.fastPathExpiry(of: decision, now: now) else { failures.append("\(decision.key): does not hold"); continue }
                        let key = FastPathMaps.keyBytes(ifindex: ifindex[host.port]!, key: decision.key)
                        try program.fastPath.addDevice(ifindex["u"]!)
                        try program.fastPath.install(key: key, action: FastPathMaps.actionBytes(
                            of: decision, egress: ifindex["u"]!, expires: expiry.nanoseconds, maximumLength: 1792), fresh: true)
                        installed[key] = decision
                    }
                }
            }
            if installed.count != 6 { failures.append("\(installed.count) entries installed, 6 expected") }
            var carried = 0, expected = 0
            for host in FastPathTunnelTests.localHosts {
                for (i, far) in FastPathTunnelTests.farMACs.enumerated() {
                    let base = FastPathTunnelTests.datagram(from: host, to: far, size: 17)
                    var f = FrameBuilder().ethernet(source: host.mac, destination: far)
                    if host.tagged { f = f.vlan(vid: 10) }
                    let ip = f.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
                    let corpus: [(String, [UInt8], Bool)] = [
                        ("udp", base, true),
                        ("tcp", ip.tcp(sourcePort: 5, destinationPort: 80, flags: .ack).payload(count: 60).build(), true),
                        ("ipv6", { var g = FrameBuilder().ethernet(source: host.mac, destination: far)
                                   if host.tagged { g = g.vlan(vid: 10) }
                                   return g.ipv6(source: IPv6Address(high: 0xfd00 << 48, low: 1), destination: IPv6Address(high: 0xfd00 << 48, low: 2))
                                       .udp(sourcePort: 1, destinationPort: 2).payload(count: 8).build() }(), true),
                        ("trailing-bytes", base + [UInt8](repeating: 0xEE, count: 6), true),
                        // 286 bytes as the tunnel port takes it (tagged): 286 + 38 - 14 > 300.
                        ("too-long-once-encapsulated", FastPathTunnelTests.datagram(from: host, to: far, size: 240), false),
                        ("ip-options", f.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), options: [1, 1, 1, 1])
                            .udp(sourcePort: 1, destinationPort: 2).build(), false),
                    ]
                    for (what, frame, cacheable) in corpus {
                        let label = "\(host.port)→\(FastPathTunnelTests.tunnels[i].name) \(what)"
                        if cacheable && i < 3 { expected += 1 }
                        if try FastPathDifferentialTests.compareFrame(label, frame, cacheable: cacheable && i < 3, program: program,
                                                                      ifindex: ifindex[host.port]!, port: host.port, egress: "u",
                                                                      reference: reference, cached: cached, now: now, failures: &failures) {
                            carried += 1
                        }
                    }
                }
            }
            if carried != expected || carried == 0 { failures.append("carried \(carried), \(expected) expected") }
            failures += try inbound(reference: reference, cached: cached, program: program, ifindex: ifindex, installed: &installed, now: now)
            for (key, decision) in installed {
                let counters = program.fastPath.counters(key: key)
                cached.creditFastPath(decision, packets: counters.packets, bytes: counters.bytes,
                                      lastUsed: DatapathInstant(nanoseconds: max(counters.lastUsed, now.nanoseconds)))
            }
            for port in reference.ports {
                let p = port.stats, q = cached.port(named: port.name)!.stats
                if (p.rxPackets, p.rxBytes, p.txPackets, p.txBytes) != (q.rxPackets, q.rxBytes, q.txPackets, q.txBytes) {
                    failures.append("\(port.name): reference \(p), with the fast path \(q)")
                }
            }
            return failures
        }

        /// GRE packets from every tunnel to both local hosts: installed as the engine does
        /// (an id per tunnel in `fp_tunnels`, the inner frame's key under it), then a corpus
        /// of inner frames and of outer headers the program must leave to the slow path.
        static func inbound(reference: Datapath, cached: Datapath, program: SteeringProgram, ifindex: [String: Int32],
                            installed: inout [[UInt8]: FastPathDecision], now: DatapathInstant) throws -> [String] {
            var failures: [String] = []
            var tunnelIDs: [[UInt8]: UInt32] = [:]
            _ = cached.takeFastPathDecisions()   // what the outbound corpus's slow-path frames recorded again
            for host in FastPathTunnelTests.localHosts {
                for i in 0..<FastPathTunnelTests.tunnels.count {
                    let packet = FastPathTunnelTests.inbound(i, to: host).packet
                    _ = FastPathRouteTests.send(packet, reference, now: now, port: "u")
                    for decision in FastPathRouteTests.send(packet, cached, now: now, port: "u").decisions {
                        guard let decapsulation = decision.decapsulation, let expiry = cached.fastPathExpiry(of: decision, now: now) else {
                            failures.append("\(decision.key): not a tunnel's or does not hold"); continue
                        }
                        let tunnelKey = FastPathMaps.tunnelKeyBytes(ifindex: ifindex["u"]!, decapsulation: decapsulation)
                        let id = tunnelIDs[tunnelKey] ?? FastPathMaps.firstTunnelID + UInt32(tunnelIDs.count)
                        tunnelIDs[tunnelKey] = id
                        try program.fastPath.installTunnel(key: tunnelKey, id: id)
                        let key = FastPathMaps.keyBytes(ifindex: Int32(bitPattern: id), key: decision.key)
                        try program.fastPath.addDevice(ifindex[host.port]!)
                        try program.fastPath.install(key: key, action: FastPathMaps.actionBytes(
                            of: decision, egress: ifindex[host.port]!, expires: expiry.nanoseconds, maximumLength: 1792), fresh: true)
                        installed[key] = decision
                    }
                }
            }
            if tunnelIDs.count != 4 { failures.append("\(tunnelIDs.count) tunnels installed, 4 expected") }
            var carried = 0, expected = 0
            for host in FastPathTunnelTests.localHosts {
                for i in 0..<FastPathTunnelTests.tunnels.count {
                    let (packet, inner) = FastPathTunnelTests.inbound(i, to: host, size: 30)
                    func variant(_ change: (inout [UInt8]) -> Void) -> [UInt8] { var f = packet; change(&f); return f }
                    func wrapped(_ inner: [UInt8]) -> [UInt8] { FastPathTunnelTests.fromTunnel(i, inner: inner) }
                    let innerFrame = FrameBuilder().ethernet(source: FastPathTunnelTests.farMACs[i], destination: host.mac).vlan(vid: 10)
                    let keyed = FastPathTunnelTests.tunnels[i].wireKey != nil
                    let corpus: [(String, [UInt8], Bool)] = [
                        ("udp", packet, true),
                        ("tcp", wrapped(innerFrame.ipv4(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 1))
                            .tcp(sourcePort: 80, destinationPort: 5, flags: .ack).payload(count: 40).build()), true),
                        ("ipv6", wrapped(innerFrame.ipv6(source: IPv6Address(high: 0xfd00 << 48, low: 2), destination: IPv6Address(high: 0xfd00 << 48, low: 1))
                            .udp(sourcePort: 2, destinationPort: 1).payload(count: 8).build()), true),
                        ("outer-ttl-and-source-mac", variant { $0[6] = 0x0e; $0[22] = 3; TestChecksums.fix(&$0, l3: 14) }, true),
                        ("trailing-bytes", packet + [0xEE, 0xEE], false),
                        ("bad-outer-checksum", variant { $0[24] ^= 0x40 }, false),
                        ("outer-fragment", variant { $0[20] = 0x20; TestChecksums.fix(&$0, l3: 14) }, false),
                        ("another-destination-mac", variant { $0[5] ^= 0x01 }, false),
                        ("another-remote", variant { $0[29] = 77; TestChecksums.fix(&$0, l3: 14) }, false),
                        ("gre-checksum-flag", variant { $0[34] |= 0x80 }, false),
                        ("another-key", keyed ? variant { $0[41] ^= 0x02 } : variant { $0[34] = 0x20 }, false),
                        ("inner-broadcast", wrapped(FrameBuilder().ethernet(source: FastPathTunnelTests.farMACs[i], destination: .broadcast)
                            .vlan(vid: 10).ipv4(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 255)).udp(sourcePort: 1, destinationPort: 2).build()), false),
                        ("inner-ip-options", wrapped(innerFrame.ipv4(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 1), options: [1, 1, 1, 1])
                            .udp(sourcePort: 1, destinationPort: 2).build()), false),
                    ]
                    for (what, frame, cacheable) in corpus {
                        let label = "\(FastPathTunnelTests.tunnels[i].name)→\(host.port) \(what)"
                        if cacheable { expected += 1 }
                        if try FastPathDifferentialTests.compareFrame(label, frame, cacheable: cacheable, program: program,
                                                                      ifindex: ifindex["u"]!, port: "u", egress: host.port,
                                                                      reference: reference, cached: cached, now: now, failures: &failures) {
                            carried += 1
                        }
                    }
                }
            }
            if carried != expected || carried == 0 { failures.append("inbound: carried \(carried), \(expected) expected") }
            return failures
        }
    }
}
