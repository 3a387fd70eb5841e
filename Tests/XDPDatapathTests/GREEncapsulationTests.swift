import Testing
@testable import XDPDatapath
import XDPPacket

/// Our GRE framing against scapy's, byte for byte (Scripts/gre_fixtures.py printed these).
@Suite struct GREEncapsulationTests {
    static let inner = "fa163e00000bfa163e00000a08004500002300010000401166b30a01000a0a01000b03e807d0000f22d27061796c6f6164"
    static let keyed = "02000000020202000000010108004500004d00004000402fe25eac100001ac1000022000655800000002" + inner
    static let unkeyed = "02000000020202000000010108004500004900004000402fe262ac100001ac10000200006558" + inner

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
        return out
    }

    let endpoint = GREEncapsulation.Endpoint(localMAC: MACAddress("02:00:00:00:01:01")!, nextHopMAC: MACAddress("02:00:00:00:02:02")!,
                                            localIP: IPv4Address(172, 16, 0, 1), remoteIP: IPv4Address(172, 16, 0, 2))

    func encapsulate(key: UInt32?) -> [UInt8] {
        let inner = Self.bytes(Self.inner)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
        defer { buffer.deallocate() }
        let innerStart = buffer + 100
        inner.withUnsafeBytes { innerStart.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let start = GREEncapsulation.encapsulate(inner: innerStart, innerLength: inner.count, key: key, endpoint: endpoint)
        let total = innerStart - start + inner.count
        #expect(total == inner.count + (key == nil ? GREEncapsulation.overheadWithoutKey : GREEncapsulation.overheadWithKey))
        return Array(UnsafeRawBufferPointer(start: start, count: total))
    }

    @Test func keyedFrameMatchesScapy() {
        #expect(encapsulate(key: 2) == Self.bytes(Self.keyed))
    }

    @Test func unkeyedFrameMatchesScapy() {
        #expect(encapsulate(key: nil) == Self.bytes(Self.unkeyed))
    }

    func decapsulate(_ frame: [UInt8]) -> Result<GREEncapsulation.Decapsulated, GREEncapsulation.RefusalError>? {
        var frame = frame
        return frame.withUnsafeMutableBytes { raw -> Result<GREEncapsulation.Decapsulated, GREEncapsulation.RefusalError>? in
            var meta = PacketMetadata()
            guard PacketParser.parse(raw.baseAddress!, length: raw.count, into: &meta), meta.flags.contains(.gre) else { return nil }
            return GREEncapsulation.decapsulate(raw.baseAddress!, length: raw.count, meta: meta)
        }
    }

    @Test func decapsulationFindsKeyAndInnerFrame() throws {
        let result = try #require(decapsulate(Self.bytes(Self.keyed)))
        let d = try result.get()
        #expect(d.key == 2 && d.innerOffset == 42 && d.remoteIP == IPv4Address(172, 16, 0, 1))
        let plain = try #require(decapsulate(Self.bytes(Self.unkeyed))).get()
        #expect(plain.key == nil && plain.innerOffset == 38)
    }

    @Test func unknownFlagsVersionsAndProtocolsAreRefused() throws {
        var routing = Self.bytes(Self.keyed)
        routing[34] |= 0x40  // R bit (reserved in RFC 2784)
        #expect(decapsulate(routing).map { (try? $0.get()) == nil } == true)
        if case .failure(let e)? = decapsulate(routing) { #expect(e.refusal == .unsupportedFlags) }
        var version = Self.bytes(Self.keyed)
        version[35] |= 0x01
        if case .failure(let e)? = decapsulate(version) { #expect(e.refusal == .unsupportedFlags) } else { Issue.record("version 1 accepted") }
        var proto = Self.bytes(Self.keyed)
        proto[36] = 0x08; proto[37] = 0x00
        if case .failure(let e)? = decapsulate(proto) { #expect(e.refusal == .unsupportedProtocol) } else { Issue.record("0x0800 accepted") }
        // Key flag set but the packet ends inside the key.
        var cut = Array(Self.bytes(Self.keyed)[0..<40])
        cut[16] = 0; cut[17] = 26  // IP total length = 20 + 6
        if case .failure(let e)? = decapsulate(cut) { #expect(e.refusal == .malformed) } else { Issue.record("cut key accepted") }
    }

    /// The layout every fast recognition of GRE takes (the receive path, the fast path's
    /// recorder and decapsulation candidates): plain outer headers as a GRE port writes
    /// them give 38 or 42; any other flag, version, protocol, IPv4 header length,
    /// EtherType, or a frame shorter than 52 bytes gives 0 (the general path's business).
    @Test func onlyThePlainLayoutIsRecognisedFromTheBytes() {
        func outer(_ frame: [UInt8]) -> Int {
            var frame = frame
            return frame.withUnsafeMutableBytes { GREEncapsulation.plainOuterLength($0.baseAddress!, length: UInt32($0.count)) }
        }
        let keyed = Self.bytes(Self.keyed), unkeyed = Self.bytes(Self.unkeyed)
        #expect(outer(keyed) == GREEncapsulation.overheadWithKey && outer(unkeyed) == GREEncapsulation.overheadWithoutKey)
        for (offset, value) in [(34, 0xA0), (34, 0x30), (35, 0x01), (36, 0x08), (37, 0x00), (14, 0x46), (12, 0x81), (23, 17)] {
            var changed = keyed
            changed[offset] = UInt8(value)
            #expect(outer(changed) == 0, "byte \(offset) = \(value) recognised")
        }
        #expect(outer(Array(keyed[0..<51])) == 0 && outer(Array(unkeyed[0..<52])) == 38)
    }
}
