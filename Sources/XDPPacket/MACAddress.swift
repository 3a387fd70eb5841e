/// A 48-bit IEEE 802 MAC address, held in the low 48 bits of a `UInt64` so that it
/// compares, hashes and masks as one machine word.
@frozen
public struct MACAddress: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address in the low 48 bits, first wire byte most significant; the top 16 bits are always zero.
    public var rawValue: UInt64

    /// Keeps the low 48 bits of `rawValue` and drops the rest.
    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    /// Parses `aa:bb:cc:dd:ee:ff` (also accepts `-` as a separator). Returns nil otherwise.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for part in parts {
            guard (1...2).contains(part.count), let byte = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(byte)
        }
        self.rawValue = value
    }

    /// ff:ff:ff:ff:ff:ff
    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)
    /// 00:00:00:00:00:00, the all-zero address (no station's).
    public static let zero = MACAddress(rawValue: 0)

    /// The I/G bit: set for multicast and broadcast.
    @inlinable public var isMulticast: Bool { rawValue & 0x0100_0000_0000 != 0 }
    /// True only for ff:ff:ff:ff:ff:ff.
    @inlinable public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }

    /// Orders addresses as 48-bit numbers (wire byte order).
    @inlinable public static func < (a: MACAddress, b: MACAddress) -> Bool { a.rawValue < b.rawValue }

    /// Lower-case hex, colon separated: `aa:bb:cc:dd:ee:ff`.
    public var description: String {
        var out = ""
        out.reserveCapacity(17)
        for shift in stride(from: 40, through: 0, by: -8) {
            let byte = UInt8(truncatingIfNeeded: rawValue >> UInt64(shift))
            if shift != 40 { out.append(":") }
            if byte < 16 { out.append("0") }
            out.append(String(byte, radix: 16))
        }
        return out
    }
}
