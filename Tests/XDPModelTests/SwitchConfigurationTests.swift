import Testing
import XDPDatapath
import XDPModel

@Suite struct SwitchConfigurationTests {
    /// The example of the foundation issue, verbatim.
    static let referenceExample = """
    bridges:
      - name: br-int
        ports:
          - {name: qvo-test0, tag: 1}                 # type defaults to system (an interface)
          - {name: qvo-test1, tag: 1, ofport: 7}      # ofport defaults to the next free number
          - {name: int-br-eth1, trunks: [1, 2]}
          - {name: patch-tun, type: patch, options: {peer: patch-int}}
      - name: br-tun
        ports:
          - {name: patch-int, type: patch, options: {peer: patch-tun}}
    """

    func refusal(_ yaml: String) -> ConfigurationError? {
        do { _ = try SwitchConfiguration.parse(yaml: yaml, file: "test.yaml"); return nil } catch { return error }
    }

    @Test func readsTheReferenceExample() throws {
        let config = try SwitchConfiguration.parse(yaml: Self.referenceExample, file: "reference.yaml")
        let bridges = config.datapath.bridges
        #expect(bridges.map(\.name) == ["br-int", "br-tun"])
        #expect(bridges[0].ports == [
            PortConfiguration(name: "qvo-test0", tag: 1),
            PortConfiguration(name: "qvo-test1", ofport: 7, tag: 1),
            PortConfiguration(name: "int-br-eth1", trunks: [1, 2]),
            PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
        ])
        let datapath = try config.makeDatapath(pool: FramePool(frameCount: 8), now: .zero)
        #expect(datapath.ports.map(\.ofport) == [1, 7, 2, 3, 1])
        #expect(datapath.port(named: "patch-tun")?.peerID == datapath.port(named: "patch-int")?.id)
    }

    @Test func unknownKeyNamesFileLineAndKey() {
        let e = refusal("""
        bridges:
          - name: br-int
            ports:
              - {name: a, tag: 1}
              - {name: b, vlan: 2}
        """)
        #expect(e?.file == "test.yaml")
        #expect(e?.line == 5)
        #expect(e?.key == "bridges[0].ports[1].vlan")
        #expect(e?.description.hasPrefix("test.yaml:5: bridges[0].ports[1].vlan: unknown key") == true)
    }

    @Test func vlanOutsideRangeIsRefusedWithItsLine() {
        let e = refusal("bridges:\n  - name: br\n    ports:\n      - name: a\n        tag: 4095\n")
        #expect(e?.line == 5)
        #expect(e?.key == "bridges[0].ports[0].tag")
        #expect(e?.message.contains("1-4094") == true)
        let trunk = refusal("bridges:\n  - name: br\n    ports:\n      - {name: a, trunks: [1, 5000]}\n")
        #expect(trunk?.line == 4)
    }

    @Test func duplicatePortNameIsRefusedAtTheSecondPort() {
        let e = refusal("bridges:\n  - name: br\n    ports:\n      - {name: a}\n      - {name: a}\n")
        #expect(e?.line == 5)
        #expect(e?.key == "a.name")
    }

    @Test func patchWithoutPeerPortIsRefused() {
        let e = refusal("bridges:\n  - name: br\n    ports:\n      - {name: p, type: patch, options: {peer: q}}\n")
        #expect(e?.line == 4)
        #expect(e?.key == "p.options.peer")
        #expect(e?.message.contains("q does not exist") == true)
        let noOptions = refusal("bridges:\n  - name: br\n    ports:\n      - {name: p, type: patch}\n")
        #expect(noOptions?.key == "bridges[0].ports[0].options.peer")
    }

    @Test func syntaxErrorsCarryTheirLine() {
        let e = refusal("bridges:\n  - name: br\n    ports: [\n")
        #expect(e != nil)
        #expect(e?.key == "yaml")
        #expect((e?.line ?? 0) >= 3)
    }

    @Test func unknownPortTypeAndWrongShapesAreRefused() {
        #expect(refusal("bridges:\n  - {name: br, ports: [{name: a, type: vxlan}]}\n")?.message.contains("vxlan") == true)
        #expect(refusal("bridges: 3\n")?.message == "expected a list")
        #expect(refusal("bridges:\n  - {name: br, ports: [{name: a, tag: one}]}\n")?.message.contains("\"one\"") == true)
        #expect(refusal("")?.key == "bridges")
        #expect(refusal("bridge: []\n")?.key == "bridge")
    }

    @Test func missingFileIsReported() {
        do {
            _ = try SwitchConfiguration.load(path: "/nonexistent/x.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "/nonexistent/x.yaml")
        }
    }
}
