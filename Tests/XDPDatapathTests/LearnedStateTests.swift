import Testing
@testable import XDPDatapath
import XDPPacket

/// What a datapath learned (MAC entries, router neighbours), written as text and learned
/// back by the next datapath before its first packet (Datapath+LearnedState.swift).
@Suite struct LearnedStateTests {
    static let second: UInt64 = 1_000_000_000

    static func configuration(ports: [String] = ["p1", "p2", "p3"]) -> DatapathConfiguration {
        var router = RouterConfiguration(name: "r1", interfaces: [
            .init(name: "qr-1", mac: MACAddress("fa:16:3e:00:00:01")!, address: IPv4Address(10, 1, 0, 1), prefixLength: 24),
        ])
        router.natConnections = 16
        return DatapathConfiguration(bridges: [
            BridgeConfiguration(name: "br-int", ports: ports.map { PortConfiguration(name: $0, tag: 1) }
                                + [PortConfiguration(name: "qr-1", type: .router, tag: 1)]),
        ], routers: [router])
    }

    @Test func whatWasLearnedIsLearnedBackByTheNextDatapath() throws {
        let pool = FramePool(frameCount: 256)
        let now = DatapathInstant.now().nanoseconds
        let first = try Datapath(configuration: Self.configuration(), pool: pool, now: DatapathInstant(nanoseconds: now))
        let table = try #require(first.bridge(named: "br-int")).macTable
        let p1 = try #require(first.port(named: "p1")).id, p2 = try #require(first.port(named: "p2")).id
        table.learn(0x02_00_00_00_00_0a, vlan: 1, port: p1, now: DatapathInstant(nanoseconds: now - 10 * Self.second))
        table.learn(0x02_00_00_00_00_0b, vlan: 1, port: p2, now: DatapathInstant(nanoseconds: now - 400 * Self.second))  // aged out (300 s)
        table.learn(0x02_00_00_00_00_0c, vlan: 1, port: p2, now: DatapathInstant(nanoseconds: now - 2 * Self.second))
        first.routers[0].learn(IPv4Address(10, 1, 0, 7).rawValue, mac: 0x02_00_00_00_00_07, askedFor: false)
        let snapshot = first.learnedState(now: DatapathInstant(nanoseconds: now))
        #expect(snapshot.macEntries.count == 2 && snapshot.neighbours.count == 1)
        let text = snapshot.text
        #expect(LearnedState(text: text) == snapshot)

        // The next datapath: p1 is gone, p2 stays (with another id), a port was added first.
        let second = try Datapath(configuration: Self.configuration(ports: ["p0", "p2"]), pool: pool, now: DatapathInstant(nanoseconds: now))
        let restored = second.restore(learned: try #require(LearnedState(text: text)), now: DatapathInstant(nanoseconds: now + Self.second))
        #expect(restored.macEntries == 1 && restored.neighbours == 1)
        let newTable = try #require(second.bridge(named: "br-int")).macTable
        #expect(newTable.lookup(0x02_00_00_00_00_0c, vlan: 1, now: DatapathInstant(nanoseconds: now + Self.second)) == second.port(named: "p2")?.id)
        #expect(newTable.lookup(0x02_00_00_00_00_0a, vlan: 1, now: DatapathInstant(nanoseconds: now + Self.second)) == nil)
        // It keeps its age: learned 2 s before the snapshot, it is 3 s old a second later.
        #expect(newTable.entries(now: DatapathInstant(nanoseconds: now + Self.second)).first?.age == .seconds(3))
        #expect(second.routers[0].neighbourTable == [IPv4Address(10, 1, 0, 7): MACAddress(rawValue: 0x02_00_00_00_00_07)])
    }

    @Test func aSnapshotOfAnotherBootOrFormatOrWithBadLinesIsRefusedOrSkipped() throws {
        let pool = FramePool(frameCount: 256)
        let now = DatapathInstant.now().nanoseconds
        let datapath = try Datapath(configuration: Self.configuration(), pool: pool, now: DatapathInstant(nanoseconds: now))
        let seen = now - Self.second
        let line = "mac br-int p1 1 2000000000a \(seen)"
        let other = try #require(LearnedState(text: "xdpswitch-learned 1 00000000-0000-0000-0000-000000000000\n\(line)\n"))
        #expect(datapath.restore(learned: other, now: DatapathInstant(nanoseconds: now)) == (0, 0))
        #expect(LearnedState(text: "xdpswitch-learned 2 \(StateFile.currentBootID())\n\(line)\n") == nil)
        #expect(LearnedState(text: "garbage") == nil)
        let mixed = try #require(LearnedState(text: """
            xdpswitch-learned 1 \(StateFile.currentBootID())
            \(line)
            mac br-int p1 1 zz \(seen)
            mac br-int p1 1 1000000000000 \(seen)
            neighbour r1 0 2000000007
            neighbour r1 c0a80007 2000000007
            neighbour nowhere a010007 2000000007
            """))
        #expect(mixed.macEntries.count == 1 && mixed.neighbours.count == 2)
        // 192.168.0.7 is on no subnet of r1, router "nowhere" does not exist.
        #expect(datapath.restore(learned: mixed, now: DatapathInstant(nanoseconds: now)) == (1, 0))
    }
}
