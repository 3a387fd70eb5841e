#if canImport(Glibc)
import Glibc
#endif
@testable import AFXDP
import Testing
import XDPDatapath
import XDPLab
import XDPPacket

extension AFXDPIntegrationTests {
/// The fast path against the Swift pipeline, frame by frame, with no veth: frames go
/// through a reference datapath, and through the steering program with `BPF_PROG_TEST_RUN`
/// over the entries a second datapath recorded — the program's verdict, output bytes and
/// egress must be the pipeline's, and the second datapath, credited with what the program
/// carried and running the rest itself, must end with the reference's port counters.
/// test_run needs interfaces that exist: veths in a namespace of the test's own, which no
/// frame crosses (this kernel has no dummy driver).
@Suite("Fast path: XDP program vs Swift pipeline")
struct FastPathDifferentialTests {
    /// Two bridges joined by patch ports; access ports in VLANs 10 and 20, trunks on both.
    static let configuration = DatapathConfiguration(bridges: [
        BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "p0", type: .internal, tag: 10),
            PortConfiguration(name: "p1", type: .internal, tag: 10),
            PortConfiguration(name: "p2", type: .internal, trunks: [10, 20]),
            PortConfiguration(name: "p3", type: .internal, tag: 20),
            PortConfiguration(name: "patch-ex", type: .patch(peer: "patch-int")),
        ]),
        BridgeConfiguration(name: "br-ex", ports: [
            PortConfiguration(name: "patch-int", type: .patch(peer: "patch-ex")),
            PortConfiguration(name: "p4", type: .internal, trunks: [10, 20]),
            PortConfiguration(name: "p5", type: .internal, tag: 20),
        ]),
    ])
    /// XDP verdicts (linux/bpf.h).
    static let drop: UInt32 = 1, redirect: UInt32 = 4
    static let portNames = ["p0", "p1", "p2", "p3", "p4", "p5"]

    /// A host: its MAC and address, the port it sits behind and the tag its frames carry.
    struct Host {
        var name: String
        var port: String
        var vlan: UInt16?   // the tag on the wire (trunk ports)
        var vlanID: UInt16  // the VLAN it is in
        var mac: MACAddress
        var ip: IPv4Address
    }

    static let hosts: [Host] = [
        Host(name: "h0", port: "p0", vlan: nil, vlanID: 10, mac: MACAddress(rawValue: 0x0200_0000_0a00), ip: IPv4Address(10, 0, 10, 1)),
        Host(name: "h1", port: "p1", vlan: nil, vlanID: 10, mac: MACAddress(rawValue: 0x0200_0000_0a01), ip: IPv4Address(10, 0, 10, 2)),
        Host(name: "h2", port: "p2", vlan: 10, vlanID: 10, mac: MACAddress(rawValue: 0x0200_0000_0a02), ip: IPv4Address(10, 0, 10, 3)),
        Host(name: "h4", port: "p4", vlan: 10, vlanID: 10, mac: MACAddress(rawValue: 0x0200_0000_0a04), ip: IPv4Address(10, 0, 10, 5)),
        Host(name: "h2b", port: "p2", vlan: 20, vlanID: 20, mac: MACAddress(rawValue: 0x0200_0000_1402), ip: IPv4Address(10, 0, 20, 3)),
        Host(name: "h3", port: "p3", vlan: nil, vlanID: 20, mac: MACAddress(rawValue: 0x0200_0000_1403), ip: IPv4Address(10, 0, 20, 4)),
        Host(name: "h4b", port: "p4", vlan: 20, vlanID: 20, mac: MACAddress(rawValue: 0x0200_0000_1404), ip: IPv4Address(10, 0, 20, 5)),
        Host(name: "h5", port: "p5", vlan: nil, vlanID: 20, mac: MACAddress(rawValue: 0x0200_0000_1405), ip: IPv4Address(10, 0, 20, 6)),
    ]

    static func ethernet(_ from: Host, to mac: MACAddress, pcp: UInt8 = 0, priorityTag: Bool = false) -> FrameBuilder {
        let base = FrameBuilder().ethernet(source: from.mac, destination: mac)
        if let vid = from.vlan { return base.vlan(vid: vid, pcp: pcp) }
        if priorityTag { return base.vlan(vid: 0, pcp: pcp) }
        return base
    }

    /// The kinds of frame sent from `from` to `to`, each with whether the program may carry
    /// it once `from` → `to` is cached (IPv4 the Swift parser accepts, no options or
    /// fragment; IPv6 it accepts, no extension header).
    static func corpus(_ from: Host, _ to: Host, seed: UInt16) -> [(name: String, bytes: [UInt8], cacheable: Bool)] {
        let ip = ethernet(from, to: to.mac).ipv4(source: from.ip, destination: to.ip)
        let udp = ip.udp(sourcePort: 1000 &+ seed, destinationPort: 53).payload(count: Int(seed % 40)).build()
        var frames: [(String, [UInt8], Bool)] = [
            ("udp", udp, true),
            ("tcp", ip.tcp(sourcePort: 2000 &+ seed, destinationPort: 80, flags: .ack).payload(count: 100).build(), true),
            ("icmp", ip.icmpEcho(identifier: seed, sequence: 1).payload(count: 56).build(), true),
            ("other-protocol", ethernet(from, to: to.mac).ipv4(source: from.ip, destination: to.ip, protocolNumber: IPProtocol(rawValue: 132))
                .payload(count: 20).build(), true),
            ("trailing-bytes", udp + [UInt8](repeating: 0xEE, count: 10), true),
            ("ip-options", ethernet(from, to: to.mac).ipv4(source: from.ip, destination: to.ip, options: [1, 1, 1, 1])
                .udp(sourcePort: 1, destinationPort: 2).build(), false),
            ("fragment", ethernet(from, to: to.mac).ipv4(source: from.ip, destination: to.ip, moreFragments: true)
                .udp(sourcePort: 1, destinationPort: 2).payload(count: 16).build(), false),
            ("arp", ethernet(from, to: to.mac).arp(operation: .reply, senderMAC: from.mac, senderIP: from.ip,
                                                    targetMAC: to.mac, targetIP: to.ip).build(), false),
        ]
        let l3 = from.vlan == nil ? 14 : 18
        // IPv6: learned unicast with the Ethernet-only key; an extension header, which the
        // program does not walk, takes the slow path.
        let ip6 = ethernet(from, to: to.mac).ipv6(source: IPv6Address(high: 0xfd00 << 48, low: UInt64(seed)), destination: IPv6Address(high: 0xfd00 << 48, low: 2))
        let udp6 = ip6.udp(sourcePort: 1000 &+ seed, destinationPort: 53).payload(count: Int(seed % 40)).build()
        frames += [
            ("ipv6-udp", udp6, true),
            ("ipv6-tcp", ip6.tcp(sourcePort: 2000 &+ seed, destinationPort: 80, flags: .ack).payload(count: 100).build(), true),
            ("icmpv6", ip6.icmpv6Echo(identifier: seed, sequence: 1).payload(count: 56).build(), true),
            ("ipv6-other-protocol", ethernet(from, to: to.mac).ipv6(source: IPv6Address(high: 0xfd00 << 48, low: 1),
                destination: IPv6Address(high: 0xfd00 << 48, low: 2), nextHeader: IPProtocol(rawValue: 132)).payload(count: 20).build(), true),
            ("ipv6-trailing-bytes", udp6 + [UInt8](repeating: 0xEE, count: 10), true),
            ("ipv6-hop-by-hop", ethernet(from, to: to.mac).ipv6(source: IPv6Address(high: 0xfd00 << 48, low: 1),
                destination: IPv6Address(high: 0xfd00 << 48, low: 2), nextHeader: IPProtocol(rawValue: 0))
                .payload([17, 0, 1, 4, 0, 0, 0, 0, 0, 1, 0, 2, 0, 8, 0, 0]).build(), false),
        ]
        var udp6Zero = udp6
        udp6Zero[l3 + 44] = 0; udp6Zero[l3 + 45] = 0
        frames.append(("ipv6-udp-length-0", udp6Zero, true))
        var ip6Long = udp6
        ip6Long[l3 + 5] = ip6Long[l3 + 5] &+ 8                // payload length beyond the frame
        frames.append(("ipv6-length-beyond-frame", ip6Long, false))
        var udp6Long = udp6
        udp6Long[l3 + 44] = 0xFF; udp6Long[l3 + 45] = 0xFF
        frames.append(("ipv6-udp-length-beyond-packet", udp6Long, false))
        var ip6Version = udp6
        ip6Version[l3] = 0x40
        frames.append(("ipv6-version-4", ip6Version, false))
        var tcp6Offset = ip6.tcp(sourcePort: 1, destinationPort: 2, flags: .ack).build()
        tcp6Offset[l3 + 52] = 0xF0
        frames.append(("ipv6-tcp-offset-beyond-packet", tcp6Offset, false))
        var truncated = udp
        truncated.removeLast(min(6, truncated.count - l3 - 20))
        truncated[l3 + 3] = truncated[l3 + 3] &+ 8           // total length beyond the frame
        frames.append(("ipv4-length-beyond-frame", truncated, false))
        var badIHL = udp
        badIHL[l3] = 0x44
        frames.append(("ipv4-ihl-4", badIHL, false))
        var badVersion = udp
        badVersion[l3] = 0x65
        frames.append(("ipv4-version-6", badVersion, false))
        var udpLong = udp
        udpLong[l3 + 24] = 0xFF; udpLong[l3 + 25] = 0xFF
        frames.append(("udp-length-beyond-packet", udpLong, false))
        var udpShort = udp
        udpShort[l3 + 24] = 0; udpShort[l3 + 25] = 4
        frames.append(("udp-length-4", udpShort, false))
        var tcpOffset = ip.tcp(sourcePort: 1, destinationPort: 2, flags: .ack).build()
        tcpOffset[l3 + 32] = 0xF0
        frames.append(("tcp-offset-beyond-packet", tcpOffset, false))
        // (BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header; the program's
        // first bounds check sends those to the socket.)
        frames.append(("header-only", Array(udp.prefix(l3)), false))
        return frames
    }

    @Test func theProgramRepeatsThePipelineFrameByFrame() throws {
        let lab = LabNetwork(tag: "fpd")
        defer { lab.tearDown() }
        let namespace = try lab.addNamespace("dp")
        for name in Self.portNames {
            try Shell.check(["ip", "-n", namespace, "link", "add", name, "type", "veth", "peer", "name", name + "x"])
            try Shell.check(["ip", "-n", namespace, "link", "set", name, "up"])
        }
        let failures = try LabNetwork.inNamespace(namespace) { () throws -> [String] in try Self.compare() }
        #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
    }

    /// Runs the comparison inside the namespace; returns the differences found.
    static func compare() throws -> [String] {
        var failures: [String] = []
        let now = DatapathInstant.now()
        let referencePool = FramePool(frameCount: 1024), cachedPool = FramePool(frameCount: 1024)
        let reference = try Datapath(configuration: configuration, pool: referencePool, now: now)
        let cached = try Datapath(configuration: configuration, pool: cachedPool, now: now)
        cached.fastPathRecording = true
        var ifindex: [PortID: Int32] = [:]
        var portOfIfindex: [Int32: String] = [:]
        for name in portNames {
            let index = Int32(bitPattern: if_nametoindex(name))
            ifindex[cached.port(named: name)!.id] = index
            portOfIfindex[index] = name
        }
        let program = try SteeringProgram()
        for (slot, name) in portNames.enumerated() {
            try program.setPort(ifindex: Int32(bitPattern: if_nametoindex(name)), portID: slot, slotBase: UInt32(slot), queues: 1,
                                interface: name)
        }
        try program.fastPath.setEnabled(true)

        func both(_ frame: [UInt8], from port: String) {
            reference.inject(frame, into: reference.port(named: port)!, now: now)
            cached.inject(frame, into: cached.port(named: port)!, now: now)
            for name in portNames + ["patch-ex", "patch-int"] {
                _ = reference.drainTransmitted(reference.port(named: name)!)
                _ = cached.drainTransmitted(cached.port(named: name)!)
            }
        }
        // Learning: every host says who it is (a broadcast floods, nothing is recorded).
        for host in hosts {
            both(ethernet(host, to: .broadcast).arp(operation: .request, senderMAC: host.mac, senderIP: host.ip,
                                                    targetIP: host.ip).build(), from: host.port)
        }
        #expect(cached.takeFastPathDecisions().isEmpty)
        // One frame per pair in a VLAN records its decision; h0's priority-tagged frame to h2
        // and h4 records a rewrite of the tag (VID set, PCP kept).
        for from in hosts { for to in hosts where to.name != from.name && to.vlanID == from.vlanID && to.port != from.port {
            both(ethernet(from, to: to.mac).ipv4(source: from.ip, destination: to.ip).udp(sourcePort: 9, destinationPort: 9).build(),
                 from: from.port)
        } }
        let h0 = hosts[0]
        for to in [hosts[2], hosts[3]] {
            both(ethernet(h0, to: to.mac, pcp: 5, priorityTag: true).ipv4(source: h0.ip, destination: to.ip)
                .udp(sourcePort: 9, destinationPort: 9).build(), from: h0.port)
        }
        var installed: [[UInt8]: FastPathDecision] = [:]
        for decision in cached.takeFastPathDecisions() {
            guard let expiry = cached.fastPathExpiry(of: decision, now: now) else { failures.append("\(decision.key): does not hold"); continue }
            let key = FastPathMaps.keyBytes(ifindex: ifindex[decision.key.inPort]!, key: decision.key)
            let egress = ifindex[decision.outPort]!
            try program.fastPath.addDevice(egress)
            try program.fastPath.install(key: key, action: FastPathMaps.actionBytes(of: decision, egress: egress, expires: expiry.nanoseconds, maximumLength: 1792), fresh: true)
            installed[key] = decision
        }
        // 12 pairs in each VLAN, and the two priority-tagged ones.
        #expect(installed.count == 26, "\(installed.count) entries")
        // What a restarted engine adopts entries by: the decision worked out again from the
        // key alone and the MAC tables is the one recorded (AFXDPEngine+FastPathRestart.swift).
        for decision in installed.values {
            let again = cached.fastPathDecision(for: decision.key, now: now)
            if again != decision { failures.append("\(decision.key): worked out again as \(String(describing: again))") }
        }
        let operations = Set(installed.values.map(\.tagOperation))
        #expect(operations == [.keep, .pop, .push, .set], "\(operations)")
        #expect(installed.values.contains { $0.steps.count == 2 }, "no path through the patch ports")

        // The corpus: every pair of hosts, same VLAN or not, known or unknown destination.
        var carried = 0, expectedCarried = 0, sent = 0, missed: UInt64 = 0
        var counted: [[UInt8]: UInt64] = [:]
        let stranger = Host(name: "x", port: "p0", vlan: nil, vlanID: 10, mac: MACAddress(rawValue: 0x0200_0000_0aff), ip: IPv4Address(10, 0, 10, 99))
        for (i, from) in hosts.enumerated() {
            for to in hosts + [stranger] where to.name != from.name {
                for frame in corpus(from, to, seed: UInt16(i * 16 + sent % 16)) {
                    sent += 1
                    let inIfindex = Int32(bitPattern: if_nametoindex(from.port))
                    let run: (verdict: UInt32, output: [UInt8])
                    do { run = try program.testRun(frame: frame.bytes, ifindex: inIfindex) } catch {
                        failures.append("\(from.name)→\(to.name) \(frame.name) (\(frame.bytes.count) bytes): \(error)")
                        continue
                    }
                    reference.inject(frame.bytes, into: reference.port(named: from.port)!, now: now)
                    var outputs: [(String, [UInt8])] = []
                    for name in portNames {
                        for bytes in reference.drainTransmitted(reference.port(named: name)!) { outputs.append((name, bytes)) }
                    }
                    let pairCached = to.vlanID == from.vlanID && to.port != from.port && to.name != "x"
                    if frame.cacheable && pairCached { expectedCarried += 1 }
                    let label = "\(from.name)→\(to.name) \(frame.name)"
                    if run.verdict == Self.redirect {
                        carried += 1
                        // Which entry took it: the one whose counters moved.
                        var hit: [UInt8]?
                        for key in installed.keys {
                            let packets = program.fastPath.counters(key: key).packets
                            if packets != counted[key, default: 0] { hit = key; counted[key] = packets }
                        }
                        guard let hit, let decision = installed[hit] else { failures.append("\(label): redirected by no entry"); continue }
                        let egress = portOfIfindex[ifindex[decision.outPort]!]!
                        if outputs.count != 1 || outputs[0].0 != egress || outputs[0].1 != run.output {
                            failures.append("\(label): program → \(egress) \(run.output.count) bytes, pipeline → \(outputs.map { "\($0.0) \($0.1.count) bytes" })")
                        }
                        let entry = program.fastPath.counters(key: hit)
                        cached.creditFastPath(decision, packets: 1, bytes: UInt64(frame.bytes.count), lastUsed: DatapathInstant(nanoseconds: entry.lastUsed))
                    } else {
                        // A miss goes on to the queue's socket; none is in the slot here (as
                        // when the daemon is away), so the program drops it and counts it.
                        missed += 1
                        if run.verdict != Self.drop || run.output != frame.bytes {
                            failures.append("\(label): verdict \(run.verdict), frame changed: \(run.output != frame.bytes)")
                        }
                        if frame.cacheable && pairCached { failures.append("\(label): not carried") }
                        cached.inject(frame.bytes, into: cached.port(named: from.port)!, now: now)
                        for name in portNames { _ = cached.drainTransmitted(cached.port(named: name)!) }
                    }
                    if !frame.cacheable && run.verdict == Self.redirect { failures.append("\(label): carried") }
                }
            }
        }
        #expect(carried == expectedCarried && carried > 0, "carried \(carried) of \(expectedCarried) expected, \(sent) sent")
        #expect(program.framesDroppedWithoutSocket == missed, "\(program.framesDroppedWithoutSocket) counted, \(missed) missed")
        // The datapath the program relieved counts what the reference counted.
        for name in portNames + ["patch-ex", "patch-int"] {
            let a = reference.port(named: name)!.stats, b = cached.port(named: name)!.stats
            if (a.rxPackets, a.rxBytes, a.txPackets, a.txBytes) != (b.rxPackets, b.rxBytes, b.txPackets, b.txBytes) {
                failures.append("\(name): reference \(a), with the fast path \(b)")
            }
        }
        return failures
    }

    /// One frame of a differential corpus: through the program, as received on `ifindex`,
    /// and through `reference` by `port`. Carried: the program's bytes must be the
    /// pipeline's one output, on `egress`, and `cacheable` must say so. Not carried: the
    /// program must have left the frame intact, `cacheable` must say so, and `cached` (the
    /// relieved datapath) takes it by the slow path. Returns whether the program carried it.
    static func compareFrame(_ label: String, _ frame: [UInt8], cacheable: Bool, program: SteeringProgram, ifindex: Int32,
                             port: String, egress: String, reference: Datapath, cached: Datapath, now: DatapathInstant,
                             failures: inout [String]) throws -> Bool {
        let run = try program.testRun(frame: frame, ifindex: ifindex)
        reference.inject(frame, into: reference.port(named: port)!, now: now)
        let outputs = FastPathConnectionTests.drain(reference)
        guard run.verdict == redirect else {
            if cacheable { failures.append("\(label): not carried (verdict \(run.verdict))") }
            if run.output != frame { failures.append("\(label): changed on its way to the socket") }
            cached.inject(frame, into: cached.port(named: port)!, now: now)
            _ = FastPathConnectionTests.drain(cached)
            return false
        }
        if !cacheable { failures.append("\(label): carried") }
        if outputs.count != 1 || outputs[0].0 != egress || outputs[0].1 != run.output {
            failures.append("\(label): program → \(egress) \(run.output.count) bytes, pipeline → \(outputs.map { "\($0.0) \($0.1.count) bytes" })")
        }
        return true
    }
}
}
