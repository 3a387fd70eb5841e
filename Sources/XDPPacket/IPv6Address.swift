/// A 128-bit IPv6 address held as two host-order `UInt64` halves: `high` is the first
/// eight bytes on the wire, `low` the last eight.
@frozen
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first 64 bits (network prefix half), host order.
    public var high: UInt64
    /// The last 64 bits (interface identifier half), host order.
    public var low: UInt64

    /// Builds the address from its two host-order halves (`high`: wire bytes 0–7, `low`: bytes 8–15).
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an address from its eight 16-bit groups, first group first.
    @inlinable
    public init(_ g0: UInt16, _ g1: UInt16, _ g2: UInt16, _ g3: UInt16,
                _ g4: UInt16, _ g5: UInt16, _ g6: UInt16, _ g7: UInt16) {
        self.high = UInt64(g0) << 48 | UInt64(g1) << 32 | UInt64(g2) << 16 | UInt64(g3)
        self.low = UInt64(g4) << 48 | UInt64(g5) << 32 | UInt64(g6) << 16 | UInt64(g7)
    }

    /// Reads the 16 bytes at `base` (network order).
    @inlinable
    public init(loadingFrom base: UnsafeMutableRawPointer, at offset: Int) {
        self.high = base.loadBE64(at: offset)
        self.low = base.loadBE64(at: offset + 8)
    }

    /// Writes the 16 bytes at `base + offset` in network order.
    @inlinable
    public func store(to base: UnsafeMutableRawPointer, at offset: Int) {
        base.storeBE64(high, at: offset)
        base.storeBE64(low, at: offset + 8)
    }

    /// `::`
    public static let any = IPv6Address(high: 0, low: 0)
    /// `::1` (RFC 4291 §2.5.3).
    public static let loopback = IPv6Address(high: 0, low: 1)

    /// True for ff00::/8 (RFC 4291 §2.7).
    @inlinable public var isMulticast: Bool { high >> 56 == 0xFF }
    /// True for fe80::/10 (RFC 4291 §2.5.6).
    @inlinable public var isLinkLocal: Bool { high >> 54 == 0xFE80 >> 6 }
    /// True for ::ffff:0:0/96, an IPv4-mapped address (RFC 4291 §2.5.5.2).
    @inlinable public var isIPv4Mapped: Bool { high == 0 && low >> 32 == 0xFFFF }

    /// The 16-bit group `index` (0–7), first group first.
    @inlinable
    public func group(_ index: Int) -> UInt16 {
        let half = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (index & 3)))
    }

    /// Orders addresses numerically: by `high`, then by `low`.
    @inlinable
    public static func < (a: IPv6Address, b: IPv6Address) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// Parses the text forms of RFC 4291 §2.2: eight hex groups, `::` for one run of
    /// zero groups, and a trailing dotted quad (`::ffff:192.0.2.1`). Accepts upper and
    /// lower case. Zone indices (`%eth0`) are refused.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8.count <= 45 else { return nil }
        var groups: [UInt16] = []
        groups.reserveCapacity(8)
        var compressAt: Int? = nil
        var i = 0
        if utf8[0] == UInt8(ascii: ":") {
            guard utf8[1] == UInt8(ascii: ":") else { return nil }
            compressAt = 0
            i = 2
        }
        while i < utf8.count {
            // Read one token: hex group, or a dotted quad at the end.
            var j = i
            while j < utf8.count && utf8[j] != UInt8(ascii: ":") { j += 1 }
            let token = utf8[i..<j]
            guard !token.isEmpty else { return nil }
            if token.contains(UInt8(ascii: ".")) {
                // Embedded IPv4: must be last and leave room for two groups.
                guard j == utf8.count,
                      let v4 = IPv4Address(String(decoding: token, as: UTF8.self)) else { return nil }
                groups.append(UInt16(truncatingIfNeeded: v4.rawValue >> 16))
                groups.append(UInt16(truncatingIfNeeded: v4.rawValue))
            } else {
                guard token.count <= 4 else { return nil }
                var value: UInt16 = 0
                for c in token {
                    guard let d = IPv6Address.hexValue(c) else { return nil }
                    value = value << 4 | UInt16(d)
                }
                groups.append(value)
            }
            guard groups.count <= 8 else { return nil }
            if j == utf8.count { break }
            // j is at a colon: either a separator or the start of "::".
            if j + 1 < utf8.count && utf8[j + 1] == UInt8(ascii: ":") {
                guard compressAt == nil else { return nil }
                compressAt = groups.count
                i = j + 2
            } else {
                guard j + 1 < utf8.count else { return nil }  // trailing single colon
                i = j + 1
            }
        }
        if let at = compressAt {
            // "::" stands for at least one zero group (RFC 4291 §2.2 item 2).
            guard groups.count <= 7 else { return nil }
            groups.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: at)
        }
        guard groups.count == 8 else { return nil }
        self.init(groups[0], groups[1], groups[2], groups[3], groups[4], groups[5], groups[6], groups[7])
    }

    @usableFromInline
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The canonical text form of RFC 5952 §4: lower-case hex, no leading zeros, the
    /// longest run of two or more zero groups (the first of equal runs) replaced by `::`,
    /// and IPv4-mapped addresses printed as `::ffff:a.b.c.d` (§5).
    public var description: String {
        if isIPv4Mapped {
            return "::ffff:" + IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)).description
        }
        // Find the longest run of zero groups, length >= 2 (§4.2.2 forbids compressing one).
        var bestStart = -1, bestLength = 0
        var runStart = -1
        for index in 0...8 {
            if index < 8 && group(index) == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                let length = index - runStart
                if length > bestLength { bestStart = runStart; bestLength = length }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        out.reserveCapacity(39)
        var index = 0
        while index < 8 {
            if index == bestStart {
                out += "::"
                index += bestLength
                continue
            }
            if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
            out += String(group(index), radix: 16)
            index += 1
        }
        return out
    }
}
