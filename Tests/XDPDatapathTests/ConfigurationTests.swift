import Testing
import XDPDatapath

@Suite struct DatapathConfigurationTests {
    func build(_ bridges: [BridgeConfiguration]) throws(DatapathConfigurationError) -> Datapath {
        try Datapath(configuration: DatapathConfiguration(bridges: bridges), pool: FramePool(frameCount: 16), now: .zero)
    }

    func error(_ bridges: [BridgeConfiguration]) -> DatapathConfigurationError? {
        do { _ = try build(bridges); return nil } catch { return error }
    }

    @Test func ofportsDefaultToTheNextFreeNumber() throws {
        let dp = try build([BridgeConfiguration(name: "br-int", ports: [
            PortConfiguration(name: "qvo-test0", tag: 1),
            PortConfiguration(name: "qvo-test1", ofport: 1, tag: 1),
            PortConfiguration(name: "qvo-test2", tag: 1),
        ])])
        #expect(dp.ports.map(\.ofport) == [2, 1, 3])
    }

    @Test func duplicatePortNamesAreRefused() {
        let e = error([
            BridgeConfiguration(name: "br-a", ports: [PortConfiguration(name: "p")]),
            BridgeConfiguration(name: "br-b", ports: [PortConfiguration(name: "p")]),
        ])
        #expect(e?.subject == "p" && e?.key == "name")
    }

    @Test func duplicateOfportsAreRefused() {
        let e = error([BridgeConfiguration(name: "br", ports: [
            PortConfiguration(name: "p", ofport: 3), PortConfiguration(name: "q", ofport: 3)])])
        #expect(e?.key == "ofport")
    }

    @Test func vlanIdsOutsideTheRangeAreRefused() {
        #expect(error([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p", tag: 0)])])?.key == "tag")
        #expect(error([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p", tag: 4095)])])?.key == "tag")
        #expect(error([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p", trunks: [1, 4095])])])?.key == "trunks")
        #expect(error([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p", tag: 1, trunks: [1])])])?.key == "trunks")
    }

    @Test func patchPeersMustExistAndPointBack() {
        let missing = error([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "p", type: .patch(peer: "nope"))])])
        #expect(missing?.key == "options.peer")
        #expect(missing?.message.contains("nope") == true)
        let oneWay = error([BridgeConfiguration(name: "br", ports: [
            PortConfiguration(name: "p", type: .patch(peer: "q")), PortConfiguration(name: "q")])])
        #expect(oneWay?.key == "options.peer")
    }

    @Test func duplicateBridgeNamesAreRefused() {
        #expect(error([BridgeConfiguration(name: "br"), BridgeConfiguration(name: "br")])?.subject == "br")
    }
}
