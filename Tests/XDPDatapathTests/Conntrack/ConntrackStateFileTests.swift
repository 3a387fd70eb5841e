#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import XDPDatapath
import XDPPacket

/// A tracker's connections in a state file (StateFile.swift, ConntrackStateFile.swift):
/// written by one tracker, adopted by the next one configured the same; a torn, corrupt,
/// old-format, mismatched or foreign file refused in one line, the tracker then empty.
@Suite struct ConntrackStateFileTests {
    typealias H = ConntrackHarness

    /// A directory of its own under /tmp, removed by `body`'s end.
    func withDirectory(_ body: (String) throws -> Void) rethrows {
        let dir = "/tmp/ctstate-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    func harness(_ path: String, capacity: Int = 1024) -> ConntrackHarness {
        ConntrackHarness { $0.stateFile = path; $0.capacity = capacity }
    }

    /// A → B: an established TCP connection (handshake and one data segment), a UDP
    /// flow answered, a ping. Returns the next sequence numbers of A and B.
    @discardableResult
    func openConnections(_ h: ConntrackHarness) -> (a: UInt32, b: UInt32) {
        h.track(H.tcp(H.a, H.b, 40000, 5001, seq: 100, flags: .syn))
        h.track(H.tcp(H.b, H.a, 5001, 40000, seq: 900, ack: 101, flags: [.syn, .ack]))
        h.track(H.tcp(H.a, H.b, 40000, 5001, seq: 101, ack: 901, flags: .ack))
        h.track(H.tcp(H.a, H.b, 40000, 5001, seq: 101, ack: 901, flags: [.ack, .psh], payload: 1000))
        h.track(H.udp(H.a, H.b, 3000, 53))
        h.track(H.udp(H.b, H.a, 53, 3000))
        h.track(H.ping(H.a, H.b, id: 7))
        return (1101, 901)
    }

    /// A mid-stream segment of the TCP connection, as a new tracker would see it.
    func midStream(_ h: ConntrackHarness) -> TrackResult {
        h.track(H.tcp(H.b, H.a, 5001, 40000, seq: 901, ack: 1101, flags: .ack), commit: false)
    }

    /// Writes the file's header words at `offset` (the header's checksum recomputed when
    /// `resum`), as a file of another version or a torn write would have it.
    func patch(_ path: String, offset: Int, bytes: [UInt8], resum: Bool) throws {
        let fd = open(path, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: StateFile.headerSize)
        _ = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, StateFile.headerSize, 0) }
        header.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        if resum {
            let sum = header.withUnsafeBytes { StateFile.Header.fnv1a($0.baseAddress!, count: StateFile.Offset.checksum) }
            withUnsafeBytes(of: sum) { header.replaceSubrange(StateFile.Offset.checksum..<StateFile.Offset.checksum + 8, with: $0) }
        }
        _ = header.withUnsafeBytes { pwrite(fd, $0.baseAddress, StateFile.headerSize, 0) }
    }

    @Test func aTrackerAdoptsTheConnectionsOfTheOneBeforeIt() throws {
        try withDirectory { dir in
            let path = dir + "/conntrack.state"
            var dump: [String] = []
            var clock: UInt64 = 0
            do {
                let first = harness(path)
                #expect(first.ct.stateReport == nil, "a new file where there was none")
                openConnections(first)
                dump = first.ct.sortedConnections().map(\.description)
                clock = first.now
                #expect(first.ct.connectionCount == 3)
            }
            let second = harness(path)
            second.now = clock
            #expect(second.ct.connectionCount == 3)
            #expect(second.ct.sortedConnections().map(\.description) == dump)
            let report = try #require(second.ct.stateReport)
            #expect(report == "state file \(path): adopted 3 connections (generation 2, the previous switch stopped cleanly)")
            // The connection goes on: a mid-stream segment is established, not invalid.
            let r = midStream(second)
            #expect(r.state.contains(.established) && !r.state.contains(.invalid), "\(r.state)")
            // Expiry still works on the adopted lists: the UDP flow and the ping go first.
            second.advance(seconds: 181)
            #expect(second.ct.expire(now: DatapathInstant(nanoseconds: second.now)) == 2)
            #expect(second.ct.connectionCount == 1)
            // A new connection takes a free entry (the free list was rebuilt).
            second.track(H.tcp(H.a, H.b, 40001, 5001, seq: 1, flags: .syn))
            #expect(second.ct.connectionCount == 2)
        }
    }

    /// `flush-conntrack` empties the file too: the next tracker adopts nothing.
    @Test func aFlushIsKept() {
        withDirectory { dir in
            let path = dir + "/conntrack.state"
            do {
                let first = harness(path)
                openConnections(first)
                #expect(first.ct.flush() == 3)
            }
            let second = harness(path)
            #expect(second.ct.connectionCount == 0)
            #expect(second.ct.stateReport?.contains("adopted 0 connections") == true, "\(second.ct.stateReport ?? "nil")")
            #expect(midStream(second).state.contains(.invalid))
        }
    }

    /// Without a state file (today's behaviour) the same segment is invalid: what the
    /// state file is for.
    @Test func withoutAStateFileAMidStreamSegmentIsInvalid() {
        let first = ConntrackHarness()
        openConnections(first)
        let second = ConntrackHarness()
        let r = midStream(second)
        #expect(r.state.contains(.invalid))
    }

    /// A file left by a process that vanished (the mapping copied while in use, as a
    /// kill -9 leaves it) is adopted and reported as such.
    @Test func aFileLeftOpenIsAdoptedAfterACrash() throws {
        withDirectory { dir in
            let path = dir + "/conntrack.state", copy = dir + "/crashed.state"
            let first = harness(path)
            openConnections(first)
            #expect((try? FileManager.default.copyItem(atPath: path, toPath: copy)) != nil)
            let second = harness(copy)
            #expect(second.ct.connectionCount == 3)
            #expect(second.ct.stateReport?.hasSuffix("(generation 2, the previous switch ended without closing it)") == true,
                    "\(second.ct.stateReport ?? "nil")")
            // While the first tracker holds its file, a second opener may not share it.
            let third = harness(path)
            #expect(third.ct.connectionCount == 0)
            #expect(third.ct.stateReport == "state file \(path): in use by another switch (locked); starting with no connections")
        }
    }

    /// A TCP connection the in-kernel fast path carried is tracked liberally
    /// (Conntrack+FastPath.swift); after a crash the next tracker adopts it, liberal still,
    /// so a mid-stream segment beyond the window it last saw is established, not invalid.
    @Test func aConnectionTrackedLiberallyIsAdoptedAfterACrash() throws {
        withDirectory { dir in
            let path = dir + "/conntrack.state", copy = dir + "/crashed.state"
            let first = harness(path)
            openConnections(first)
            let tcp = (0..<first.ct.capacity).first { first.ct.entries[$0].flags & ConntrackEntry.inUse != 0
                && first.ct.entries[$0].original.proto == 6 }!
            first.ct.trackLiberally(entry: tcp)
            #expect((try? FileManager.default.copyItem(atPath: path, toPath: copy)) != nil)
            let second = harness(copy)
            #expect(second.ct.connectionCount == 3, "\(second.ct.stateReport ?? "nil")")
            #expect(second.ct.stateReport?.contains("inconsistent") == false, "\(second.ct.stateReport ?? "nil")")
            let far = second.track(H.tcp(H.a, H.b, 40000, 5001, seq: 50_000_000, ack: 901, flags: .ack), commit: false)
            #expect(far.state.contains(.established) && !far.state.contains(.invalid), "\(far.state)")
        }
    }

    /// Torn updates: an entry with an unknown timeout class and one whose key another
    /// entry holds are dropped, the rest adopted and consistent.
    @Test func inconsistentEntriesAreDroppedTheRestAdopted() throws {
        try withDirectory { dir in
            let path = dir + "/conntrack.state"
            do {
                let first = harness(path)
                openConnections(first)
                let live = (0..<first.ct.capacity).filter { first.ct.entries[$0].flags & ConntrackEntry.inUse != 0 }
                #expect(live.count == 3)
                first.ct.entries[live[0]].timeoutClass = 200
                // A fourth entry, marked in use, that repeats the second's keys (half an insert).
                let spare = try #require((0..<first.ct.capacity).first { first.ct.entries[$0].flags == 0 })
                first.ct.entries[spare] = first.ct.entries[live[1]]
            }
            let second = harness(path)
            #expect(second.ct.connectionCount == 2)
            #expect(second.ct.stateReport?.hasSuffix("; 2 inconsistent entries dropped") == true, "\(second.ct.stateReport ?? "nil")")
            #expect(second.ct.flush() == 2)
            #expect(second.ct.connectionCount == 0)
        }
    }

    @Test func aCorruptHeaderIsRefusedAndTheTrackerStartsEmpty() throws {
        try withDirectory { dir in
            let path = dir + "/conntrack.state"
            do { openConnections(harness(path)) }
            // One byte of the capacity changed, checksum not: a torn or scribbled header.
            try patch(path, offset: StateFile.Offset.geometry, bytes: [0x01], resum: false)
            do {
                let second = harness(path)
                #expect(second.ct.connectionCount == 0)
                let report = try #require(second.ct.stateReport)
                #expect(report.hasPrefix("state file \(path): corrupt: header checksum"), "\(report)")
                #expect(report.hasSuffix("; starting with no connections") && !report.contains("\n"))
                #expect(midStream(second).state.contains(.invalid))
            }
            // The refused file was replaced by an empty one of the right shape.
            #expect(harness(path).ct.stateReport?.contains("adopted 0 connections") == true)
        }
    }

    /// The report of a tracker opened, with `capacity`, on a file another tracker left
    /// (three connections) and `change` then altered, with its path written PATH; the
    /// tracker must have started empty.
    func refusal(capacity: Int = 1024, after change: (String) throws -> Void) throws -> String {
        var report = ""
        try withDirectory { dir in
            let path = dir + "/conntrack.state"
            do { openConnections(harness(path)) }
            try change(path)
            let second = harness(path, capacity: capacity)
            #expect(second.ct.connectionCount == 0)
            #expect(midStream(second).state.contains(.invalid))
            report = (second.ct.stateReport ?? "nil").replacingOccurrences(of: path, with: "PATH")
        }
        return report
    }

    @Test func anOldFormatIsRefusedCleanly() throws {
        let report = try refusal { try patch($0, offset: StateFile.Offset.version, bytes: [0, 0, 0, 0], resum: true) }
        #expect(report == "state file PATH: format version 0, this switch reads version 1; starting with no connections")
    }

    @Test func anotherGeometryIsRefused() throws {
        let report = try refusal(capacity: 2048) { _ in }
        #expect(report.hasPrefix("state file PATH: geometry differs: file 1024/"), "\(report)")
    }

    @Test func aFileOfAnotherBootIsRefused() throws {
        let other = Array("00000000-0000-0000-0000-000000000000".utf8)
        let report = try refusal { try patch($0, offset: StateFile.Offset.bootID, bytes: other, resum: true) }
        #expect(report.contains("written by another boot (00000000-"), "\(report)")
    }

    @Test func aTruncatedFileIsRefused() throws {
        let report = try refusal { #expect(truncate($0, off_t(StateFile.headerSize + 100)) == 0) }
        #expect(report.contains("corrupt: \(StateFile.headerSize + 100) bytes, header says"), "\(report)")
    }

    @Test func aStateFileThatCannotBeMadeLeavesTheTrackerInMemory() {
        let h = harness("/proc/no-such-dir/conntrack.state")
        openConnections(h)
        #expect(h.ct.connectionCount == 3)
        #expect(h.ct.stateReport?.hasSuffix("; connections will not survive a restart") == true, "\(h.ct.stateReport ?? "nil")")
    }
}
