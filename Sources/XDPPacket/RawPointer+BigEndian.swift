/// Unaligned big-endian (network order) loads and stores over raw frame memory.
///
/// Every header view in this module goes through these: frames sit at arbitrary
/// offsets in UMEM (a VLAN push moves the Ethernet header by 4 bytes, GRE decap by
/// 24 or more), so no load may assume alignment.
extension UnsafeMutableRawPointer {
    /// Loads the byte at `offset` (byte order is moot; named for symmetry with the wider loads).
    @inlinable @inline(__always)
    public func loadBE8(at offset: Int) -> UInt8 {
        self.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Loads the big-endian 16-bit value at `offset` (any alignment), in host order.
    @inlinable @inline(__always)
    public func loadBE16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Loads the big-endian 32-bit value at `offset` (any alignment), in host order.
    @inlinable @inline(__always)
    public func loadBE32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Loads the 48-bit value at `offset` (a MAC address) into the low bits of a `UInt64`.
    @inlinable @inline(__always)
    public func loadBE48(at offset: Int) -> UInt64 {
        UInt64(loadBE16(at: offset)) << 32 | UInt64(loadBE32(at: offset + 2))
    }

    /// Loads the big-endian 64-bit value at `offset` (any alignment), in host order.
    @inlinable @inline(__always)
    public func loadBE64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Stores one byte at `offset`.
    @inlinable @inline(__always)
    public func storeBE8(_ value: UInt8, at offset: Int) {
        self.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    /// Stores the host-order `value` at `offset` big-endian (network order), at any alignment.
    @inlinable @inline(__always)
    public func storeBE16(_ value: UInt16, at offset: Int) {
        self.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// Stores the host-order `value` at `offset` big-endian (network order), at any alignment.
    @inlinable @inline(__always)
    public func storeBE32(_ value: UInt32, at offset: Int) {
        self.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Stores the low 48 bits of `value` (a MAC address) at `offset`.
    @inlinable @inline(__always)
    public func storeBE48(_ value: UInt64, at offset: Int) {
        storeBE16(UInt16(truncatingIfNeeded: value >> 32), at: offset)
        storeBE32(UInt32(truncatingIfNeeded: value), at: offset + 2)
    }

    /// Stores the host-order `value` at `offset` big-endian (network order), at any alignment.
    @inlinable @inline(__always)
    public func storeBE64(_ value: UInt64, at offset: Int) {
        self.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
    }
}
