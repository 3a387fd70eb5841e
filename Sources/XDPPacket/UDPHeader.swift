/// A view of a UDP header (RFC 768).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Source Port          |       Destination Port        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |            Length             |           Checksum            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// A zero checksum means "not computed" over IPv4 (RFC 768); over IPv6 it is only
/// allowed for tunnels (RFC 6935). A computed checksum of zero is sent as 0xffff.
@frozen
public struct UDPHeader {
    /// The first byte of the header (source port).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 8 bytes.
    public static let minimumLength = 8

    /// True when `length` bytes at `base` hold the header and the length field is at least 8
    /// and no more than `length`.
    @inlinable
    public static func validate(_ base: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard length >= 8 else { return false }
        let udpLength = Int(base.loadBE16(at: 4))
        return udpLength >= 8 && udpLength <= length
    }

    /// Source Port.
    @inlinable
    public var sourcePort: UInt16 {
        get { base.loadBE16(at: 0) }
        nonmutating set { base.storeBE16(newValue, at: 0) }
    }

    /// Destination Port.
    @inlinable
    public var destinationPort: UInt16 {
        get { base.loadBE16(at: 2) }
        nonmutating set { base.storeBE16(newValue, at: 2) }
    }

    /// Length of header plus data, in bytes.
    @inlinable
    public var length: UInt16 {
        get { base.loadBE16(at: 4) }
        nonmutating set { base.storeBE16(newValue, at: 4) }
    }

    /// Checksum as stored (0: none, over IPv4).
    @inlinable
    public var checksum: UInt16 {
        get { base.loadBE16(at: 6) }
        nonmutating set { base.storeBE16(newValue, at: 6) }
    }

    /// The first byte after the header.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + 8 }
}
