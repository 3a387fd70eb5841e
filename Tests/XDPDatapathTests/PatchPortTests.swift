import Testing
import XDPDatapath
import XDPPacket

@Suite struct PatchPortTests {
    func intAndTun() -> [BridgeConfiguration] {
        [
            BridgeConfiguration(name: "br-int", ports: [
                PortConfiguration(name: "qvo-a", tag: 1),
                PortConfiguration(name: "qvo-b", tag: 2),
                PortConfiguration(name: "patch-tun", type: .patch(peer: "patch-int")),
            ]),
            BridgeConfiguration(name: "br-tun", ports: [
                PortConfiguration(name: "patch-int", type: .patch(peer: "patch-tun")),
                PortConfiguration(name: "uplink"),
            ]),
        ]
    }

    @Test func patchPortCarriesTaggedFramesIntoThePeerBridge() throws {
        let h = try Harness(intAndTun())
        let frame = TestFrame.ethernet(dst: BCAST, src: A)
        h.send(frame, on: "qvo-a")
        let out = h.collect()
        #expect(Set(out.keys) == ["uplink"])
        #expect(out["uplink"].map { $0.map(TestFrame.vlan) } == [1], "the local VLAN crosses the patch as a tag")
        #expect(h.port("patch-tun").stats.txPackets == 1)
        #expect(h.port("patch-int").stats.rxPackets == 1)
        // Both bridges learned A behind their own port.
        #expect(h.datapath.bridge(named: "br-tun")!.macTable.lookup(TestFrame.mac(A).rawValue, vlan: 1, now: DatapathInstant(nanoseconds: h.now))
                == h.port("patch-int").id)
    }

    @Test func replyComesBackThroughThePatchAndIsUntagged() throws {
        let h = try Harness(intAndTun())
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")
        _ = h.collect()
        let reply = TestFrame.tagged(dst: A, src: C, vlan: 1)
        h.send(reply, on: "uplink")
        #expect(h.collect() == ["qvo-a": [TestFrame.untag(reply)]])
    }

    @Test func patchLoopIsCutAndCounted() throws {
        // Two bridges joined by two patch pairs: a broadcast loops between them.
        let h = try Harness([
            BridgeConfiguration(name: "br-a", ports: [
                PortConfiguration(name: "host"),
                PortConfiguration(name: "a1", type: .patch(peer: "b1")),
                PortConfiguration(name: "a2", type: .patch(peer: "b2")),
            ]),
            BridgeConfiguration(name: "br-b", ports: [
                PortConfiguration(name: "b1", type: .patch(peer: "a1")),
                PortConfiguration(name: "b2", type: .patch(peer: "a2")),
            ]),
        ])
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "host")
        let loops = h.datapath.ports.reduce(0) { $0 + ($1.stats.drops[.patchLoop] ?? 0) }
        #expect(loops > 0)
        _ = h.collect()
        #expect(h.pool.freeCount == h.pool.frameCount, "every copy made in the loop came back")
    }
}
