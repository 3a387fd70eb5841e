/// A view of a GRE header (RFC 2784, with the key and sequence number extension of RFC 2890).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Checksum (optional)      |       Reserved1 (optional)    |   present when C
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Key (optional)                        |   present when K
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Sequence Number (optional)                    |   present when S
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// RFC 2784 makes bits 1–12 "Reserved0" and requires receivers to discard a packet with
/// any of bits 1–5 set unless they implement RFC 1701; RFC 2890 gives bit 2 (K) and bit 3
/// (S) their meaning. Everything else — R (bit 1), s (bit 4), Recur (5–7), A (8, the
/// PPTP acknowledgment of RFC 2637), Flags (9–12) — is `reservedBits` here, and a version
/// other than 0 is unsupported (version 1 is PPTP's enhanced GRE). `isSupported` checks both.
///
/// The optional fields are at offsets that depend on the flags; their accessors compute
/// the offset and require the flag to be set (a precondition). The caller checks that
/// `headerLength` bytes are present before reading them (`validate(_:length:)`).
@frozen
public struct GREHeader {
    /// The first byte of the header (C bit).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 4 bytes: flags, version and protocol type.
    public static let minimumLength = 4

    /// C: checksum present.
    public static let checksumPresentBit: UInt16 = 0x8000
    /// K: key present (RFC 2890).
    public static let keyPresentBit: UInt16 = 0x2000
    /// S: sequence number present (RFC 2890).
    public static let sequencePresentBit: UInt16 = 0x1000
    /// Bits 1 and 4–12: reserved in RFC 2784/2890 (RFC 1701 routing, strict source route,
    /// recursion control; PPTP's A bit and flags).
    public static let reservedBitsMask: UInt16 = 0x4FF8
    /// Bits 13–15: version.
    public static let versionMask: UInt16 = 0x0007

    /// The header length in bytes that `flags` (the first 16-bit word) imply:
    /// 4, plus 4 for each of C, K and S.
    @inlinable
    public static func headerLength(flags: UInt16) -> Int {
        4 &+ (flags & checksumPresentBit != 0 ? 4 : 0) &+ (flags & keyPresentBit != 0 ? 4 : 0)
            &+ (flags & sequencePresentBit != 0 ? 4 : 0)
    }

    /// True when `length` bytes at `base` hold the whole header its flags announce.
    /// Does not judge the flags themselves; see `isSupported`.
    @inlinable
    public static func validate(_ base: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard length >= 4 else { return false }
        return headerLength(flags: base.loadBE16(at: 0)) <= length
    }

    /// The flags and version word (bytes 0–1) as is.
    @inlinable
    public var flagsAndVersion: UInt16 {
        get { base.loadBE16(at: 0) }
        nonmutating set { base.storeBE16(newValue, at: 0) }
    }

    @inlinable
    func setBit(_ bit: UInt16, _ on: Bool) {
        let word = flagsAndVersion
        flagsAndVersion = on ? word | bit : word & ~bit
    }

    /// C: a checksum (and Reserved1) follows the base header. Setting it only flips the
    /// bit; the caller makes room for the field.
    @inlinable
    public var checksumPresent: Bool {
        get { flagsAndVersion & GREHeader.checksumPresentBit != 0 }
        nonmutating set { setBit(GREHeader.checksumPresentBit, newValue) }
    }

    /// K: a key follows. Setting it only flips the bit.
    @inlinable
    public var keyPresent: Bool {
        get { flagsAndVersion & GREHeader.keyPresentBit != 0 }
        nonmutating set { setBit(GREHeader.keyPresentBit, newValue) }
    }

    /// S: a sequence number follows. Setting it only flips the bit.
    @inlinable
    public var sequencePresent: Bool {
        get { flagsAndVersion & GREHeader.sequencePresentBit != 0 }
        nonmutating set { setBit(GREHeader.sequencePresentBit, newValue) }
    }

    /// The reserved bits that are set (bits 1 and 4–12), 0 for a conforming header.
    @inlinable
    public var reservedBits: UInt16 {
        get { flagsAndVersion & GREHeader.reservedBitsMask }
        nonmutating set { flagsAndVersion = flagsAndVersion & ~GREHeader.reservedBitsMask | newValue & GREHeader.reservedBitsMask }
    }

    /// Version, 0–7 (0 for RFC 2784 GRE). The setter masks to 3 bits.
    @inlinable
    public var version: UInt8 {
        get { UInt8(truncatingIfNeeded: flagsAndVersion & GREHeader.versionMask) }
        nonmutating set { flagsAndVersion = flagsAndVersion & ~GREHeader.versionMask | UInt16(newValue) & GREHeader.versionMask }
    }

    /// True for a header this switch may decapsulate: version 0 and no reserved bit set.
    @inlinable
    public var isSupported: Bool { flagsAndVersion & (GREHeader.reservedBitsMask | GREHeader.versionMask) == 0 }

    /// Protocol Type: the EtherType of the payload (0x6558 for Ethernet, 0x0800 for IPv4).
    @inlinable
    public var protocolType: EtherType {
        get { EtherType(rawValue: base.loadBE16(at: 2)) }
        nonmutating set { base.storeBE16(newValue.rawValue, at: 2) }
    }

    /// Header length in bytes implied by C, K and S: 4, 8, 12 or 16.
    @inlinable
    public var headerLength: Int { GREHeader.headerLength(flags: flagsAndVersion) }

    /// Checksum (bytes 4–5). Requires `checksumPresent`.
    @inlinable
    public var checksum: UInt16 {
        get { precondition(checksumPresent, "GRE checksum read without the C bit"); return base.loadBE16(at: 4) }
        nonmutating set { precondition(checksumPresent, "GRE checksum written without the C bit"); base.storeBE16(newValue, at: 4) }
    }

    /// Reserved1 (bytes 6–7), zero on transmit. Requires `checksumPresent`.
    @inlinable
    public var reserved1: UInt16 {
        get { precondition(checksumPresent, "GRE reserved1 read without the C bit"); return base.loadBE16(at: 6) }
        nonmutating set { precondition(checksumPresent, "GRE reserved1 written without the C bit"); base.storeBE16(newValue, at: 6) }
    }

    /// Offset of the key field: 4, or 8 after a checksum.
    @inlinable
    public var keyOffset: Int { checksumPresent ? 8 : 4 }

    /// Offset of the sequence number field: after the checksum and key, when present.
    @inlinable
    public var sequenceOffset: Int { keyOffset &+ (keyPresent ? 4 : 0) }

    /// Key (RFC 2890 §2.1), which Neutron uses as the tunnel id. Requires `keyPresent`.
    @inlinable
    public var key: UInt32 {
        get { precondition(keyPresent, "GRE key read without the K bit"); return base.loadBE32(at: keyOffset) }
        nonmutating set { precondition(keyPresent, "GRE key written without the K bit"); base.storeBE32(newValue, at: keyOffset) }
    }

    /// The key, or nil when K is clear.
    @inlinable
    public var keyIfPresent: UInt32? { keyPresent ? base.loadBE32(at: keyOffset) : nil }

    /// Sequence Number (RFC 2890 §2.2). Requires `sequencePresent`.
    @inlinable
    public var sequenceNumber: UInt32 {
        get { precondition(sequencePresent, "GRE sequence read without the S bit"); return base.loadBE32(at: sequenceOffset) }
        nonmutating set { precondition(sequencePresent, "GRE sequence written without the S bit"); base.storeBE32(newValue, at: sequenceOffset) }
    }

    /// The sequence number, or nil when S is clear.
    @inlinable
    public var sequenceNumberIfPresent: UInt32? { sequencePresent ? base.loadBE32(at: sequenceOffset) : nil }

    /// The first byte of the payload, after all optional fields.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + headerLength }

    /// Recomputes the checksum over `length` bytes (GRE header and payload, RFC 2784 §2.5)
    /// and stores it. Requires `checksumPresent`.
    @inlinable
    public func updateChecksum(length: Int) {
        checksum = Checksum.gre(base, length: length)
    }
}
