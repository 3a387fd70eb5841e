/// IPv4 addresses and prefixes as the IPAM counts them: 32-bit integers.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Parses dotted-quad text (`10.0.0.1`); nil for anything else (leading zeros refused).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let octet = UInt32(part), octet <= 255,
                  !(part.count > 1 && part.first == "0") else { return nil }
            value = value << 8 | octet
        }
        self.value = value
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// An IPv4 prefix (`10.0.0.0/24`).
public struct IPv4Prefix: Sendable, Hashable, CustomStringConvertible {
    public let address: IPv4Address
    public let length: Int

    /// Parses `A.B.C.D/N`; a bare address is a /32. Host bits may be set (see ``isNormalized``).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPv4Address(String(parts[0])) else { return nil }
        var length = 32
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...32).contains(n), parts[1].allSatisfy(\.isNumber) else { return nil }
            length = n
        }
        self.address = address
        self.length = length
    }

    public init(network: IPv4Address, length: Int) {
        self.address = network
        self.length = length
    }

    public var mask: UInt32 { length == 0 ? 0 : UInt32.max << UInt32(32 - length) }
    public var network: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcast: IPv4Address { IPv4Address(network.value | ~mask) }
    /// True when no host bit is set.
    public var isNormalized: Bool { address.value & ~mask == 0 }
    public var normalized: IPv4Prefix { IPv4Prefix(network: network, length: length) }
    public var description: String { "\(address)/\(length)" }

    public func contains(_ ip: IPv4Address) -> Bool { ip.value & mask == network.value }
    public func overlaps(_ other: IPv4Prefix) -> Bool {
        let shorter = min(length, other.length)
        let m: UInt32 = shorter == 0 ? 0 : UInt32.max << UInt32(32 - shorter)
        return address.value & m == other.address.value & m
    }
    /// The first and last address a host may use (the whole prefix for /31 and /32).
    public var hostRange: ClosedRange<UInt32> {
        length >= 31 ? network.value...broadcast.value : (network.value + 1)...(broadcast.value - 1)
    }
}
