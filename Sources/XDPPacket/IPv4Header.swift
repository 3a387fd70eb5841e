/// A view of an IPv4 header (RFC 791 §3.1), options included.
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |    DSCP   |ECN|          Total Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Identification        |0|D|M|      Fragment Offset    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Source Address                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination Address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Options (IHL > 5)                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  D: Don't Fragment, M: More Fragments; the TOS byte is DSCP + ECN (RFC 2474, RFC 3168).
/// ```
///
/// The fixed accessors read the first 20 bytes; `options` and the checksum helpers read
/// `headerLength` bytes, which the caller establishes with `validate(_:length:)` first.
@frozen
public struct IPv4Header {
    /// The first byte of the header (version/IHL).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 20 bytes: a header without options.
    public static let minimumLength = 20

    /// Checks that `length` bytes at `base` hold a sane IPv4 packet: at least 20 bytes,
    /// version 4, IHL ≥ 5 and the header inside `length` (else `.badIPv4Header`), total
    /// length ≥ the header and ≤ `length` (else `.badIPv4Length`). Returns `.none` when the
    /// header and the `totalLength` bytes it claims can be read.
    @inlinable
    public static func validate(_ base: UnsafeMutableRawPointer, length: Int) -> ParseError {
        guard length >= 20 else { return .badIPv4Header }
        let versionIHL = base.loadBE8(at: 0)
        let headerLength = Int(versionIHL & 0x0F) &* 4  // at most 60
        guard versionIHL >> 4 == 4, headerLength >= 20, headerLength <= length else { return .badIPv4Header }
        let total = Int(base.loadBE16(at: 2))
        guard total >= headerLength, total <= length else { return .badIPv4Length }
        return .none
    }

    /// Version (4 for a valid header).
    @inlinable
    public var version: UInt8 {
        get { base.loadBE8(at: 0) >> 4 }
        nonmutating set { base.storeBE8(newValue << 4 | base.loadBE8(at: 0) & 0x0F, at: 0) }
    }

    /// Internet Header Length in 32-bit words (5–15). The setter masks to 4 bits.
    @inlinable
    public var ihl: UInt8 {
        get { base.loadBE8(at: 0) & 0x0F }
        nonmutating set { base.storeBE8(base.loadBE8(at: 0) & 0xF0 | newValue & 0x0F, at: 0) }
    }

    /// Header length in bytes (IHL × 4), 20–60 for a valid header.
    @inlinable
    public var headerLength: Int { Int(ihl) &* 4 }

    /// The whole Type of Service byte (DSCP and ECN), what OpenFlow calls `nw_tos` plus `nw_ecn`.
    @inlinable
    public var tos: UInt8 {
        get { base.loadBE8(at: 1) }
        nonmutating set { base.storeBE8(newValue, at: 1) }
    }

    /// Differentiated Services Code Point, 0–63 (RFC 2474).
    @inlinable
    public var dscp: UInt8 {
        get { tos >> 2 }
        nonmutating set { tos = newValue << 2 | tos & 0x03 }
    }

    /// Explicit Congestion Notification, 0–3 (RFC 3168).
    @inlinable
    public var ecn: UInt8 {
        get { tos & 0x03 }
        nonmutating set { tos = tos & 0xFC | newValue & 0x03 }
    }

    /// Total Length: header plus payload, in bytes.
    @inlinable
    public var totalLength: UInt16 {
        get { base.loadBE16(at: 2) }
        nonmutating set { base.storeBE16(newValue, at: 2) }
    }

    /// Identification (for fragment reassembly).
    @inlinable
    public var identification: UInt16 {
        get { base.loadBE16(at: 4) }
        nonmutating set { base.storeBE16(newValue, at: 4) }
    }

    /// The flags and fragment offset word (bytes 6–7) as is.
    @inlinable
    public var flagsAndFragmentOffset: UInt16 {
        get { base.loadBE16(at: 6) }
        nonmutating set { base.storeBE16(newValue, at: 6) }
    }

    /// The reserved (evil) bit, which must be zero (RFC 791; RFC 3514 is a joke).
    @inlinable
    public var reservedFlag: Bool {
        get { flagsAndFragmentOffset & 0x8000 != 0 }
        nonmutating set { setFlag(0x8000, newValue) }
    }

    /// Don't Fragment.
    @inlinable
    public var dontFragment: Bool {
        get { flagsAndFragmentOffset & 0x4000 != 0 }
        nonmutating set { setFlag(0x4000, newValue) }
    }

    /// More Fragments.
    @inlinable
    public var moreFragments: Bool {
        get { flagsAndFragmentOffset & 0x2000 != 0 }
        nonmutating set { setFlag(0x2000, newValue) }
    }

    @inlinable
    func setFlag(_ bit: UInt16, _ on: Bool) {
        let word = flagsAndFragmentOffset
        flagsAndFragmentOffset = on ? word | bit : word & ~bit
    }

    /// Fragment Offset in 8-byte units (13 bits). The setter masks to 13 bits.
    @inlinable
    public var fragmentOffset: UInt16 {
        get { flagsAndFragmentOffset & 0x1FFF }
        nonmutating set { flagsAndFragmentOffset = flagsAndFragmentOffset & 0xE000 | newValue & 0x1FFF }
    }

    /// True for any fragment: MF set or a non-zero offset.
    @inlinable
    public var isFragment: Bool { flagsAndFragmentOffset & 0x3FFF != 0 }

    /// Time to Live.
    @inlinable
    public var ttl: UInt8 {
        get { base.loadBE8(at: 8) }
        nonmutating set { base.storeBE8(newValue, at: 8) }
    }

    /// Protocol of the payload.
    @inlinable
    public var protocolNumber: IPProtocol {
        get { IPProtocol(rawValue: base.loadBE8(at: 9)) }
        nonmutating set { base.storeBE8(newValue.rawValue, at: 9) }
    }

    /// Header Checksum as stored.
    @inlinable
    public var headerChecksum: UInt16 {
        get { base.loadBE16(at: 10) }
        nonmutating set { base.storeBE16(newValue, at: 10) }
    }

    /// Source Address.
    @inlinable
    public var source: IPv4Address {
        get { IPv4Address(rawValue: base.loadBE32(at: 12)) }
        nonmutating set { base.storeBE32(newValue.rawValue, at: 12) }
    }

    /// Destination Address.
    @inlinable
    public var destination: IPv4Address {
        get { IPv4Address(rawValue: base.loadBE32(at: 16)) }
        nonmutating set { base.storeBE32(newValue.rawValue, at: 16) }
    }

    /// The options, `headerLength - 20` bytes after the fixed header (empty when IHL is 5).
    /// Reads IHL; the caller has validated that `headerLength` bytes are present.
    @inlinable
    public var options: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + 20, count: max(0, headerLength &- 20))
    }

    /// The first byte after the header (options included).
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + headerLength }

    /// Recomputes the header checksum over `headerLength` bytes and stores it.
    @inlinable
    public func updateChecksum() {
        headerChecksum = Checksum.ipv4Header(base, headerLength: headerLength)
    }

    /// True when the stored header checksum is correct for `headerLength` bytes.
    @inlinable
    public var isChecksumValid: Bool { Checksum.verifyIPv4Header(base, headerLength: headerLength) }

    /// Decrements the TTL by one and patches the header checksum incrementally
    /// (RFC 1624), the router's per-packet step. Returns false, changing nothing, when
    /// the TTL is already 0 or 1 (the packet must not be forwarded).
    @inlinable
    public func decrementTTL() -> Bool {
        let word = base.loadBE16(at: 8)  // TTL and protocol share a 16-bit checksum word
        guard word >> 8 > 1 else { return false }
        let newWord = word &- 0x0100  // TTL ≥ 2 here: the high byte cannot borrow
        base.storeBE16(newWord, at: 8)
        headerChecksum = Checksum.update(headerChecksum, old: word, new: newWord)
        return true
    }
}
