/// The Internet checksum (RFC 1071) and everything built on it: IPv4 header, TCP/UDP/ICMPv6
/// with their IPv4 and IPv6 pseudo-headers, ICMPv4, GRE, and RFC 1624 incremental updates.
///
/// Vocabulary used throughout:
/// - a **sum** is the 16-bit ones'-complement sum of the data taken as big-endian 16-bit
///   words, folded but not complemented (`sum(_:count:)`); sums of pieces combine with
///   `add(_:_:)` as long as every piece but the last has an even length;
/// - a **checksum** is the complement of a sum, what goes on the wire.
///
/// All values are host-order integers (the number the big-endian field holds); store
/// them with `storeBE16`.
///
/// How the sum is fast: RFC 1071 §2(B) lets the sum be computed in either byte order and
/// swapped at the end, and §2(C) lets it be accumulated in a wider register with the
/// carries folded in afterwards. So `sum` adds native-order 64-bit words with an
/// end-around carry, folds 64 → 16 bits once, and swaps to network order once.
///
/// Everything is `@inlinable`, allocation-free and callable from any thread.
public enum Checksum {
    // MARK: Core

    /// The ones'-complement sum of `count` bytes at `bytes`, as a network-order 16-bit
    /// value, folded but not complemented. `initial` is a sum to continue from (the bytes
    /// must then start at an even offset of the summed message). An odd trailing byte is
    /// padded with zero, as RFC 1071 says.
    @inlinable
    public static func sum(_ bytes: UnsafeRawPointer, count: Int, initial: UInt16 = 0) -> UInt16 {
        // Accumulate in native byte order (RFC 1071 §2(B)); convert once at the end.
        var acc = UInt64(initial.bigEndian)
        var p = bytes
        var n = count
        // Each add carries out of bit 63 back into bit 0: 2^64 ≡ 1 (mod 2^16 − 1).
        // When an add overflows, the truncated result is at most 2^64 − 2, so adding the
        // carry back cannot overflow again.
        while n >= 32 {
            var (s, o) = acc.addingReportingOverflow(p.loadUnaligned(as: UInt64.self))
            acc = s &+ (o ? 1 : 0)
            (s, o) = acc.addingReportingOverflow(p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            acc = s &+ (o ? 1 : 0)
            (s, o) = acc.addingReportingOverflow(p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            acc = s &+ (o ? 1 : 0)
            (s, o) = acc.addingReportingOverflow(p.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            acc = s &+ (o ? 1 : 0)
            p += 32
            n &-= 32  // n ≥ 32 here
        }
        while n >= 8 {
            let (s, o) = acc.addingReportingOverflow(p.loadUnaligned(as: UInt64.self))
            acc = s &+ (o ? 1 : 0)
            p += 8
            n &-= 8  // n ≥ 8 here
        }
        // The tail: at most 7 bytes, at most 2^32 + 2^16 + 2^8 added; fold the
        // accumulator first so these adds cannot overflow.
        acc = (acc >> 32) &+ (acc & 0xFFFF_FFFF)  // < 2^33
        if n >= 4 {
            acc &+= UInt64(p.loadUnaligned(as: UInt32.self))
            p += 4
            n &-= 4
        }
        if n >= 2 {
            acc &+= UInt64(p.loadUnaligned(as: UInt16.self))
            p += 2
            n &-= 2
        }
        if n == 1 {
            // The odd byte is the high half of a zero-padded network-order word.
            acc &+= UInt64((UInt16(p.load(as: UInt8.self)) << 8).bigEndian)
        }
        return UInt16(bigEndian: fold(acc))
    }

    /// Folds a wide ones'-complement accumulator to 16 bits with end-around carries.
    @inlinable @inline(__always)
    public static func fold(_ value: UInt64) -> UInt16 {
        var s = (value >> 32) &+ (value & 0xFFFF_FFFF)  // < 2^33: cannot overflow
        s = (s >> 16) &+ (s & 0xFFFF)  // < 2^17 + 2^16
        s = (s >> 16) &+ (s & 0xFFFF)  // ≤ 0x10001
        s = (s >> 16) &+ (s & 0xFFFF)  // ≤ 0xFFFF
        return UInt16(truncatingIfNeeded: s)
    }

    /// Ones'-complement addition of two sums.
    @inlinable @inline(__always)
    public static func add(_ a: UInt16, _ b: UInt16) -> UInt16 {
        let s = UInt32(a) &+ UInt32(b)  // ≤ 0x1FFFE: cannot overflow 32 bits
        return UInt16(truncatingIfNeeded: (s & 0xFFFF) &+ (s >> 16))  // ≤ 0xFFFF
    }

    /// The Internet checksum of `count` bytes: the complement of their sum.
    @inlinable
    public static func internetChecksum(_ bytes: UnsafeRawPointer, count: Int) -> UInt16 {
        ~sum(bytes, count: count)
    }

    /// The sum of `count` bytes as if the 16-bit field at `fieldOffset` (even) were zero.
    /// Summing around the field, rather than subtracting it afterwards, keeps the result
    /// exact even for all-zero data (where ones'-complement subtraction would give −0).
    @inlinable
    public static func sum(_ bytes: UnsafeRawPointer, count: Int, skippingFieldAt fieldOffset: Int) -> UInt16 {
        let head = sum(bytes, count: fieldOffset)
        let after = fieldOffset &+ 2  // fieldOffset + 2 ≤ count: callers pass a field inside the data
        return sum(bytes + after, count: count &- after, initial: head)
    }

    // MARK: IPv4 header

    /// The IPv4 header checksum (RFC 791) over `headerLength` bytes, computed as if the
    /// checksum field were zero, so it can be called on a header that already has one.
    @inlinable
    public static func ipv4Header(_ header: UnsafeRawPointer, headerLength: Int) -> UInt16 {
        ~sum(header, count: headerLength, skippingFieldAt: 10)
    }

    /// True when the IPv4 header checksum over `headerLength` bytes is correct
    /// (the sum including the checksum is all ones, RFC 1071 §1).
    @inlinable
    public static func verifyIPv4Header(_ header: UnsafeRawPointer, headerLength: Int) -> Bool {
        sum(header, count: headerLength) == 0xFFFF
    }

    // MARK: Pseudo-headers

    /// The sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): source, destination,
    /// zero, protocol, and the upper-layer length (`length` < 65536).
    @inlinable
    public static func pseudoHeaderSum(source: IPv4Address, destination: IPv4Address,
                                       protocol proto: IPProtocol, length: Int) -> UInt16 {
        // Six terms below 2^16 each: no overflow in 64 bits.
        let acc = UInt64(source.rawValue >> 16) &+ UInt64(source.rawValue & 0xFFFF)
            &+ UInt64(destination.rawValue >> 16) &+ UInt64(destination.rawValue & 0xFFFF)
            &+ UInt64(proto.rawValue) &+ UInt64(UInt16(truncatingIfNeeded: length))
        return fold(acc)
    }

    /// The sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit
    /// upper-layer length, three zero bytes and the next header.
    @inlinable
    public static func pseudoHeaderSum(source: IPv6Address, destination: IPv6Address,
                                       nextHeader: IPProtocol, length: Int) -> UInt16 {
        // Each 64-bit half is split in 32-bit parts: 8 parts < 2^32 plus two small terms
        // stay far below 2^64.
        var acc = (source.high >> 32) &+ (source.high & 0xFFFF_FFFF)
        acc &+= (source.low >> 32) &+ (source.low & 0xFFFF_FFFF)
        acc &+= (destination.high >> 32) &+ (destination.high & 0xFFFF_FFFF)
        acc &+= (destination.low >> 32) &+ (destination.low & 0xFFFF_FFFF)
        acc &+= UInt64(UInt32(truncatingIfNeeded: length)) &+ UInt64(nextHeader.rawValue)
        return fold(acc)
    }

    // MARK: Transport checksums

    /// The checksum of a transport segment of `length` bytes continuing `pseudoHeaderSum`,
    /// computed as if the 16-bit checksum field at `checksumOffset` were zero.
    @inlinable
    public static func transport(pseudoHeaderSum: UInt16, segment: UnsafeRawPointer, length: Int,
                                 checksumOffset: Int) -> UInt16 {
        let head = sum(segment, count: checksumOffset, initial: pseudoHeaderSum)
        let after = checksumOffset &+ 2  // the field lies inside the segment
        return ~sum(segment + after, count: length &- after, initial: head)
    }

    /// True when a segment's stored checksum matches: the pseudo-header sum plus the sum of
    /// the segment, checksum included, is all ones.
    @inlinable
    public static func verifyTransport(pseudoHeaderSum: UInt16, segment: UnsafeRawPointer, length: Int) -> Bool {
        sum(segment, count: length, initial: pseudoHeaderSum) == 0xFFFF
    }

    /// TCP checksum over IPv4 (RFC 9293 §3.1) of a `length`-byte segment (header + data).
    @inlinable
    public static func tcp(source: IPv4Address, destination: IPv4Address,
                           segment: UnsafeRawPointer, length: Int) -> UInt16 {
        transport(pseudoHeaderSum: pseudoHeaderSum(source: source, destination: destination, protocol: .tcp, length: length),
                  segment: segment, length: length, checksumOffset: 16)
    }

    /// TCP checksum over IPv6 (RFC 8200 §8.1).
    @inlinable
    public static func tcp(source: IPv6Address, destination: IPv6Address,
                           segment: UnsafeRawPointer, length: Int) -> UInt16 {
        transport(pseudoHeaderSum: pseudoHeaderSum(source: source, destination: destination, nextHeader: .tcp, length: length),
                  segment: segment, length: length, checksumOffset: 16)
    }

    /// UDP checksum over IPv4 (RFC 768). A computed 0 is returned as 0xffff, because 0
    /// on the wire means "no checksum".
    @inlinable
    public static func udp(source: IPv4Address, destination: IPv4Address,
                           datagram: UnsafeRawPointer, length: Int) -> UInt16 {
        let c = transport(pseudoHeaderSum: pseudoHeaderSum(source: source, destination: destination, protocol: .udp, length: length),
                          segment: datagram, length: length, checksumOffset: 6)
        return c == 0 ? 0xFFFF : c
    }

    /// UDP checksum over IPv6 (RFC 8200 §8.1); 0 becomes 0xffff as over IPv4.
    @inlinable
    public static func udp(source: IPv6Address, destination: IPv6Address,
                           datagram: UnsafeRawPointer, length: Int) -> UInt16 {
        let c = transport(pseudoHeaderSum: pseudoHeaderSum(source: source, destination: destination, nextHeader: .udp, length: length),
                          segment: datagram, length: length, checksumOffset: 6)
        return c == 0 ? 0xFFFF : c
    }

    /// ICMPv6 checksum (RFC 4443 §2.3) of a `length`-byte message, with the IPv6 pseudo-header.
    @inlinable
    public static func icmpv6(source: IPv6Address, destination: IPv6Address,
                              message: UnsafeRawPointer, length: Int) -> UInt16 {
        transport(pseudoHeaderSum: pseudoHeaderSum(source: source, destination: destination, nextHeader: .icmpv6, length: length),
                  segment: message, length: length, checksumOffset: 2)
    }

    /// ICMPv4 checksum (RFC 792) of a `length`-byte message (no pseudo-header), computed as
    /// if the checksum field were zero.
    @inlinable
    public static func icmpv4(_ message: UnsafeRawPointer, length: Int) -> UInt16 {
        ~sum(message, count: length, skippingFieldAt: 2)
    }

    /// GRE checksum (RFC 2784 §2.5) over the GRE header and payload, `length` bytes,
    /// computed as if the checksum field (bytes 4–5) were zero. Only meaningful when the C
    /// bit is set.
    @inlinable
    public static func gre(_ header: UnsafeRawPointer, length: Int) -> UInt16 {
        ~sum(header, count: length, skippingFieldAt: 4)
    }

    /// True when `length` bytes that carry their own checksum (ICMPv4, GRE with C) sum to
    /// all ones.
    @inlinable
    public static func verify(_ bytes: UnsafeRawPointer, length: Int) -> Bool {
        sum(bytes, count: length) == 0xFFFF
    }

    // MARK: Incremental update (RFC 1624)

    /// The checksum after a 16-bit word of the covered data changes from `old` to `new`:
    /// RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`. Unlike RFC 1141's eqn. 2 it gives the
    /// same bits as a full recomputation, except when all the covered data is zero
    /// (then 0x0000 where recomputation gives 0xffff) — impossible for IPv4 headers and
    /// for anything under a pseudo-header, whose protocol field is non-zero.
    ///
    /// For UDP, leave a zero checksum alone (it means "none") and send a result of 0 as
    /// 0xffff; `updateUDP` does both.
    @inlinable
    public static func update(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        ~add(add(~checksum, ~old), new)
    }

    /// The checksum after a 32-bit field (an IPv4 address, a TCP sequence number) at an
    /// even offset changes from `old` to `new`.
    @inlinable
    public static func update(_ checksum: UInt16, old: UInt32, new: UInt32) -> UInt16 {
        let acc = UInt64(~checksum) &+ UInt64(~old >> 16) &+ UInt64(~old & 0xFFFF)
            &+ UInt64(new >> 16) &+ UInt64(new & 0xFFFF)  // five terms < 2^16
        return ~fold(acc)
    }

    /// The checksum after an IPv6 address in the covered data (or pseudo-header) changes.
    @inlinable
    public static func update(_ checksum: UInt16, old: IPv6Address, new: IPv6Address) -> UInt16 {
        var c = update(checksum, old: UInt32(truncatingIfNeeded: old.high >> 32), new: UInt32(truncatingIfNeeded: new.high >> 32))
        c = update(c, old: UInt32(truncatingIfNeeded: old.high), new: UInt32(truncatingIfNeeded: new.high))
        c = update(c, old: UInt32(truncatingIfNeeded: old.low >> 32), new: UInt32(truncatingIfNeeded: new.low >> 32))
        return update(c, old: UInt32(truncatingIfNeeded: old.low), new: UInt32(truncatingIfNeeded: new.low))
    }

    /// `update(_:old:new:)` for a UDP checksum: a 0 (absent) checksum stays 0, and a
    /// result of 0 is sent as 0xffff (RFC 768).
    @inlinable
    public static func updateUDP(_ checksum: UInt16, old: UInt32, new: UInt32) -> UInt16 {
        guard checksum != 0 else { return 0 }
        let c = update(checksum, old: old, new: new)
        return c == 0 ? 0xFFFF : c
    }

    /// `update(_:old:new:)` for a 16-bit field (a port) of a UDP datagram, with the UDP
    /// zero rules of `updateUDP(_:old:new:)` for 32-bit fields.
    @inlinable
    public static func updateUDP(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        guard checksum != 0 else { return 0 }
        let c = update(checksum, old: old, new: new)
        return c == 0 ? 0xFFFF : c
    }
}
