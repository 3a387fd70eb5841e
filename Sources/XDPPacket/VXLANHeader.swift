/// A view of a VXLAN header (RFC 7348 §5), the 8 bytes after the outer UDP header.
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|R|R|R|I|R|R|R|                   Reserved                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           VXLAN Network Identifier (VNI)      |   Reserved    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The I flag says the VNI is valid; every other bit is reserved. RFC 7348 asks receivers
/// to ignore reserved bits, but Linux's `vxlan_rcv` (without the GBP/GPE extensions) and
/// Open vSwitch's native tunnel receive (`netdev_vxlan_pop_header`) drop a packet whose
/// first word is not exactly the I flag or whose last byte is not zero: `isPlain` checks
/// that.
@frozen
public struct VXLANHeader {
    /// The first byte of the header (flags).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `length` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 8 bytes.
    public static let length = 8
    /// The IANA port (RFC 7348 §5); Linux's own default (8472) predates it.
    public static let defaultPort: UInt16 = 4789
    /// The first 32-bit word with only the I flag set.
    public static let validVNIFlag: UInt32 = 0x0800_0000
    /// The largest VNI (24 bits).
    public static let maximumVNI: UInt32 = 0xFF_FFFF

    /// The flags and the first reserved field (the first 32-bit word).
    @inlinable
    public var flagsWord: UInt32 {
        get { base.loadBE32(at: 0) }
        nonmutating set { base.storeBE32(newValue, at: 0) }
    }

    /// True when the I flag is set.
    @inlinable
    public var hasVNI: Bool { flagsWord & Self.validVNIFlag != 0 }

    /// The VXLAN Network Identifier (24 bits).
    @inlinable
    public var vni: UInt32 {
        get { base.loadBE32(at: 4) >> 8 }
        nonmutating set { base.storeBE32((newValue & Self.maximumVNI) << 8 | UInt32(reserved), at: 4) }
    }

    /// The reserved byte after the VNI.
    @inlinable
    public var reserved: UInt8 {
        get { base.loadBE8(at: 7) }
        nonmutating set { base.storeBE8(newValue, at: 7) }
    }

    /// True when the header is what RFC 7348 senders write: only the I flag, reserved
    /// fields zero.
    @inlinable
    public var isPlain: Bool { flagsWord == Self.validVNIFlag && reserved == 0 }
}
