import Testing
import XDPDatapath
import XDPPacket

/// A tracker with an injected clock and builders for the frames the conntrack tests
/// send: A (10.1.0.2, fd00::2) talks to B (10.1.0.3, fd00::3); R (10.1.0.1, fd00::1)
/// is a router that sends ICMP errors.
final class ConntrackHarness {
    let ct: ConnectionTracker
    /// The clock, nanoseconds. Starts at 1 s so "0" never means "now".
    var now: UInt64 = 1_000_000_000

    static let second: UInt64 = 1_000_000_000
    static let macA = MACAddress("02:00:00:00:00:0a")!
    static let macB = MACAddress("02:00:00:00:00:0b")!
    static let a = IPv4Address(10, 1, 0, 2)
    static let b = IPv4Address(10, 1, 0, 3)
    static let r = IPv4Address(10, 1, 0, 1)
    static let a6 = IPv6Address("fd00::2")!
    static let b6 = IPv6Address("fd00::3")!
    static let r6 = IPv6Address("fd00::1")!

    init(_ configure: (inout ConntrackConfiguration) -> Void = { _ in }) {
        var c = ConntrackConfiguration()
        c.capacity = 1024
        c.hashSeed = 0x1234_5678
        configure(&c)
        ct = ConnectionTracker(configuration: c)
    }

    func advance(seconds: UInt64) { now += seconds * Self.second }

    /// Parses and tracks `frame`.
    @discardableResult
    func track(_ frame: [UInt8], zone: UInt16 = 0, commit: Bool = true, mark: UInt32 = 0,
               markMask: UInt32 = 0) -> TrackResult {
        var bytes = frame
        return bytes.withUnsafeMutableBytes { raw in
            var meta = PacketMetadata()
            PacketParser.parse(raw.baseAddress!, length: raw.count, into: &meta)
            return ct.track(frame: raw.baseAddress!, length: raw.count, meta: meta, zone: zone, commit: commit,
                            now: DatapathInstant(nanoseconds: now), markValue: mark, markMask: markMask)
        }
    }

    // MARK: Frames

    static func eth(_ fromA: Bool) -> FrameBuilder {
        FrameBuilder().ethernet(source: fromA ? macA : macB, destination: fromA ? macB : macA)
    }

    static func tcp(_ src: IPv4Address, _ dst: IPv4Address, _ sport: UInt16, _ dport: UInt16, seq: UInt32,
                    ack: UInt32 = 0, flags: TCPFlags, window: UInt16 = 8192, payload: Int = 0,
                    options: [UInt8] = []) -> [UInt8] {
        eth(src == a).ipv4(source: src, destination: dst)
            .tcp(sourcePort: sport, destinationPort: dport, sequence: seq, acknowledgment: ack, flags: flags,
                 window: window, options: options)
            .payload(count: payload).build()
    }

    static func tcp6(_ src: IPv6Address, _ dst: IPv6Address, _ sport: UInt16, _ dport: UInt16, seq: UInt32,
                     ack: UInt32 = 0, flags: TCPFlags, window: UInt16 = 8192, payload: Int = 0) -> [UInt8] {
        eth(src == a6).ipv6(source: src, destination: dst)
            .tcp(sourcePort: sport, destinationPort: dport, sequence: seq, acknowledgment: ack, flags: flags,
                 window: window)
            .payload(count: payload).build()
    }

    static func udp(_ src: IPv4Address, _ dst: IPv4Address, _ sport: UInt16, _ dport: UInt16, payload: Int = 10) -> [UInt8] {
        eth(src == a).ipv4(source: src, destination: dst).udp(sourcePort: sport, destinationPort: dport)
            .payload(count: payload).build()
    }

    static func udp6(_ src: IPv6Address, _ dst: IPv6Address, _ sport: UInt16, _ dport: UInt16, payload: Int = 10) -> [UInt8] {
        eth(src == a6).ipv6(source: src, destination: dst).udp(sourcePort: sport, destinationPort: dport)
            .payload(count: payload).build()
    }

    static func ping(_ src: IPv4Address, _ dst: IPv4Address, id: UInt16, seq: UInt16 = 1, reply: Bool = false) -> [UInt8] {
        eth(src == a).ipv4(source: src, destination: dst).icmpEcho(identifier: id, sequence: seq, reply: reply)
            .payload(count: 16).build()
    }

    static func ping6(_ src: IPv6Address, _ dst: IPv6Address, id: UInt16, seq: UInt16 = 1, reply: Bool = false) -> [UInt8] {
        eth(src == a6).ipv6(source: src, destination: dst).icmpv6Echo(identifier: id, sequence: seq, reply: reply)
            .payload(count: 16).build()
    }

    /// The first `count` bytes of `frame`'s IP packet (what an ICMP error quotes).
    static func quote(_ frame: [UInt8], count: Int = 28) -> [UInt8] { Array(frame[14..<min(frame.count, 14 + count)]) }

    /// An ICMPv4 error from `src` to `dst` quoting `quoted`.
    static func icmpError(_ src: IPv4Address, _ dst: IPv4Address, type: ICMPType, code: UInt8, rest: UInt32 = 0,
                          quoting quoted: [UInt8]) -> [UInt8] {
        eth(dst != a).ipv4(source: src, destination: dst).icmp(type: type, code: code, rest: rest).payload(quoted).build()
    }

    static func icmp6Error(_ src: IPv6Address, _ dst: IPv6Address, type: ICMPv6Type, code: UInt8, rest: UInt32 = 0,
                           quoting quoted: [UInt8]) -> [UInt8] {
        eth(dst != a6).ipv6(source: src, destination: dst).icmpv6(type: type, code: code, rest: rest).payload(quoted).build()
    }

    /// The IPv4 fragment of `l4` (a whole L4 segment) covering bytes [offset, offset+count).
    static func fragment4(_ src: IPv4Address, _ dst: IPv4Address, id: UInt16, proto: IPProtocol, l4: [UInt8],
                          offset: Int, count: Int) -> [UInt8] {
        let end = min(offset + count, l4.count)
        return eth(src == a).ipv4(source: src, destination: dst, identification: id, moreFragments: end < l4.count,
                                  fragmentOffset: UInt16(offset / 8), protocolNumber: proto)
            .payload(Array(l4[offset..<end])).build()
    }

    /// The IPv6 fragment (fragment header + bytes [offset, offset+count) of `l4`).
    static func fragment6(_ src: IPv6Address, _ dst: IPv6Address, id: UInt32, proto: UInt8, l4: [UInt8],
                          offset: Int, count: Int) -> [UInt8] {
        let end = min(offset + count, l4.count)
        let word = UInt16(offset / 8) << 3 | (end < l4.count ? 1 : 0)
        let header: [UInt8] = [proto, 0, UInt8(word >> 8), UInt8(word & 0xFF),
                               UInt8(id >> 24), UInt8((id >> 16) & 0xFF), UInt8((id >> 8) & 0xFF), UInt8(id & 0xFF)]
        return eth(src == a6).ipv6(source: src, destination: dst, nextHeader: IPProtocol(rawValue: 44))
            .payload(header + Array(l4[offset..<end])).build()
    }

    /// A UDP segment (header + payload, checksum over the pseudo-header) as bytes, for fragmenting.
    static func udpSegment(_ src: IPv4Address, _ dst: IPv4Address, _ sport: UInt16, _ dport: UInt16, payload: Int) -> [UInt8] {
        let frame = FrameBuilder().ipv4(source: src, destination: dst).udp(sourcePort: sport, destinationPort: dport)
            .payload(count: payload).build()
        return Array(frame[20...])
    }

    static func udpSegment6(_ src: IPv6Address, _ dst: IPv6Address, _ sport: UInt16, _ dport: UInt16, payload: Int) -> [UInt8] {
        let frame = FrameBuilder().ipv6(source: src, destination: dst).udp(sourcePort: sport, destinationPort: dport)
            .payload(count: payload).build()
        return Array(frame[40...])
    }
}

extension CTState {
    /// `+trk+new` style text for readable failures.
    var ctText: String {
        let names: [(CTState, String)] = [(.new, "new"), (.established, "est"), (.related, "rel"), (.reply, "rpl"),
                                           (.invalid, "inv"), (.tracked, "trk")]
        return names.filter { contains($0.0) }.map { "+" + $0.1 }.joined()
    }
}

extension CTState {
    static let trkNew: CTState = [.tracked, .new]
    static let trkEst: CTState = [.tracked, .established]
    static let trkEstRpl: CTState = [.tracked, .established, .reply]
    static let trkInv: CTState = [.tracked, .invalid]
    static let trkRel: CTState = [.tracked, .related]
    static let trkRelRpl: CTState = [.tracked, .related, .reply]
}
