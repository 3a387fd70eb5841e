/// A view of an Ethernet II header in frame memory. It owns nothing: it is a pointer
/// with names for the fields, valid only as long as the frame is.
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Destination MAC address                   |
/// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                               |                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |                       Source MAC address                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     EtherType (or TPID)       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// A tagged frame (IEEE 802.1Q) has a TPID (0x8100 or 0x88a8) in the EtherType field,
/// followed by a `VLANTag` that carries the TCI and the next EtherType.
///
/// Every accessor reads or writes within `minimumLength` bytes of `base`; the caller
/// checks that many bytes are present before making the view.
@frozen
public struct EthernetHeader {
    /// Where the header starts (the first byte of the destination address).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 14 bytes: two addresses and the type field.
    public static let minimumLength = 14

    /// True when `length` bytes hold a whole Ethernet header.
    @inlinable
    public static func validate(length: Int) -> Bool { length >= 14 }

    /// The destination address (bytes 0–5).
    @inlinable
    public var destination: MACAddress {
        get { MACAddress(rawValue: base.loadBE48(at: 0)) }
        nonmutating set { base.storeBE48(newValue.rawValue, at: 0) }
    }

    /// The source address (bytes 6–11).
    @inlinable
    public var source: MACAddress {
        get { MACAddress(rawValue: base.loadBE48(at: 6)) }
        nonmutating set { base.storeBE48(newValue.rawValue, at: 6) }
    }

    /// The EtherType (bytes 12–13); a VLAN TPID on tagged frames.
    @inlinable
    public var etherType: EtherType {
        get { EtherType(rawValue: base.loadBE16(at: 12)) }
        nonmutating set { base.storeBE16(newValue.rawValue, at: 12) }
    }

    /// The first byte after the header (a VLAN tag or the L3 header).
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + 14 }
}
