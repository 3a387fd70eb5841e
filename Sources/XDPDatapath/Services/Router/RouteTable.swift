import XDPPacket

/// An IPv4 longest-prefix-match table: prefixes in, the index of the longest one holding
/// an address out.
///
/// Layout: one open-addressing hash table keyed by (prefix length, network address),
/// searched once per distinct prefix length present, longest first; the first hit is the
/// answer. A router's table has few distinct lengths (a namespace's `ip route` typically
/// has /32 locals, a /28, a /24 and the default), so a lookup is a handful of probes in
/// memory allocated once — no allocation, no reference counting, no locks. The /0 route
/// is kept aside and answers when nothing longer does.
///
/// Why not DIR-24-8: its 16 M-entry first level (32 MB) per router is fine for one
/// forwarding table and absurd for hundreds of tenant routers with five routes each. A
/// Patricia trie has one dependent load per bit at worst; this has one probe per length.
///
/// A table never changes: configuration changes build a new one and swap it in between
/// batches, like `FlowTable`. Lookups may run on any thread that owns the router.
public final class RouteTable {
    /// Number of prefixes in the table.
    public let count: Int
    /// The table's memory as a plain value, for per-packet code (no retain, no
    /// exclusivity check). Valid while the table lives.
    public let view: RouteTableView

    /// A table over `prefixes`; a lookup answers with an index into this array. When a
    /// prefix appears twice, the later one wins.
    public init(_ prefixes: [IPv4Prefix]) {
        precondition(prefixes.count < Int(Int32.max))
        var slots = 8
        while slots < prefixes.count * 2 { slots <<= 1 }  // load factor ≤ 1/2: short probe runs
        let slotMask = slots - 1
        let shift = UInt64(64 - slots.trailingZeroBitCount)
        let keys = UnsafeMutablePointer<UInt64>.allocate(capacity: slots)
        keys.initialize(repeating: RouteTableView.empty, count: slots)
        let values = UnsafeMutablePointer<Int32>.allocate(capacity: slots)
        values.initialize(repeating: -1, count: slots)
        let lengths = UnsafeMutablePointer<UInt8>.allocate(capacity: 33)
        var present = Set<Int>()
        var defaultValue: Int32 = -1
        var unique = 0
        for (index, prefix) in prefixes.enumerated() {
            if prefix.length == 0 {
                if defaultValue < 0 { unique += 1 }
                defaultValue = Int32(index)
                continue
            }
            present.insert(prefix.length)
            let key = RouteTableView.key(prefix.address.rawValue, length: prefix.length)
            var slot = RouteTableView.slot(key, shift: shift)
            while keys[slot] != RouteTableView.empty && keys[slot] != key { slot = (slot + 1) & slotMask }
            if keys[slot] == RouteTableView.empty { unique += 1 }
            keys[slot] = key
            values[slot] = Int32(index)
        }
        count = unique
        let sorted = present.sorted(by: >)
        for (i, length) in sorted.enumerated() { lengths[i] = UInt8(length) }
        view = RouteTableView(keys: keys, values: values, slotMask: slotMask, shift: shift, lengths: lengths,
                              lengthCount: sorted.count, defaultValue: defaultValue)
    }

    deinit {
        view.keys.deallocate()
        view.values.deallocate()
        view.lengths.deallocate()
    }

    /// The index (in the array the table was built from) of the longest prefix holding
    /// `address`, or nil.
    @inlinable
    public func lookup(_ address: IPv4Address) -> Int? {
        let i = view.lookup(raw: address.rawValue)
        return i < 0 ? nil : Int(i)
    }

    /// `lookup(_:)` on a host-order address, -1 for no match. Allocation-free.
    @inlinable
    public func lookup(raw address: UInt32) -> Int32 { view.lookup(raw: address) }

    /// The distinct prefix lengths present, longest first (0 last when there is a default).
    public var prefixLengths: [Int] {
        (0..<view.lengthCount).map { Int(view.lengths[$0]) } + (view.defaultValue >= 0 ? [0] : [])
    }
}

/// A `RouteTable`'s memory as a value: what a lookup reads. Copies share the table.
@frozen
public struct RouteTableView {
    @usableFromInline let keys: UnsafeMutablePointer<UInt64>
    @usableFromInline let values: UnsafeMutablePointer<Int32>
    /// Slots - 1 (the slot count is a power of two).
    @usableFromInline let slotMask: Int
    @usableFromInline let shift: UInt64
    /// Distinct prefix lengths present (1–32), longest first.
    @usableFromInline let lengths: UnsafeMutablePointer<UInt8>
    @usableFromInline let lengthCount: Int
    /// Index of the /0 prefix, -1 when there is none.
    @usableFromInline let defaultValue: Int32

    @usableFromInline static let empty = UInt64.max

    @inlinable
    init(keys: UnsafeMutablePointer<UInt64>, values: UnsafeMutablePointer<Int32>, slotMask: Int, shift: UInt64,
         lengths: UnsafeMutablePointer<UInt8>, lengthCount: Int, defaultValue: Int32) {
        self.keys = keys
        self.values = values
        self.slotMask = slotMask
        self.shift = shift
        self.lengths = lengths
        self.lengthCount = lengthCount
        self.defaultValue = defaultValue
    }

    @inlinable @inline(__always)
    static func key(_ network: UInt32, length: Int) -> UInt64 { UInt64(length) << 32 | UInt64(network) }

    @inlinable @inline(__always)
    static func slot(_ key: UInt64, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)  // Fibonacci hashing: top bits
    }

    /// The index of the longest prefix holding `address` (host order), -1 for none.
    @inlinable
    public func lookup(raw address: UInt32) -> Int32 {
        var i = 0
        while i < lengthCount {
            let length = Int(lengths[i])
            let key = Self.key(address & IPv4Prefix.mask(length: length), length: length)
            var slot = Self.slot(key, shift: shift)
            // The table is at most half full, so a run of occupied slots ends.
            while true {
                let k = keys[slot]
                if k == key { return values[slot] }
                if k == Self.empty { break }
                slot = (slot &+ 1) & slotMask
            }
            i &+= 1  // < lengthCount ≤ 32
        }
        return defaultValue
    }
}
