/// A view of the four bytes that follow a VLAN TPID (IEEE 802.1Q-2018 §9.6): the Tag
/// Control Information and the EtherType of what the tag encloses. This is the layout of
/// Linux's `struct vlan_hdr`; the TPID itself (0x8100 for a C-tag, 0x88a8 for an 802.1ad
/// S-tag) is the EtherType field before it, so tags chain like headers:
/// `Ethernet(type 0x88a8) → VLANTag(type 0x8100) → VLANTag(type 0x0800) → IPv4`.
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | PCP |D|         VID           |  Encapsulated EtherType       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  PCP: priority code point (3 bits), D: drop eligible indicator, VID: VLAN id (12 bits)
/// ```
@frozen
public struct VLANTag {
    /// The first byte of the TCI (just after the TPID).
    public let base: UnsafeMutableRawPointer

    /// Views the tag at `base` (the byte after the TPID). The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 4 bytes: TCI and encapsulated EtherType.
    public static let minimumLength = 4

    /// The number of bytes a tag adds to a frame: TPID plus TCI.
    public static let taggedLengthIncrease = 4

    /// True when `length` bytes hold a whole tag.
    @inlinable
    public static func validate(length: Int) -> Bool { length >= 4 }

    /// Packs PCP (0–7), DEI and VID (0–4095) into a TCI. Out-of-range bits are masked off.
    @inlinable
    public static func tci(pcp: UInt8 = 0, dei: Bool = false, vid: UInt16) -> UInt16 {
        UInt16(pcp & 0x7) << 13 | (dei ? 0x1000 : 0) | (vid & 0x0FFF)
    }

    /// The whole Tag Control Information word.
    @inlinable
    public var tci: UInt16 {
        get { base.loadBE16(at: 0) }
        nonmutating set { base.storeBE16(newValue, at: 0) }
    }

    /// Priority Code Point, 0–7 (IEEE 802.1Q §6.9.3). The setter masks to 3 bits.
    @inlinable
    public var pcp: UInt8 {
        get { UInt8(truncatingIfNeeded: tci >> 13) }
        nonmutating set { tci = tci & 0x1FFF | UInt16(newValue & 0x7) << 13 }
    }

    /// Drop Eligible Indicator (formerly CFI).
    @inlinable
    public var dei: Bool {
        get { tci & 0x1000 != 0 }
        nonmutating set { tci = newValue ? tci | 0x1000 : tci & ~0x1000 }
    }

    /// VLAN identifier, 0–4095 (0: priority tag only, 4095: reserved). The setter masks to 12 bits.
    @inlinable
    public var vid: UInt16 {
        get { tci & 0x0FFF }
        nonmutating set { tci = tci & 0xF000 | newValue & 0x0FFF }
    }

    /// The EtherType of the enclosed payload (another TPID for stacked tags).
    @inlinable
    public var encapsulatedType: EtherType {
        get { EtherType(rawValue: base.loadBE16(at: 2)) }
        nonmutating set { base.storeBE16(newValue.rawValue, at: 2) }
    }

    /// The first byte after the tag.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + 4 }
}
