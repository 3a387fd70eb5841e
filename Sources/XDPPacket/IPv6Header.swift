/// A view of the fixed IPv6 header (RFC 8200 §3).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Traffic Class |           Flow Label                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                         Source Address                        |
/// +                          (128 bits)                           +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                      Destination Address                      |
/// +                          (128 bits)                           +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Extension headers are walked by `walkExtensionHeaders(length:)`
/// (IPv6Header+ExtensionHeaders.swift).
@frozen
public struct IPv6Header {
    /// The first byte of the header (version/traffic class).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 40 bytes: the fixed header.
    public static let minimumLength = 40

    /// True when `length` bytes at `base` hold a fixed header with version 6 whose payload
    /// length stays inside `length`.
    @inlinable
    public static func validate(_ base: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard length >= 40, base.loadBE8(at: 0) >> 4 == 6 else { return false }
        return 40 + Int(base.loadBE16(at: 4)) <= length
    }

    /// The first 32-bit word: version, traffic class and flow label.
    @inlinable
    public var versionClassFlow: UInt32 {
        get { base.loadBE32(at: 0) }
        nonmutating set { base.storeBE32(newValue, at: 0) }
    }

    /// Version (6 for a valid header).
    @inlinable
    public var version: UInt8 {
        get { UInt8(truncatingIfNeeded: versionClassFlow >> 28) }
        nonmutating set { versionClassFlow = versionClassFlow & 0x0FFF_FFFF | UInt32(newValue & 0xF) << 28 }
    }

    /// Traffic Class (DSCP and ECN, RFC 2474 / RFC 3168).
    @inlinable
    public var trafficClass: UInt8 {
        get { UInt8(truncatingIfNeeded: versionClassFlow >> 20) }
        nonmutating set { versionClassFlow = versionClassFlow & 0xF00F_FFFF | UInt32(newValue) << 20 }
    }

    /// Flow Label, 20 bits (RFC 6437). The setter masks to 20 bits.
    @inlinable
    public var flowLabel: UInt32 {
        get { versionClassFlow & 0x000F_FFFF }
        nonmutating set { versionClassFlow = versionClassFlow & 0xFFF0_0000 | newValue & 0x000F_FFFF }
    }

    /// Payload Length: bytes after the fixed header, extension headers included.
    @inlinable
    public var payloadLength: UInt16 {
        get { base.loadBE16(at: 4) }
        nonmutating set { base.storeBE16(newValue, at: 4) }
    }

    /// Next Header: the first extension header or the upper-layer protocol.
    @inlinable
    public var nextHeader: IPProtocol {
        get { IPProtocol(rawValue: base.loadBE8(at: 6)) }
        nonmutating set { base.storeBE8(newValue.rawValue, at: 6) }
    }

    /// Hop Limit.
    @inlinable
    public var hopLimit: UInt8 {
        get { base.loadBE8(at: 7) }
        nonmutating set { base.storeBE8(newValue, at: 7) }
    }

    /// Source Address.
    @inlinable
    public var source: IPv6Address {
        get { IPv6Address(loadingFrom: base, at: 8) }
        nonmutating set { newValue.store(to: base, at: 8) }
    }

    /// Destination Address.
    @inlinable
    public var destination: IPv6Address {
        get { IPv6Address(loadingFrom: base, at: 24) }
        nonmutating set { newValue.store(to: base, at: 24) }
    }

    /// The first byte after the fixed header.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + 40 }
}

/// A view of the IPv6 Fragment extension header (RFC 8200 §4.5).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Identification                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
@frozen
public struct IPv6FragmentHeader {
    /// The first byte of the extension header.
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 8 bytes, always.
    public static let minimumLength = 8

    /// Next Header of the fragmentable part.
    @inlinable
    public var nextHeader: IPProtocol {
        get { IPProtocol(rawValue: base.loadBE8(at: 0)) }
        nonmutating set { base.storeBE8(newValue.rawValue, at: 0) }
    }

    /// Fragment Offset in 8-byte units (13 bits). The setter masks to 13 bits.
    @inlinable
    public var fragmentOffset: UInt16 {
        get { base.loadBE16(at: 2) >> 3 }
        nonmutating set { base.storeBE16(base.loadBE16(at: 2) & 0x0007 | newValue << 3, at: 2) }
    }

    /// M flag: more fragments follow.
    @inlinable
    public var moreFragments: Bool {
        get { base.loadBE16(at: 2) & 1 != 0 }
        nonmutating set { base.storeBE16(base.loadBE16(at: 2) & 0xFFFE | (newValue ? 1 : 0), at: 2) }
    }

    /// Identification.
    @inlinable
    public var identification: UInt32 {
        get { base.loadBE32(at: 4) }
        nonmutating set { base.storeBE32(newValue, at: 4) }
    }
}
