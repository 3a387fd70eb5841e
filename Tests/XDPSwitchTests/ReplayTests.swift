import Foundation
import Testing
import XDPSwitch

/// Replay end to end on scapy-built captures (Fixtures/make_replay_pcaps.py says what
/// each frame is for): access-port tagging, trunk filtering, learning and flooding.
@Suite struct ReplayTests {
    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
    }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "xdpswitch-replay-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        return path
    }

    func read(_ path: String) throws -> [PcapRecord] { try PcapReader(path: path).readAll() }

    @Test func defaultNodeReplayTagsFiltersLearnsAndFloods() throws {
        let config = try SwitchConfiguration.parse(yaml: DefaultConfiguration.yaml)
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 256), now: .zero)
        let out = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let report = try PcapReplay(datapath: datapath).run(inputs: [
            .init(port: "qvo-vm1", path: Self.fixture("vm1.pcap")),
            .init(port: "qvo-vm2", path: Self.fixture("vm2.pcap")),
            .init(port: "int-br-eth1", path: Self.fixture("trunk.pcap")),
        ], outputDirectory: out)
        #expect(report.framesRead == 6)

        let vm1In = try read(Self.fixture("vm1.pcap"))
        let vm2In = try read(Self.fixture("vm2.pcap"))
        let trunkIn = try read(Self.fixture("trunk.pcap"))

        // qvo-vm2: the t=1 broadcast (untagged, as sent) and the t=3 unicast after learning.
        let vm2 = try read(out + "/qvo-vm2.pcap")
        #expect(vm2.map(\.bytes) == [vm1In[0].bytes, vm1In[1].bytes])
        #expect(vm2.map(\.timestampNanoseconds) == [1_000_000_000, 3_000_000_000])

        // qvo-vm1: the t=2 unicast reply only (vm1 learned at t=1), and the t=6 frame popped.
        let vm1 = try read(out + "/qvo-vm1.pcap")
        #expect(vm1.count == 2)
        #expect(vm1.first?.bytes == vm2In[0].bytes)
        #expect(vm1.last?.bytes == Array(trunkIn[2].bytes[0..<12] + trunkIn[2].bytes[16...]))

        // The trunk: the t=1 broadcast tagged VLAN 1 and nothing else (unicasts were learned).
        let trunk = try read(out + "/int-br-eth1.pcap")
        #expect(trunk.count == 1)
        let pushed = try #require(trunk.first).bytes
        #expect(Array(pushed[12..<16]) == [0x81, 0x00, 0x00, 0x01])
        #expect(Array(pushed[0..<12] + pushed[16...]) == vm1In[0].bytes)

        // qvo-vm3 (VLAN 2): only the t=5 VLAN 2 broadcast, untagged; never VLAN 1 traffic.
        let vm3 = try read(out + "/qvo-vm3.pcap")
        #expect(vm3.map(\.bytes) == [Array(trunkIn[1].bytes[0..<12] + trunkIn[1].bytes[16...])])

        // br-tun's uplink gets both floods through the patch, tagged with their VLANs.
        let uplink = try read(out + "/tun-uplink.pcap")
        #expect(uplink.map { Int($0.bytes[15]) } == [1, 2])

        // The VLAN 3 frame was filtered and counted on the trunk.
        #expect(datapath.port(named: "int-br-eth1")!.stats.drops[.vlanNotAllowed] == 1)
        #expect(datapath.pool.freeCount == datapath.pool.frameCount)
    }

    @Test func replayRefusesUnknownPortsAndPatchPorts() throws {
        let config = try SwitchConfiguration.parse(yaml: DefaultConfiguration.yaml)
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 16), now: .zero)
        #expect(throws: PcapReplay.Failure.self) {
            try PcapReplay(datapath: datapath).run(inputs: [.init(port: "nope", path: Self.fixture("vm1.pcap"))], outputDirectory: "/tmp")
        }
        #expect(throws: PcapReplay.Failure.self) {
            try PcapReplay(datapath: datapath).run(inputs: [.init(port: "patch-tun", path: Self.fixture("vm1.pcap"))], outputDirectory: "/tmp")
        }
        #expect {
            try PcapReplay(datapath: datapath).run(inputs: [.init(port: "qvo-vm1", path: "/nonexistent.pcap")], outputDirectory: "/tmp")
        } throws: { error in
            guard case .capture(let pcap) = error as? PcapReplay.Failure else { return false }
            return pcap.path == "/nonexistent.pcap"
        }
    }
}
