/// An IPv4 address held as one `UInt32` in host order (`10.0.0.1` is `0x0A00_0001`), so it
/// compares, hashes and masks as one machine word. Frames hold it big-endian; load and
/// store it with `loadBE32` / `storeBE32`.
@frozen
public struct IPv4Address: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address as a host-order integer.
    public var rawValue: UInt32

    /// Wraps a host-order address (`0x0A00_0001` is `10.0.0.1`); convert a frame's bytes with `loadBE32` first.
    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Builds `a.b.c.d` from its four octets.
    @inlinable
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text (`192.0.2.1`): exactly four decimal octets 0–255, no leading
    /// zeros (RFC 6943 §3.1.1: `010` is octal to some parsers, so it is refused), nothing else.
    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                value = value << 8 | current
                octets += 1
                current = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if digits == 1 && leadingZero { return nil }
                if digits == 0 { leadingZero = byte == UInt8(ascii: "0") }
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard octets == 3, digits > 0 else { return nil }
        self.rawValue = value << 8 | current
    }

    /// 0.0.0.0
    public static let any = IPv4Address(rawValue: 0)
    /// 255.255.255.255, the limited broadcast address (RFC 919).
    public static let broadcast = IPv4Address(rawValue: 0xFFFF_FFFF)

    /// True for 224.0.0.0/4 (RFC 5771).
    @inlinable public var isMulticast: Bool { rawValue & 0xF000_0000 == 0xE000_0000 }
    /// True for 127.0.0.0/8 (RFC 1122).
    @inlinable public var isLoopback: Bool { rawValue & 0xFF00_0000 == 0x7F00_0000 }

    /// The four octets, most significant first.
    @inlinable
    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
         UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue))
    }

    /// Orders addresses numerically, as `10.0.0.2` < `10.0.1.1`.
    @inlinable public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.rawValue < b.rawValue }

    /// Dotted-quad text.
    public var description: String {
        let o = octets
        return "\(o.0).\(o.1).\(o.2).\(o.3)"
    }
}

/// An IPv4 CIDR prefix (RFC 4632): a network address and a prefix length 0–32.
/// The host bits of `address` are always zero.
@frozen
public struct IPv4Prefix: Hashable, Sendable, CustomStringConvertible {
    /// The network address, host bits cleared.
    public let address: IPv4Address
    /// Number of leading bits that are significant, 0–32.
    public let length: Int

    /// Makes the prefix `address/length`, clearing host bits. Returns nil when `length` is
    /// outside 0–32.
    @inlinable
    public init?(_ address: IPv4Address, length: Int) {
        guard (0...32).contains(length) else { return nil }
        self.length = length
        self.address = IPv4Address(rawValue: address.rawValue & IPv4Prefix.mask(length: length))
    }

    /// Parses `a.b.c.d/len`; a bare address is taken as `/32`. Host bits are cleared.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPv4Address(parts[0]) else { return nil }
        var length = 32
        if parts.count == 2 {
            guard let value = Int(parts[1]), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            length = value
        }
        self.init(address, length: length)
    }

    /// The netmask for a prefix length 0–32 as a host-order integer (`/24` → `0xFFFF_FF00`).
    @inlinable
    public static func mask(length: Int) -> UInt32 {
        // A shift by 32 is defined as 0 for Swift's smart shift, which is what /0 wants.
        length <= 0 ? 0 : UInt32.max << UInt32(32 - min(length, 32))
    }

    /// The netmask of this prefix.
    @inlinable public var netmask: IPv4Address { IPv4Address(rawValue: IPv4Prefix.mask(length: length)) }

    /// The directed broadcast address (all host bits set).
    @inlinable public var broadcast: IPv4Address { IPv4Address(rawValue: address.rawValue | ~IPv4Prefix.mask(length: length)) }

    /// True when `candidate` lies inside this prefix.
    @inlinable
    public func contains(_ candidate: IPv4Address) -> Bool {
        candidate.rawValue & IPv4Prefix.mask(length: length) == address.rawValue
    }

    /// `a.b.c.d/len`
    public var description: String { "\(address)/\(length)" }
}
