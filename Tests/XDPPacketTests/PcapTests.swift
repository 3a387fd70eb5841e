import Foundation
import Testing
@testable import XDPPacket
import XDPPcap

/// Matches TIMESTAMPS and PCAP_NAMES in make_fixtures.py.
private let fixtureTimestamps: [UInt64] = [1_700_000_000_123_456_789, 1_700_000_001_000_000_000,
                                           1_700_000_002_000_000_999, 1_700_000_003_000_001_000]
private let fixtureNames = ["ipv4_udp", "arp_request", "ipv6_icmpv6_echo", "gre_c1_k1_s1"]

private func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("xdppacket-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)-\(name)").path
}

@Suite struct PcapTests {
    @Test func readsScapyNanosecondPcap() throws {
        let reader = try PcapReader(path: Fixtures.url("frames", "pcap").path)
        #expect(reader.linkType == 1)
        let records = try reader.readAll()
        #expect(records.map(\.bytes) == fixtureNames.map { Fixtures.frame($0) })
        #expect(records.map(\.timestampNanoseconds) == fixtureTimestamps)
        #expect(records.allSatisfy { $0.originalLength == $0.bytes.count })
        #expect(try reader.next() == nil)  // stays at end of file
    }

    @Test func readsScapyPcapng() throws {
        let reader = try PcapReader(path: Fixtures.url("frames", "pcapng").path)
        #expect(reader.linkType == 1)
        let records = try reader.readAll()
        #expect(records.map(\.bytes) == fixtureNames.map { Fixtures.frame($0) })
        // scapy writes pcapng at microsecond resolution, converting through a Double, so
        // the last microsecond may round either way.
        #expect(records.count == fixtureTimestamps.count)
        for (record, expected) in zip(records, fixtureTimestamps) {
            #expect(record.timestampNanoseconds % 1000 == 0)
            let difference = Int64(bitPattern: record.timestampNanoseconds &- expected)
            #expect(abs(difference) <= 1000, "\(record.timestampNanoseconds) vs \(expected)")
        }
    }

    @Test func writeThenReadRoundTripsBytesAndNanoseconds() throws {
        let path = temporaryPath("roundtrip.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = SeededGenerator(seed: 2023)
        var expected: [PcapRecord] = []
        for i in 0..<50 {
            let length = Int.random(in: 0...1600, using: &rng)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let ts = 1_600_000_000_000_000_000 + UInt64(i) * 1_000_000_007 + UInt64.random(in: 0..<1_000_000_000, using: &rng)
            expected.append(PcapRecord(timestampNanoseconds: ts, bytes: bytes))
        }
        let writer = try PcapWriter(path: path)
        for record in expected { try writer.write(record) }
        try writer.close()
        try writer.close()  // harmless
        #expect(throws: PcapError.self) { try writer.write([1], timestampNanoseconds: 0) }

        let reader = try PcapReader(path: path)
        #expect(reader.linkType == 1)
        #expect(try reader.readAll() == expected)
    }

    @Test func snapshotLengthCutsRecordsButKeepsOriginalLength() throws {
        let path = temporaryPath("snap.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try PcapWriter(path: path, snapshotLength: 64)
        let frame = FrameBuilder().ethernet(source: macA, destination: macB).ipv4(source: ipA, destination: ipB)
            .udp(sourcePort: 1, destinationPort: 2).payload(count: 200).build()
        try writer.write(frame, timestampNanoseconds: 5)
        try writer.flush()
        // Zero-copy read: the closure sees libpcap's buffer.
        let reader = try PcapReader(path: path)
        let seen = try reader.nextPacket { bytes, ns, original in (Array(bytes), ns, original) }
        #expect(seen?.0 == Array(frame[0..<64]))
        #expect(seen?.1 == 5)
        #expect(seen?.2 == frame.count)
        #expect(try reader.nextPacket { _, _, _ in 0 } == nil)
    }

    @Test func failuresThrowPcapErrorWithPathAndLibpcapText() {
        let missing = "/nonexistent-dir/missing.pcap"
        do {
            _ = try PcapReader(path: missing)
            Issue.record("opened a missing file")
        } catch {
            #expect(error.path == missing)
            #expect(error.operation == "pcap_open_offline_with_tstamp_precision")
            #expect(error.message.contains("No such file"))
        }
        do {
            _ = try PcapWriter(path: "/nonexistent-dir/out.pcap")
            Issue.record("created a file in a missing directory")
        } catch {
            #expect(error.operation == "pcap_dump_open")
            #expect(!error.message.isEmpty)
            #expect(error.description.contains("/nonexistent-dir/out.pcap"))
        }
        // Not a capture file at all.
        do {
            _ = try PcapReader(path: Fixtures.url("frames", "txt").path)
            Issue.record("opened a text file as a capture")
        } catch {
            #expect(!error.message.isEmpty)
        }
    }
}
