import Testing
import XDPDatapath
import XDPPacket

/// A datapath succeeded by one built from a new configuration over the same pool
/// (Datapath+Reconfiguration.swift), in memory: what carries over and what does not.
@Suite struct ReconfigurationTests {
    static let D = "fa:16:3e:00:00:0d"
    static let flows = ["priority=10,dl_type=0x88b5 actions=NORMAL", "priority=0 actions=NORMAL"]

    static func configuration(_ ports: [PortConfiguration], flows: [String] = flows) -> DatapathConfiguration {
        DatapathConfiguration(bridges: [BridgeConfiguration(name: "br-int", ports: ports, flows: flows)])
    }

    @Test func aSuccessorKeepsCountersMACEntriesFlowCountersConntrackAndPortNumbers() throws {
        let pool = FramePool(frameCount: 1024)
        let now: UInt64 = 5_000_000_000
        let first = try Datapath(configuration: Self.configuration([
            PortConfiguration(name: "qvo-a", tag: 1), PortConfiguration(name: "qvo-b", tag: 1),
            PortConfiguration(name: "qvo-c", tag: 1), PortConfiguration(name: "qvo-d", tag: 1),
        ]), pool: pool, now: .zero)
        let tracker = first.startConntrack()
        first.inject(TestFrame.ethernet(dst: B, src: A), into: first.port(named: "qvo-a")!, now: DatapathInstant(nanoseconds: now))
        first.inject(TestFrame.ethernet(dst: A, src: B), into: first.port(named: "qvo-b")!, now: DatapathInstant(nanoseconds: now))
        first.inject(TestFrame.ethernet(dst: A, src: C), into: first.port(named: "qvo-c")!, now: DatapathInstant(nanoseconds: now))
        for port in first.ports { _ = first.drainTransmitted(port) }
        #expect(first.bridge(named: "br-int")!.macTable.entries(now: DatapathInstant(nanoseconds: now)).count == 3)
        let ofportB = first.port(named: "qvo-b")!.ofport

        // a removed, a new port first in the list, c moved to VLAN 2, one flow replaced.
        let next = Self.configuration([
            PortConfiguration(name: "qvo-new", tag: 1), PortConfiguration(name: "qvo-b", tag: 1),
            PortConfiguration(name: "qvo-c", tag: 2), PortConfiguration(name: "qvo-d", tag: 1),
        ], flows: [Self.flows[0], "priority=5,arp actions=NORMAL"]).keepingPortNumbers(of: first)
        let second = try Datapath(configuration: next, pool: pool, now: .zero)
        let summary = second.takeOver(from: first, now: DatapathInstant(nanoseconds: now))

        #expect(summary.portsAdded == ["qvo-new"] && summary.portsRemoved == ["qvo-a"] && summary.portsKept == 3, "\(summary)")
        #expect(summary.flowsKept == 1 && summary.flowsAdded == 1 && summary.flowsRemoved == 1, "\(summary)")
        #expect(summary.conntrackKept && second.startConntrack() === tracker, "the same tracker, connections and all")
        #expect(summary.macEntriesKept == 1, "only b's entry: a is gone and c changed VLAN: \(summary)")
        #expect(second.port(named: "qvo-b")!.ofport == ofportB, "a kept port keeps its OpenFlow number")
        #expect(second.port(named: "qvo-new")!.ofport == 5, "a new port takes no number the predecessor used")
        #expect(second.port(named: "qvo-b")!.stats.rxPackets == 1, "counters carry over")
        let table = second.bridge(named: "br-int")!.macTable
        #expect(table.lookup(TestFrame.mac(B).rawValue, vlan: 1, now: DatapathInstant(nanoseconds: now)) == second.port(named: "qvo-b")!.id)
        #expect(table.lookup(TestFrame.mac(C).rawValue, vlan: 1, now: DatapathInstant(nanoseconds: now)) == nil)
        let kept = second.bridge(named: "br-int")!.flowTable.flows.first { "\($0.rule)".contains("0x88b5") }!
        #expect(kept.counters.packets == 3, "the unchanged flow's counters carry over")

        // Known unicast to b goes to b alone in the successor (no flood).
        second.inject(TestFrame.ethernet(dst: B, src: Self.D), into: second.port(named: "qvo-d")!, now: DatapathInstant(nanoseconds: now))
        #expect(second.drainTransmitted(second.port(named: "qvo-b")!).count == 1)
        #expect(second.drainTransmitted(second.port(named: "qvo-new")!).isEmpty)
        #expect(pool.freeCount + second.framesQueued == pool.frameCount, "frame accounting holds")
    }

    @Test func aConfigurationTheSuccessorRefusesLeavesThePredecessorAsItWas() throws {
        let pool = FramePool(frameCount: 256)
        let first = try Datapath(configuration: Self.configuration([PortConfiguration(name: "qvo-a", tag: 1)]), pool: pool, now: .zero)
        let bad = Self.configuration([PortConfiguration(name: "qvo-a", tag: 1)], flows: ["priority=1,nonsense=2 actions=NORMAL"])
        #expect(throws: DatapathConfigurationError.self) { try Datapath(configuration: bad.keepingPortNumbers(of: first), pool: pool, now: .zero) }
        #expect(first.bridge(named: "br-int")!.flowTable.flows.count == 2)
        #expect(pool.freeCount == pool.frameCount)
    }

    @Test func aDownPortsQueueIsCountedAsPortDownDrops() throws {
        let pool = FramePool(frameCount: 256)
        let datapath = try Datapath(configuration: Self.configuration([
            PortConfiguration(name: "qvo-a", tag: 1), PortConfiguration(name: "qvo-b", tag: 1),
        ]), pool: pool, now: .zero)
        let b = datapath.port(named: "qvo-b")!
        b.linkDown = "absent"
        datapath.inject(TestFrame.ethernet(dst: BCAST, src: A), into: datapath.port(named: "qvo-a")!, now: DatapathInstant(nanoseconds: 1))
        #expect(b.txQueue.count == 1)
        datapath.discardTransmitQueue(of: b)
        #expect(b.txQueue.isEmpty && b.stats.drops[.portDown] == 1)
        #expect(datapath.portStatistics().first { $0.name == "qvo-b" }?.linkDown == "absent")
        #expect(datapath.topology().bridges.flatMap(\.ports).first { $0.name == "qvo-b" }?.linkDown == "absent")
        #expect(pool.freeCount == pool.frameCount)
    }

    @Test func routersConfiguredTheSameAreTheSameObjectsInTheSuccessor() throws {
        let pool = FramePool(frameCount: 512)
        let before = RouterBridgeNode.referenceConfiguration()
        let first = try Datapath(configuration: before, pool: pool, now: .zero)
        var after = before
        after.bridges[0].ports.append(PortConfiguration(name: "qvo-vm2", tag: 1))
        let numbered = after.keepingPortNumbers(of: first)
        let succession = DatapathSuccession(previous: first, previousConfiguration: before, configuration: numbered)
        let second = try Datapath(configuration: numbered, pool: pool, now: .zero, succeeding: succession)
        let summary = second.takeOver(from: first, now: DatapathInstant(nanoseconds: 1))
        #expect(second.routers[0] === first.routers[0], "the router, its NAT and neighbours, carries over")
        #expect(summary.routersKept == [first.routers[0].name] && summary.routersChanged.isEmpty, "\(summary)")

        // Routes and floating IPs change in place: the same router (its NAT connections and
        // neighbours), given the new ones when the successor takes over.
        var changed = numbered
        changed.routers[0].routes = [.init(prefix: IPv4Prefix(IPv4Address(192, 168, 50, 0), length: 24)!,
                                           nextHop: IPv4Address(10, 1, 0, 254))]
        changed.routers[0].floatingIPs = [.init(floating: IPv4Address(172, 24, 4, 228), fixed: RouterHarness.vmIP)]
        let third = try Datapath(configuration: changed, pool: pool, now: .zero,
                                 succeeding: DatapathSuccession(previous: second, previousConfiguration: numbered, configuration: changed))
        #expect(third.routers[0].configuration.floatingIPs.isEmpty, "nothing changes before the takeover")
        let updated = third.takeOver(from: second, now: DatapathInstant(nanoseconds: 1))
        #expect(third.routers[0] === second.routers[0], "a router whose routes and floating IPs changed is kept")
        #expect(updated.routersUpdated == [second.routers[0].name] && updated.routersKept == [second.routers[0].name], "\(updated)")
        #expect(third.routers[0].configuration.routes == changed.routers[0].routes)
        #expect(third.routers[0].configuration.floatingIPs == changed.routers[0].floatingIPs)

        // Anything else (here the SNAT port range) builds it anew.
        var rebuiltConfiguration = changed
        rebuiltConfiguration.routers[0].snat = .init(portMin: 2000, portMax: 3000)
        let fourth = try Datapath(configuration: rebuiltConfiguration, pool: pool, now: .zero,
                                  succeeding: DatapathSuccession(previous: third, previousConfiguration: changed,
                                                                 configuration: rebuiltConfiguration))
        let rebuilt = fourth.takeOver(from: third, now: DatapathInstant(nanoseconds: 1))
        #expect(fourth.routers[0] !== third.routers[0], "a router whose interfaces or NAT changed is rebuilt")
        #expect(rebuilt.routersChanged == [third.routers[0].name] && rebuilt.routersUpdated.isEmpty, "\(rebuilt)")
        #expect(pool.freeCount == pool.frameCount)
    }
}
