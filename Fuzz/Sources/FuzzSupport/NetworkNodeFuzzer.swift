import TestFixtures
import XDPSwitch

// The whole datapath under a fuzzer: the network node of Neutron's Open vSwitch agent
// design (router1 with SNAT, a floating IP and the metadata redirect; a DHCP responder;
// security groups on the VM ports; br-tun with a GRE port over the underlay), built once.
// An input is a sequence of frames, each entering one port; after every frame the
// invariants are checked and a violation stops the process (libFuzzer records the input).
//
// Input format, repeated until the bytes run out:
//   byte 0       port selector (index into `inputPorts`, modulo) in bits 0-5; bit 6 set:
//                the datapath records fast-path decisions for this frame; bit 7 set:
//                the frame is sent as it is, else its IPv4 header checksums (outer, and
//                the inner one of GRE) are made right first, so the checksum invariant
//                can blame the datapath for every bad checksum that comes out
//   byte 1       clock step: the clock advances by this many × 100 ms before the frame
//   bytes 2-3    frame length (big-endian, cut to what is left and to 1600)
//   then         the frame
// Invariants after each frame:
//   - accounting: every frame of the pool is free, queued on a port, held (fragments,
//     router ARP waits) or waiting for an underlay neighbour;
//   - no frame leaves longer than a pool frame or shorter than an Ethernet header;
//   - a frame that leaves and parses as IPv4 has a right header checksum (unless its cause
//     entered with bit 7 set) and an IPv4 total length within the frame;
//   - recording (bit 6): every decision the frame left holds and is worked out again from
//     its key alone as the same decision, and the same frame sent again leaves exactly as
//     the in-kernel fast path would send it: one frame, by the decision's port, with the
//     decision's tag operation applied and nothing else changed.

public final class NetworkNodeFuzzer {
    /// The network node's YAML: `NetworkNodeYAML.router1`'s br-int/br-ex/router1 with
    /// br-int grown by a second VM, the DHCP port and the tunnel patch, plus br-tun, the
    /// underlay, DHCP and security groups.
    public static let yaml: String = {
        let router = NetworkNodeYAML.router1(vmPort: "qvo-vm1", keys: """
                default_gateway: 172.24.4.225
                snat: true
                floating_ips: [{floating: 172.24.4.228, fixed: 10.1.0.6}]
                metadata: {endpoint: 172.24.4.226, endpoint_port: 9697}
            """)
        // br-int's extra ports go right after the router port (line 5 of the fixture).
        let extra = """
                  - {name: qvo-vm2, tag: 1}
                  - \(NetworkNodeYAML.dhcpPort)
                  - {name: patch-tun, type: patch, options: {peer: patch-int}}
              - name: br-tun
                ports:
                  - {name: patch-int, type: patch, options: {peer: patch-tun}}
                  - {name: gre-node2, type: gre, options: {remote_ip: 172.16.0.2, key: flow}}
            """
        var lines = router.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.insert(contentsOf: extra.split(separator: "\n").map(String.init), at: 5)
        return lines.joined(separator: "\n") + "\n" + """
            underlay:
              interface: eth1
              address: 172.16.0.1/24
              mac: 02:00:00:00:01:01
              neighbours: [{ip: 172.16.0.2, mac: 02:00:00:00:02:02}]
            dhcp:
              - network: net1
                mac: fa:16:3e:00:00:03
                subnets:
                  - {name: subnet1, cidr: 10.1.0.0/24, server_address: 10.1.0.3, gateway_ip: 10.1.0.1}
                hosts:
                  - {mac: fa:16:3e:aa:00:05, address: 10.1.0.5}
                  - {mac: fa:16:3e:aa:00:06, address: 10.1.0.6}
            security_groups:
              - id: web
                rules:
                  - {direction: egress}
                  - {direction: ingress, protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: 0.0.0.0/0}
                  - {direction: ingress, protocol: icmp}
                  - {direction: ingress, remote_group_id: web}
            ports:
              - {name: qvo-vm1, mac_address: "fa:16:3e:aa:00:05", fixed_ips: [10.1.0.5], security_groups: [web]}
              - {name: qvo-vm2, mac_address: "fa:16:3e:aa:00:06", fixed_ips: [10.1.0.6], security_groups: [web]}

            """
    }()

    /// Ports frames enter by: the wires (VMs, external network, underlay) and the tunnel.
    public static let inputPorts = ["qvo-vm1", "qvo-vm2", "eth-ext", "eth1", "gre-node2", "patch-tun"]

    public let pool: FramePool
    public let datapath: Datapath
    let ports: [DatapathPort]
    var now: UInt64 = 1_000_000_000

    /// `yaml` parsed (once: a target that builds a node per input pays only the build).
    nonisolated(unsafe) static let configuration: SwitchConfiguration = {
        do {
            return try SwitchConfiguration.parse(yaml: yaml, file: "network-node.yaml")
        } catch {
            fatalError("the network node does not load: \(error)\n\(yaml)")
        }
    }()

    /// A network node over a pool of `frameCount` frames.
    public init(frameCount: Int = 1024) {
        let pool = FramePool(frameCount: frameCount)
        let datapath: Datapath
        do {
            datapath = try Self.configuration.makeDatapath(pool: pool, now: DatapathInstant(nanoseconds: now))
        } catch {
            fatalError("the network node does not build: \(error)\n\(Self.yaml)")
        }
        ports = Self.inputPorts.map { name in
            guard let port = datapath.port(named: name) else { fatalError("no port \(name)") }
            return port
        }
        self.pool = pool
        self.datapath = datapath
    }

    /// Runs one fuzzer input (see the essay above).
    public func run(_ data: UnsafeRawBufferPointer) {
        var offset = 0
        while data.count - offset >= 4 {
            let selector = data[offset], step = data[offset + 1]
            let declared = Int(data[offset + 2]) << 8 | Int(data[offset + 3])
            offset += 4
            let length = min(declared, data.count - offset, 1600)
            var frame = [UInt8](data[offset..<offset + length])
            offset += length
            let raw = selector & 0x80 != 0
            if !raw { Self.fixIPv4Checksums(&frame) }
            now &+= UInt64(step) &* 100_000_000
            let port = ports[Int(selector & 0x3F) % ports.count]
            let recording = selector & 0x40 != 0
            datapath.fastPathRecording = recording
            datapath.inject(frame, into: port, now: DatapathInstant(nanoseconds: now))
            check(checksums: !raw)
            if recording {
                checkDecisions(frame, from: port)
                datapath.fastPathRecording = false
                check(checksums: false)
            }
        }
        // Leave the datapath empty of queued frames for the next input (state such as
        // learned MACs, connections and neighbours carries over, as on a real wire).
        datapath.discardTransmitted()
    }

    /// Stops the process unless each decision `frame` left (entering by `port`) holds, is
    /// worked out again from its key as the same, and describes what the same frame sent
    /// again does (see the essay above).
    func checkDecisions(_ frame: [UInt8], from port: DatapathPort) {
        let at = DatapathInstant(nanoseconds: now)
        for decision in datapath.takeFastPathDecisions() {
            guard decision.key.inPort == port.id else { fatalError("a decision for \(decision.key) from a frame of \(port.name)") }
            guard datapath.fastPathExpiry(of: decision, now: at) != nil else { fatalError("\(decision.key): does not hold at once") }
            guard datapath.fastPathDecision(for: decision.key, now: at) == decision else {
                fatalError("\(decision.key): worked out again as another decision")
            }
            let expected = decision.applied(to: frame)
            datapath.inject(frame, into: port, now: at)
            var left: [(String, [UInt8])] = []
            for out in datapath.ports { for bytes in datapath.drainTransmitted(out) { left.append((out.name, bytes)) } }
            let outName = datapath.ports[decision.outPort.index].name
            guard left.count == 1, left[0].0 == outName, left[0].1 == expected else {
                fatalError("\(decision.key): decided \(decision.actionsText { datapath.ports[$0.index].name }), "
                           + "the same frame again left as \(left.map { "\($0.0) \($0.1.count) bytes" })")
            }
            _ = datapath.takeFastPathDecisions()
        }
    }

    /// Stops the process unless every frame of the pool is free, queued, held or waiting
    /// for an underlay neighbour (and the transmitted frames are well-formed).
    public func checkAccounting() { check(checksums: false) }

    func check(checksums: Bool) {
        guard pool.freeCount + datapath.framesQueued == pool.frameCount else {
            fatalError("frame accounting: free \(pool.freeCount) + held by the datapath \(datapath.framesQueued) != \(pool.frameCount)")
        }
        for port in datapath.ports {
            for frame in datapath.drainTransmitted(port) {
                guard frame.count >= 14, frame.count <= pool.frameSize else {
                    fatalError("\(port.name): a frame of \(frame.count) bytes left")
                }
                frame.withUnsafeBytes { raw in
                    let p = UnsafeMutableRawPointer(mutating: raw.baseAddress!)
                    var meta = PacketMetadata()
                    guard PacketParser.parse(p, length: raw.count, into: &meta), meta.flags.contains(.ipv4) else { return }
                    let l3 = Int(meta.l3Offset)
                    let headerLength = Int(p.load(fromByteOffset: l3, as: UInt8.self) & 0x0F) * 4
                    let total = Int(p.load(fromByteOffset: l3 + 2, as: UInt8.self)) << 8 | Int(p.load(fromByteOffset: l3 + 3, as: UInt8.self))
                    guard l3 + total <= raw.count else { fatalError("\(port.name): IPv4 total length \(total) beyond the frame (\(raw.count))") }
                    if checksums, !Checksum.verifyIPv4Header(p + l3, headerLength: headerLength) {
                        fatalError("\(port.name): a frame left with a bad IPv4 header checksum: \(frame)")
                    }
                }
            }
        }
    }

    /// Makes the IPv4 header checksum of `frame` right, and that of the frame a GRE
    /// packet carries.
    public static func fixIPv4Checksums(_ frame: inout [UInt8]) {
        frame.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            var meta = PacketMetadata()
            guard PacketParser.parse(base, length: raw.count, into: &meta), meta.flags.contains(.ipv4) else { return }
            let l3 = Int(meta.l3Offset)
            let headerLength = Int(raw[l3] & 0x0F) * 4
            fix(base + l3, headerLength: headerLength)
            guard meta.flags.contains(.gre), l3 + headerLength + 4 <= raw.count else { return }
            let gre = l3 + headerLength
            let flags = raw[gre]
            let inner = gre + 4 + (flags & 0x80 != 0 ? 4 : 0) + (flags & 0x20 != 0 ? 4 : 0) + (flags & 0x10 != 0 ? 4 : 0)
            guard inner < raw.count else { return }
            var innerMeta = PacketMetadata()
            guard PacketParser.parse(base + inner, length: raw.count - inner, into: &innerMeta),
                  innerMeta.flags.contains(.ipv4) else { return }
            let innerL3 = inner + Int(innerMeta.l3Offset)
            fix(base + innerL3, headerLength: Int(raw[innerL3] & 0x0F) * 4)
            // The outer header did not change; a GRE checksum (C bit) covers the inner bytes.
            if flags & 0x80 != 0 {
                let end = min(raw.count, l3 + (Int(raw[l3 + 2]) << 8 | Int(raw[l3 + 3])))
                guard end > gre + 6 else { return }
                raw[gre + 4] = 0; raw[gre + 5] = 0
                let sum = Checksum.gre(base + gre, length: end - gre)
                raw[gre + 4] = UInt8(sum >> 8); raw[gre + 5] = UInt8(sum & 0xFF)
            }
        }
    }

    static func fix(_ header: UnsafeMutableRawPointer, headerLength: Int) {
        header.storeBytes(of: 0, toByteOffset: 10, as: UInt16.self)
        let sum = Checksum.ipv4Header(header, headerLength: headerLength)
        header.storeBytes(of: UInt8(sum >> 8), toByteOffset: 10, as: UInt8.self)
        header.storeBytes(of: UInt8(sum & 0xFF), toByteOffset: 11, as: UInt8.self)
    }
}
