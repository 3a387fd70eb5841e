/// A view of an ICMPv6 header (RFC 4443 §2.1).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Identifier (echo)            |  Sequence Number (echo)       |   echo request / reply
/// |                          MTU                                  |   packet too big
/// |                 Reserved / Pointer / Flags                    |   others
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The checksum covers an IPv6 pseudo-header (RFC 8200 §8.1) and the whole message.
@frozen
public struct ICMPv6Header {
    /// The first byte of the message (type).
    public let base: UnsafeMutableRawPointer

    /// Views the message at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 8 bytes: every defined ICMPv6 message has the 4-byte header plus at least one word.
    public static let minimumLength = 8

    /// True when `length` bytes hold the header.
    @inlinable
    public static func validate(length: Int) -> Bool { length >= 8 }

    /// Type.
    @inlinable
    public var type: ICMPv6Type {
        get { ICMPv6Type(rawValue: base.loadBE8(at: 0)) }
        nonmutating set { base.storeBE8(newValue.rawValue, at: 0) }
    }

    /// Code.
    @inlinable
    public var code: UInt8 {
        get { base.loadBE8(at: 1) }
        nonmutating set { base.storeBE8(newValue, at: 1) }
    }

    /// Checksum as stored.
    @inlinable
    public var checksum: UInt16 {
        get { base.loadBE16(at: 2) }
        nonmutating set { base.storeBE16(newValue, at: 2) }
    }

    /// The type-specific second word (bytes 4–7) as is.
    @inlinable
    public var restOfHeader: UInt32 {
        get { base.loadBE32(at: 4) }
        nonmutating set { base.storeBE32(newValue, at: 4) }
    }

    /// Echo identifier (bytes 4–5).
    @inlinable
    public var identifier: UInt16 {
        get { base.loadBE16(at: 4) }
        nonmutating set { base.storeBE16(newValue, at: 4) }
    }

    /// Echo sequence number (bytes 6–7).
    @inlinable
    public var sequenceNumber: UInt16 {
        get { base.loadBE16(at: 6) }
        nonmutating set { base.storeBE16(newValue, at: 6) }
    }

    /// MTU of a Packet Too Big message (bytes 4–7, RFC 4443 §3.2).
    @inlinable
    public var mtu: UInt32 {
        get { base.loadBE32(at: 4) }
        nonmutating set { base.storeBE32(newValue, at: 4) }
    }

    /// The first byte after the 8-byte header.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + 8 }
}
