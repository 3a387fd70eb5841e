/// A set of VLAN ids 0...4095 as a 4096-bit bitmap, for trunk ports' `trunks`.
public struct VLANSet: Equatable, Sendable, CustomStringConvertible {
    @usableFromInline var words: [UInt64]

    /// The empty set.
    public init() { words = Array(repeating: 0, count: 64) }

    /// Every VLAN, 0 (untagged) included: what a port with no `tag` and no `trunks` carries.
    public static var all: VLANSet { var s = VLANSet(); for i in 0..<64 { s.words[i] = ~0 }; return s }

    /// The set of `ids`; values above 4095 wrap to their low 12 bits.
    public init(_ ids: some Sequence<UInt16>) {
        self.init()
        for id in ids { insert(id) }
    }

    /// Adds `id` (its low 12 bits).
    public mutating func insert(_ id: UInt16) {
        words[Int(id >> 6) & 63] |= 1 << UInt64(id & 63)
    }

    /// Whether `id` (its low 12 bits) is in the set; allocation-free, for the per-packet path.
    @inlinable
    public func contains(_ id: UInt16) -> Bool {
        words.withUnsafeBufferPointer { $0[Int(id >> 6) & 63] & (1 << UInt64(id & 63)) != 0 }
    }

    /// Whether every id 0...4095 is in the set.
    public var isAll: Bool { words.allSatisfy { $0 == ~0 } }

    /// The members in ascending order (allocates: not for the per-packet path).
    public var ids: [UInt16] { (0..<4096).compactMap { contains(UInt16($0)) ? UInt16($0) : nil } }

    /// `all`, or the members as a list: `[1, 2, 100]`.
    public var description: String { isAll ? "all" : "[" + ids.map(String.init).joined(separator: ", ") + "]" }
}
