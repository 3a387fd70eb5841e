import Foundation
import TestFixtures
import Testing
import XDPSwitch

/// Reproducible replays: with `DatapathConfiguration.randomSeed` (`xdpswitch replay
/// --seed N`) the same captures give byte-identical output files, including the ports a
/// router's SNAT picks when two VMs use the same source port.
@Suite struct ReplaySeedTests {
    static let networkNode = NetworkNodeYAML.router1(vmPort: "qvo-vm1", keys: """
            default_gateway: 172.24.4.225
            snat: true
        """)
    static let qrMAC = MACAddress("fa:16:3e:00:00:01")!, qgMAC = MACAddress("fa:16:3e:00:00:02")!
    static let extMAC = MACAddress("02:42:ac:18:04:e1")!
    static let extIP = IPv4Address(172, 24, 4, 225), qgIP = IPv4Address(172, 24, 4, 227)
    static let second: UInt64 = 1_000_000_000

    /// Writes the captures: the external gateway announces itself, then five VMs send a
    /// datagram from the same source port to the same server (the four after the first
    /// collide on the gateway address and get a port the tracker's hash picks).
    static func writeCaptures(in dir: String) throws {
        let ext = try PcapWriter(path: dir + "/ext.pcap")
        try ext.write(FrameBuilder.arpRequest(senderMAC: extMAC, senderIP: extIP, targetIP: qgIP), timestampNanoseconds: second)
        try ext.close()
        let vm = try PcapWriter(path: dir + "/vm.pcap")
        for host in 5...9 {
            let mac = MACAddress(rawValue: 0xFA16_3EAA_0000 | UInt64(host))
            try vm.write(FrameBuilder().ethernet(source: mac, destination: qrMAC)
                .ipv4(source: IPv4Address(10, 1, 0, UInt8(host)), destination: extIP, ttl: 64)
                .udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build(),
                timestampNanoseconds: UInt64(host) * second)
        }
        try vm.close()
    }

    /// Replays the captures of `dir` through a network node built with `seed` into
    /// `dir/out-NAME`; returns the bytes of every output file by name.
    static func replay(_ dir: String, seed: UInt64?, name: String) throws -> [String: Data] {
        var configuration = try SwitchConfiguration.parse(yaml: networkNode)
        configuration.datapath.randomSeed = seed
        let datapath = try configuration.makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        let out = dir + "/out-" + name
        let report = try PcapReplay(datapath: datapath).run(
            inputs: [.init(port: "eth-ext", path: dir + "/ext.pcap"), .init(port: "qvo-vm1", path: dir + "/vm.pcap")],
            outputDirectory: out)
        var files: [String: Data] = [:]
        for (port, path) in report.outputFiles { files[port] = try Data(contentsOf: URL(fileURLWithPath: path)) }
        return files
    }

    /// The translated source ports of what left on the external wire, in order.
    static func translatedPorts(_ dir: String, name: String) throws -> [UInt16] {
        try PcapReader(path: dir + "/out-" + name + "/eth-ext.pcap").readAll()
            .filter { $0.bytes.count > 36 && $0.bytes[23] == 17 }
            .map { UInt16($0.bytes[34]) << 8 | UInt16($0.bytes[35]) }
    }

    @Test func theSameSeedGivesByteIdenticalOutputs() throws {
        let dir = NSTemporaryDirectory() + "xdpswitch-replay-seed-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.writeCaptures(in: dir)
        let first = try Self.replay(dir, seed: 7, name: "a")
        let second = try Self.replay(dir, seed: 7, name: "b")
        #expect(first.keys.sorted() == ["eth-ext", "qvo-vm1"] || first.keys.sorted() == ["eth-ext"], "\(first.keys)")
        #expect(first == second)
        let ports = try Self.translatedPorts(dir, name: "a")
        #expect(ports.count == 5)
        #expect(ports.first == 40000, "the first VM keeps its port")
        #expect(Set(ports).count == 5, "the others get distinct ports: \(ports)")
        // Another seed is another (equally reproducible) choice of ports.
        _ = try Self.replay(dir, seed: 8, name: "c")
        #expect(try Self.translatedPorts(dir, name: "c") != ports)
    }

    @Test func theSeedReachesEveryTrackerAndExplicitSeedsWin() throws {
        var configuration = try SwitchConfiguration.parse(yaml: Self.networkNode).datapath
        configuration.randomSeed = 7
        let derived = configuration.withDerivedSeeds
        let ct = try #require(derived.conntrack.hashSeed), nat = try #require(derived.routers.first?.natHashSeed)
        #expect(ct != nat, "each tracker its own seed")
        #expect(configuration.withDerivedSeeds == derived)
        configuration.conntrack.hashSeed = 99
        #expect(configuration.withDerivedSeeds.conntrack.hashSeed == 99)
        configuration.randomSeed = nil
        #expect(configuration.withDerivedSeeds.routers.first?.natHashSeed == nil, "no seed: random, as for run")
    }

    /// A router's NAT connections past their timeout are gone after one tick, however long
    /// the datapath was idle (no traffic needed to sweep them).
    @Test func routerNATConnectionsExpireInOneTickAfterAGap() throws {
        let dp = try SwitchConfiguration.parse(yaml: Self.networkNode).makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        dp.inject(FrameBuilder.arpRequest(senderMAC: Self.extMAC, senderIP: Self.extIP, targetIP: Self.qgIP),
                  into: dp.port(named: "eth-ext")!, now: DatapathInstant(nanoseconds: Self.second))
        for host in 5...9 {
            dp.inject(FrameBuilder().ethernet(source: MACAddress(rawValue: 0xFA16_3EAA_0000 | UInt64(host)), destination: Self.qrMAC)
                .ipv4(source: IPv4Address(10, 1, 0, UInt8(host)), destination: Self.extIP)
                .udp(sourcePort: 40000, destinationPort: 53).payload(count: 18).build(),
                      into: dp.port(named: "qvo-vm1")!, now: DatapathInstant(nanoseconds: 2 * Self.second))
        }
        dp.discardTransmitted()
        let tracker = try #require(dp.routers.first?.conntrack)
        #expect(tracker.connectionCount == 5)
        dp.tick(now: DatapathInstant(nanoseconds: 3_600 * Self.second))
        #expect(tracker.connectionCount == 0)
        #expect(dp.conntrackConnections().isEmpty)
    }
}
