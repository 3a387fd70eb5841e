/// A view of an ICMPv4 header (RFC 792).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Identifier (echo)            |  Sequence Number (echo)       |   echo / echo reply
/// |  unused                       |  Next-Hop MTU (RFC 1191)      |   fragmentation needed
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Data (echo payload, or the offending IP header + 8 bytes) |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The checksum covers the whole ICMP message (no pseudo-header).
@frozen
public struct ICMPHeader {
    /// The first byte of the message (type).
    public let base: UnsafeMutableRawPointer

    /// Views the message at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 8 bytes: type, code, checksum and the type-specific word every ICMPv4 message has.
    public static let minimumLength = 8

    /// True when `length` bytes hold the header.
    @inlinable
    public static func validate(length: Int) -> Bool { length >= 8 }

    /// Type.
    @inlinable
    public var type: ICMPType {
        get { ICMPType(rawValue: base.loadBE8(at: 0)) }
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

    /// Next-hop MTU of a fragmentation-needed message (bytes 6–7, RFC 1191 §4).
    @inlinable
    public var nextHopMTU: UInt16 {
        get { base.loadBE16(at: 6) }
        nonmutating set { base.storeBE16(newValue, at: 6) }
    }

    /// The first byte after the 8-byte header.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + 8 }

    /// Recomputes the checksum over `length` bytes of message (header included) and stores it.
    @inlinable
    public func updateChecksum(length: Int) {
        checksum = Checksum.icmpv4(base, length: length)
    }
}
