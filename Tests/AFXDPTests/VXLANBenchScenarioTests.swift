import Testing
import XDPDatapath
import XDPPacket
import XDPScenarios

/// The `vxlan-encap` / `vxlan-decap` scenarios do their work in memory, frame by frame: the
/// veth bench's configuration (`BenchScenario`, the one Open vSwitch is measured against) and
/// the in-memory stages (`PipelineScenario`, for `bench-micro` and the package benchmarks).
@Suite("bench lab: vxlan scenarios")
struct VXLANBenchScenarioTests {
    func run(_ configuration: DatapathConfiguration, _ frame: [UInt8], into input: String, out output: String) throws -> [[UInt8]] {
        let datapath = try Datapath(configuration: configuration, pool: FramePool(frameCount: 64), now: .zero)
        datapath.inject(frame, into: try #require(datapath.port(named: input)), now: DatapathInstant(nanoseconds: 1_000_000_000))
        return datapath.drainTransmitted(try #require(datapath.port(named: output)))
    }

    @Test func benchEncapsulatesTowardTheRemoteWithVNIZero() throws {
        let scenario = try #require(BenchScenario.select("vxlan-encap")?.first)
        let (frame, _) = scenario.generatorFrame(size: 60)
        let out = try run(try scenario.datapathConfiguration(a: "a", b: "b"), frame, into: "a", out: "b")
        var inner = frame
        let hash = inner.withUnsafeMutableBytes { VXLANEncapsulation.flowHash($0.baseAddress!, length: $0.count) }
        #expect(out == [ScenarioFrames.vxlan(inner: frame, destination: BenchScenario.sinkMAC, source: BenchScenario.bMAC,
                                             from: BenchScenario.localIP, to: BenchScenario.remoteIP, vni: 0,
                                             sourcePort: VXLANEncapsulation.sourcePort(hash: hash))])
    }

    @Test func benchDecapsulatesTheGeneratorsFrame() throws {
        let scenario = try #require(BenchScenario.select("vxlan-decap")?.first)
        let (frame, portOffset) = scenario.generatorFrame(size: 60)
        #expect(portOffset == 50 + 34, "the generator rewrites the inner UDP source port")
        let out = try run(try scenario.datapathConfiguration(a: "a", b: "b"), frame, into: "a", out: "b")
        #expect(out == [Array(frame[50...])])
    }

    @Test(arguments: ["vxlan-encap", "vxlan-decap"])
    func pipelineStageDelivers(_ name: String) throws {
        let stage = try #require(try PipelineScenario.named(name))
        #expect(PipelineScenario.names.contains(name))
        let template = try #require(stage.templates.first)
        let out = try run(stage.configuration, template, into: stage.input, out: stage.output)
        if name == "vxlan-encap" {
            #expect(out.count == 1 && out.first?.count == template.count + 50)
            #expect(out.first.map { Array($0[42..<50]) } == [0x08, 0, 0, 0, 0, 0, 2, 0], "VNI 2 from set_tunnel:0x2")
        } else {
            // The reference design's flows tag tunnel 2's broadcast with VLAN 1 toward br-int.
            let inner = Array(template[50...])
            #expect(out == [Array(inner[0..<12]) + [0x81, 0x00, 0x00, 0x01] + Array(inner[12...])])
        }
    }
}
