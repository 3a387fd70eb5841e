import Testing
import XDPDatapath
import XDPPacket

/// A datapath over its own pool, with the helpers every test needs.
final class Harness {
    let pool: FramePool
    let datapath: Datapath
    var now: UInt64 = 1_000_000_000

    init(_ bridges: [BridgeConfiguration], frames: Int = 1024, conntrack: ConntrackConfiguration = ConntrackConfiguration(),
         flowSegmentCache: Bool = true) throws {
        pool = FramePool(frameCount: frames)
        datapath = try Datapath(configuration: DatapathConfiguration(bridges: bridges, conntrack: conntrack,
                                                                     flowSegmentCache: flowSegmentCache), pool: pool, now: .zero)
    }

    func port(_ name: String) -> DatapathPort { datapath.port(named: name)! }

    func send(_ frame: [UInt8], on name: String) { datapath.inject(frame, into: port(name), now: DatapathInstant(nanoseconds: now)) }

    /// What every port transmitted since the last call, by port name (empty ones omitted).
    func collect() -> [String: [[UInt8]]] {
        var out: [String: [[UInt8]]] = [:]
        for p in datapath.ports {
            let frames = datapath.drainTransmitted(p)
            if !frames.isEmpty { out[p.name] = frames }
        }
        return out
    }

    /// Every frame is either free or queued.
    var accountingHolds: Bool { pool.freeCount + datapath.framesQueued == pool.frameCount }
}

let A = "fa:16:3e:00:00:0a", B = "fa:16:3e:00:00:0b", C = "fa:16:3e:00:00:0c"
let BCAST = "ff:ff:ff:ff:ff:ff"

func accessTrunkBridge() -> [BridgeConfiguration] {
    [BridgeConfiguration(name: "br-int", ports: [
        PortConfiguration(name: "qvo-a", tag: 1),
        PortConfiguration(name: "qvo-b", tag: 1),
        PortConfiguration(name: "qvo-c", tag: 2),
        PortConfiguration(name: "trunk", trunks: [1, 2]),
        PortConfiguration(name: "trunk-all"),
    ])]
}

@Suite struct NormalBridgeTests {
    @Test func broadcastFromAccessPortFloodsItsVLANOnly() throws {
        let h = try Harness(accessTrunkBridge())
        let frame = TestFrame.ethernet(dst: BCAST, src: A)
        h.send(frame, on: "qvo-a")
        let out = h.collect()
        #expect(Set(out.keys) == ["qvo-b", "trunk", "trunk-all"])
        #expect(out["qvo-b"] == [frame], "access port sends untagged")
        #expect(out["trunk"].map { $0.map(TestFrame.vlan) } == [1], "trunk gets VLAN 1 pushed")
        #expect(out["trunk"].map { $0.map(TestFrame.untag) } == [frame], "push keeps the rest of the frame")
        #expect(out["trunk-all"].map { $0.map(TestFrame.vlan) } == [1])
        #expect(h.port("qvo-a").stats.floodedPackets == 1)
        #expect(h.accountingHolds)
    }

    @Test func trunkToAccessPopsTag() throws {
        let h = try Harness(accessTrunkBridge())
        let frame = TestFrame.tagged(dst: BCAST, src: C, vlan: 2)
        h.send(frame, on: "trunk")
        let out = h.collect()
        #expect(Set(out.keys) == ["qvo-c", "trunk-all"])
        #expect(out["qvo-c"] == [TestFrame.untag(frame)])
        #expect(out["trunk-all"] == [frame], "trunk to trunk keeps the tag")
    }

    @Test func trunkFiltersVLANsNotInTrunks() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.tagged(dst: BCAST, src: A, vlan: 3), on: "trunk")
        #expect(h.collect().isEmpty)
        #expect(h.port("trunk").stats.drops[.vlanNotAllowed] == 1)
        // Untagged (VLAN 0) is not in [1, 2] either.
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "trunk")
        #expect(h.port("trunk").stats.drops[.vlanNotAllowed] == 2)
        // VLAN 3 from a trunk carrying everything reaches only that VLAN's ports: none here.
        h.send(TestFrame.tagged(dst: BCAST, src: A, vlan: 3), on: "trunk-all")
        #expect(h.collect().isEmpty)
        #expect(h.port("trunk-all").stats.drops[.noOutputPort] == 1)
        #expect(h.accountingHolds)
    }

    @Test func taggedFrameOnAccessPortIsDroppedButPriorityTagIsAccepted() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.tagged(dst: BCAST, src: A, vlan: 1), on: "qvo-a")
        #expect(h.collect().isEmpty)
        #expect(h.port("qvo-a").stats.drops[.taggedOnAccessPort] == 1)
        let priority = TestFrame.tagged(dst: BCAST, src: A, vlan: 0, pcp: 5)
        h.send(priority, on: "qvo-a")
        let out = h.collect()
        #expect(out["qvo-b"] == [TestFrame.untag(priority)], "priority tag popped toward an access port")
        let toTrunk = try #require(out["trunk"]?.first)
        #expect(TestFrame.vlan(of: toTrunk) == 1)
        #expect(toTrunk[14] >> 5 == 5, "PCP kept when the VID is rewritten")
    }

    @Test func learnedUnicastGoesToOnePort() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")
        _ = h.collect()
        let reply = TestFrame.ethernet(dst: A, src: B)
        h.send(reply, on: "qvo-b")
        #expect(h.collect() == ["qvo-a": [reply]])
        // B is now learned too: A → B is unicast.
        let next = TestFrame.ethernet(dst: B, src: A)
        h.send(next, on: "qvo-a")
        #expect(h.collect() == ["qvo-b": [next]])
        // From the trunk, tagged VLAN 1 to A: popped, to qvo-a only.
        let fromTrunk = TestFrame.tagged(dst: A, src: C, vlan: 1)
        h.send(fromTrunk, on: "trunk")
        #expect(h.collect() == ["qvo-a": [TestFrame.untag(fromTrunk)]])
    }

    @Test func learningIsPerVLAN() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")  // A learned in VLAN 1
        _ = h.collect()
        // To A in VLAN 2: unknown there, so it floods VLAN 2 and never reaches qvo-a.
        h.send(TestFrame.ethernet(dst: A, src: C), on: "qvo-c")
        let out = h.collect()
        #expect(Set(out.keys) == ["trunk", "trunk-all"])
        #expect(out["trunk"].map { $0.map(TestFrame.vlan) } == [2])
        let table = h.datapath.bridges[0].macTable
        #expect(table.lookup(TestFrame.mac(A).rawValue, vlan: 1, now: DatapathInstant(nanoseconds: h.now)) == h.port("qvo-a").id)
        #expect(table.lookup(TestFrame.mac(A).rawValue, vlan: 2, now: DatapathInstant(nanoseconds: h.now)) == nil)
    }

    @Test func learnedAddressesAgeOut() throws {
        var bridge = accessTrunkBridge()[0]
        bridge.macAging = .seconds(10)
        let h = try Harness([bridge])
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")
        _ = h.collect()
        h.now += 9_000_000_000
        h.send(TestFrame.ethernet(dst: A, src: B), on: "qvo-b")
        #expect(Set(h.collect().keys) == ["qvo-a"], "still known after 9 s")
        h.now += 11_000_000_000
        h.send(TestFrame.ethernet(dst: A, src: B), on: "qvo-b")
        #expect(Set(h.collect().keys) == ["qvo-a", "trunk", "trunk-all"], "forgotten after 10 s unseen: flooded")
    }

    @Test func macMoveIsLearnedAndCounted() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-b")  // A moved to qvo-b
        _ = h.collect()
        #expect(h.port("qvo-b").stats.macMoves == 1)
        let frame = TestFrame.ethernet(dst: A, src: C)
        h.send(frame, on: "trunk-all")  // untagged on trunk-all is VLAN 0: no access port
        _ = h.collect()
        h.send(TestFrame.tagged(dst: A, src: C, vlan: 1), on: "trunk")
        #expect(Set(h.collect().keys) == ["qvo-b"])
    }

    @Test func frameToItsOwnInputPortIsDropped() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.ethernet(dst: BCAST, src: A), on: "qvo-a")
        h.send(TestFrame.ethernet(dst: BCAST, src: B), on: "qvo-a")
        _ = h.collect()
        h.send(TestFrame.ethernet(dst: B, src: A), on: "qvo-a")
        #expect(h.collect().isEmpty)
        #expect(h.port("qvo-a").stats.drops[.destinationIsInputPort] == 1)
        #expect(h.accountingHolds)
    }

    @Test func floodCopiesRunOutOfBuffersWithoutLosingFrames() throws {
        let h = try Harness(accessTrunkBridge(), frames: 4)
        // 4 frames in the pool: the first flood needs 1 original + 2 copies; the
        // rest cannot get copies or even a frame to land in.
        h.datapath.inject((0..<3).map { _ in TestFrame.ethernet(dst: BCAST, src: A) }, into: h.port("qvo-a"), now: DatapathInstant(nanoseconds: h.now))
        let stats = h.port("qvo-a").stats
        #expect(stats.rxPackets == 3)
        #expect(stats.drops[.noBuffer, default: 0] > 0)
        #expect(h.accountingHolds)
        _ = h.collect()
        #expect(h.pool.freeCount == 4)
    }

    @Test func qinqFrameIsSwitchedByItsOuterTag() throws {
        let h = try Harness(accessTrunkBridge())
        let frame = TestFrame.ethernet(dst: BCAST, src: A, tags: [(0x88A8, 2), (0x8100, 100)])
        h.send(frame, on: "trunk")
        let out = h.collect()
        #expect(out["qvo-c"] == [TestFrame.untag(frame)], "outer S-tag popped, inner C-tag kept")
        #expect(out["trunk-all"] == [frame])
    }

    @Test func tripleTaggedFrameIsDropped() throws {
        let h = try Harness(accessTrunkBridge())
        h.send(TestFrame.ethernet(dst: BCAST, src: A, tags: [(0x88A8, 2), (0x8100, 3), (0x8100, 4)]), on: "trunk-all")
        #expect(h.collect().isEmpty)
        #expect(h.port("trunk-all").stats.drops[.tooManyVLANTags] == 1)
    }

    @Test func unknownEtherTypeIsForwardedAndCounted() throws {
        let h = try Harness(accessTrunkBridge())
        let frame = TestFrame.ethernet(dst: BCAST, src: A, type: 0x1234)
        h.send(frame, on: "qvo-a")
        #expect(h.collect()["qvo-b"] == [frame])
        #expect(h.port("qvo-a").stats.unknownEtherType == 1)
    }
}
