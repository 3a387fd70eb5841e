/// The TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR, RFC 3540 for NS/AE), as
/// they sit in the low 9 bits of the offset/flags word (bits 9–11 are reserved).
@frozen
public struct TCPFlags: OptionSet, Hashable, Sendable {
    /// The control bits in the low 9 bits of the offset/flags word, host order.
    public var rawValue: UInt16
    /// Wraps a set of control bits (the data offset and reserved bits should be masked off first).
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// No more data from sender.
    public static let fin = TCPFlags(rawValue: 1 << 0)
    /// Synchronize sequence numbers.
    public static let syn = TCPFlags(rawValue: 1 << 1)
    /// Reset the connection.
    public static let rst = TCPFlags(rawValue: 1 << 2)
    /// Push function.
    public static let psh = TCPFlags(rawValue: 1 << 3)
    /// Acknowledgment field significant.
    public static let ack = TCPFlags(rawValue: 1 << 4)
    /// Urgent pointer field significant.
    public static let urg = TCPFlags(rawValue: 1 << 5)
    /// ECN-Echo (RFC 3168).
    public static let ece = TCPFlags(rawValue: 1 << 6)
    /// Congestion Window Reduced (RFC 3168).
    public static let cwr = TCPFlags(rawValue: 1 << 7)
    /// ECN nonce sum (RFC 3540, historic) / AE (RFC 9768 accurate ECN).
    public static let ns = TCPFlags(rawValue: 1 << 8)
}

/// A view of a TCP header (RFC 9293 §3.1).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Source Port          |       Destination Port        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Sequence Number                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Acknowledgment Number                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Data |     |N|C|E|U|A|P|R|S|F|                               |
/// | Offset| Rsv |S|W|C|R|C|S|S|Y|I|            Window             |
/// |       |     | |R|E|G|K|H|T|N|N|                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Checksum            |         Urgent Pointer        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Options (Data Offset > 5)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
@frozen
public struct TCPHeader {
    /// The first byte of the header (source port).
    public let base: UnsafeMutableRawPointer

    /// Views the header at `base`. The caller guarantees `minimumLength` bytes.
    @inlinable
    public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    /// 20 bytes: a header without options.
    public static let minimumLength = 20

    /// True when `length` bytes at `base` hold the whole header: at least 20 bytes and a
    /// data offset of 5 or more whose header fits in `length`.
    @inlinable
    public static func validate(_ base: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard length >= 20 else { return false }
        let headerLength = Int(base.loadBE8(at: 12) >> 4) &* 4
        return headerLength >= 20 && headerLength <= length
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

    /// Sequence Number.
    @inlinable
    public var sequenceNumber: UInt32 {
        get { base.loadBE32(at: 4) }
        nonmutating set { base.storeBE32(newValue, at: 4) }
    }

    /// Acknowledgment Number.
    @inlinable
    public var acknowledgmentNumber: UInt32 {
        get { base.loadBE32(at: 8) }
        nonmutating set { base.storeBE32(newValue, at: 8) }
    }

    /// Data Offset: header length in 32-bit words (5–15). The setter masks to 4 bits.
    @inlinable
    public var dataOffset: UInt8 {
        get { base.loadBE8(at: 12) >> 4 }
        nonmutating set { base.storeBE8(newValue << 4 | base.loadBE8(at: 12) & 0x0F, at: 12) }
    }

    /// Header length in bytes (data offset × 4).
    @inlinable
    public var headerLength: Int { Int(dataOffset) &* 4 }

    /// The control bits (low 9 bits of bytes 12–13). The setter leaves data offset and
    /// reserved bits alone.
    @inlinable
    public var flags: TCPFlags {
        get { TCPFlags(rawValue: base.loadBE16(at: 12) & 0x01FF) }
        nonmutating set { base.storeBE16(base.loadBE16(at: 12) & 0xFE00 | newValue.rawValue & 0x01FF, at: 12) }
    }

    /// Window.
    @inlinable
    public var window: UInt16 {
        get { base.loadBE16(at: 14) }
        nonmutating set { base.storeBE16(newValue, at: 14) }
    }

    /// Checksum as stored.
    @inlinable
    public var checksum: UInt16 {
        get { base.loadBE16(at: 16) }
        nonmutating set { base.storeBE16(newValue, at: 16) }
    }

    /// Urgent Pointer.
    @inlinable
    public var urgentPointer: UInt16 {
        get { base.loadBE16(at: 18) }
        nonmutating set { base.storeBE16(newValue, at: 18) }
    }

    /// The options, `headerLength - 20` bytes (empty when the data offset is 5). The caller
    /// has validated `headerLength` bytes.
    @inlinable
    public var options: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + 20, count: max(0, headerLength &- 20))
    }

    /// The first byte after the header, options included.
    @inlinable
    public var payload: UnsafeMutableRawPointer { base + headerLength }
}
