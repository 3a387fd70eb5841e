import Testing
import XDPDatapath
import XDPPacket

@Suite struct MACTableTests {
    @Test func fullProbeWindowsEvictTheOldestEntry() {
        let table = MACTable(capacity: 16, aging: .seconds(300))
        for i in 0..<64 { table.learn(UInt64(0x0200_0000_0000 + i), vlan: 1, port: PortID(i), now: DatapathInstant(nanoseconds: UInt64(i + 1))) }
        #expect(table.evictions == 48)
        #expect(table.entries(now: DatapathInstant(nanoseconds: 100)).count == 16)
        // The last learned is always present.
        #expect(table.lookup(0x0200_0000_0000 + 63, vlan: 1, now: DatapathInstant(nanoseconds: 100)) == PortID(63))
    }

    @Test func flushByPortForgetsOnlyThatPort() {
        let table = MACTable()
        table.learn(1, vlan: 1, port: PortID(1), now: DatapathInstant(nanoseconds: 1))
        table.learn(2, vlan: 1, port: PortID(2), now: DatapathInstant(nanoseconds: 1))
        table.flush(port: PortID(1))
        #expect(table.lookup(1, vlan: 1, now: DatapathInstant(nanoseconds: 2)) == nil)
        #expect(table.lookup(2, vlan: 1, now: DatapathInstant(nanoseconds: 2)) == PortID(2))
    }

    @Test func relearningAnExpiredEntryIsNotAMove() {
        let table = MACTable(aging: .seconds(1))
        table.learn(1, vlan: 1, port: PortID(1), now: DatapathInstant(nanoseconds: 0))
        #expect(table.learn(1, vlan: 1, port: PortID(2), now: DatapathInstant(nanoseconds: 2_000_000_000)) == nil)
        #expect(table.learn(1, vlan: 1, port: PortID(3), now: DatapathInstant(nanoseconds: 2_000_000_001)) == PortID(2))
    }

    /// An entry seen after the time a lookup is made at (the fast path refreshes entries
    /// with the kernel's time of its last frame, which can be later than the time the
    /// worker read for the batch) is live, with age 0, not aged out by a wrapped
    /// subtraction: the learned-state snapshot lost such entries, and lookups flooded.
    @Test func anEntrySeenAfterTheLookupsTimeIsLive() {
        let table = MACTable(aging: .seconds(300))
        table.learn(1, vlan: 1, port: PortID(4), now: DatapathInstant(nanoseconds: 5_000_000_000))
        let earlier = DatapathInstant(nanoseconds: 4_999_000_000)
        #expect(table.lookup(1, vlan: 1, now: earlier) == PortID(4))
        #expect(table.entries(now: earlier).map(\.age) == [.zero])
        #expect(table.learn(1, vlan: 1, port: PortID(5), now: earlier) == PortID(4), "a move, not a relearn of a dead entry")
        #expect(table.lookup(1, vlan: 1, now: DatapathInstant(nanoseconds: 305_000_000_001)) == nil, "ages out from its last sighting")
    }

    @Test func entriesCarryTheirExactAge() {
        let table = MACTable()
        let learned = DatapathInstant(nanoseconds: 5_000_000_000)
        table.learn(0x02_00_00_00_00_01, vlan: 7, port: PortID(4), now: learned)
        let entries = table.entries(now: learned.advanced(by: .milliseconds(3750)))
        #expect(entries.map(\.age) == [.milliseconds(3750)])
        #expect(entries.map(\.port) == [PortID(4)] && entries.map(\.vlan) == [7])
        // fdb/show and FDBEntry's text print whole seconds, truncated.
        let entry = FDBEntry(port: "vm1", ofport: 1, vlan: 7, mac: MACAddress(rawValue: 0x02_00_00_00_00_01), age: entries[0].age)
        #expect(entry.description == "02:00:00:00:00:01 vlan 7 on vm1 (ofport 1), age 3s")
    }
}
