import Foundation
import Testing
import XDPSwitch

/// `xdpswitch replay` through a router: captures of the VM's and the external host's
/// wires in, captures of what each port sent out.
@Suite struct RouterReplayTests {
    static let vmMAC = MACAddress("fa:16:3e:aa:00:05")!, qrMAC = MACAddress("fa:16:3e:00:00:01")!
    static let extMAC = MACAddress("02:42:ac:18:04:e1")!, qgMAC = MACAddress("fa:16:3e:00:00:02")!
    static let vmIP = IPv4Address(10, 1, 0, 5), extIP = IPv4Address(172, 24, 4, 225)
    static let qrIP = IPv4Address(10, 1, 0, 1), qgIP = IPv4Address(172, 24, 4, 227)

    func write(_ frames: [(UInt64, [UInt8])], to path: String) throws {
        let writer = try PcapWriter(path: path)
        for (time, bytes) in frames { try writer.write(bytes, timestampNanoseconds: time) }
        try writer.close()
    }

    @Test func replayRoutesBetweenTheCaptures() throws {
        let dir = NSTemporaryDirectory() + "xdpswitch-router-replay-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let second: UInt64 = 1_000_000_000
        let udp = FrameBuilder().ethernet(source: Self.vmMAC, destination: Self.qrMAC)
            .ipv4(source: Self.vmIP, destination: Self.extIP, ttl: 64).udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build()
        try write([
            (1 * second, FrameBuilder.arpRequest(senderMAC: Self.vmMAC, senderIP: Self.vmIP, targetIP: Self.qrIP)),
            (2 * second, FrameBuilder().ethernet(source: Self.vmMAC, destination: Self.qrMAC).ipv4(source: Self.vmIP, destination: Self.qrIP)
                .icmpEcho(identifier: 1, sequence: 1).payload(count: 56).build()),
            (3 * second, udp),
        ], to: dir + "/vm1.pcap")
        try write([(0, FrameBuilder.arpRequest(senderMAC: Self.extMAC, senderIP: Self.extIP, targetIP: Self.qgIP))], to: dir + "/ext.pcap")

        let datapath = try SwitchConfiguration.parse(yaml: RouterControlTests.networkNode).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        let replay = PcapReplay(datapath: datapath)
        let report = try replay.run(inputs: [.init(port: "qvo-vm1", path: dir + "/vm1.pcap"), .init(port: "eth-ext", path: dir + "/ext.pcap")],
                                    outputDirectory: dir + "/out")
        #expect(report.framesRead == 4)
        #expect(report.framesWritten == ["qvo-vm1": 2, "eth-ext": 2], "\(report.framesWritten)")
        let toVM = try PcapReader(path: dir + "/out/qvo-vm1.pcap").readAll()
        #expect(toVM.count == 2 && toVM[0].bytes[21] == 2, "ARP reply")
        #expect(toVM.count == 2 && toVM[1].bytes[34] == 0 && toVM[1].timestampNanoseconds == 2 * second, "echo reply")
        let toExt = try PcapReader(path: dir + "/out/eth-ext.pcap").readAll()
        #expect(toExt.count == 2 && toExt[0].bytes[21] == 2, "ARP reply to the external host")
        var expected = udp
        expected.replaceSubrange(0..<12, with: [0x02, 0x42, 0xac, 0x18, 0x04, 0xe1, 0xfa, 0x16, 0x3e, 0x00, 0x00, 0x02])
        expected[22] = 63
        // TTL 64 → 63: the header checksum goes up by 0x0100 (RFC 1624).
        let sum = (UInt32(expected[24]) << 8 | UInt32(expected[25])) + 0x0100
        let folded = UInt16(truncatingIfNeeded: (sum & 0xFFFF) + (sum >> 16))
        expected[24] = UInt8(folded >> 8); expected[25] = UInt8(folded & 0xFF)
        #expect(toExt.count == 2 && toExt[1].bytes == expected, "forwarded with TTL 63 and the checksum updated")

        let refused = #expect(throws: PcapReplay.Failure.self) {
            try PcapReplay(datapath: datapath).run(inputs: [.init(port: "qr-6a1b2c3d-4e", path: dir + "/vm1.pcap")], outputDirectory: dir + "/out2")
        }
        #expect(refused?.description.contains("is a router port") == true)
    }
}
