/// MAC learning table of one bridge: (MAC, VLAN) → port, with aging.
///
/// Open addressing over a power-of-two array allocated once; a key is the MAC in the
/// low 48 bits and the VLAN id above it, so one compare finds an entry. A lookup or a
/// learn probes at most `probeLimit` consecutive slots. Entries are never deleted in
/// place on the hot path: an entry older than the aging time is simply treated as
/// absent and its slot reused by the next learn that probes it. When every slot in a
/// probe window is live, the least recently seen one is evicted (counted).
///
/// Times are nanoseconds from the clock the datapath is given; the table never reads
/// a clock itself. Not thread-safe: the bridge's worker owns it.
public final class MACTable {
    @usableFromInline static let emptyPort: Int32 = -1
    @usableFromInline let keys: UnsafeMutablePointer<UInt64>
    @usableFromInline let ports: UnsafeMutablePointer<Int32>
    @usableFromInline let seen: UnsafeMutablePointer<UInt64>
    @usableFromInline let mask: Int
    @usableFromInline let probeLimit = 16
    /// Entries not refreshed for this long are forgotten (OVS's default is 300 s).
    public var agingTime: UInt64
    /// Live entries evicted because their probe window was full.
    public var evictions: UInt64 { evictionCount }
    @usableFromInline var evictionCount: UInt64 = 0

    /// A table of `capacity` slots (rounded up to a power of two).
    public init(capacity: Int = 8192, agingSeconds: UInt64 = 300) {
        var size = 16
        while size < capacity { size <<= 1 }
        mask = size - 1
        keys = .allocate(capacity: size)
        ports = .allocate(capacity: size)
        seen = .allocate(capacity: size)
        keys.initialize(repeating: 0, count: size)
        ports.initialize(repeating: Self.emptyPort, count: size)
        seen.initialize(repeating: 0, count: size)
        agingTime = agingSeconds * 1_000_000_000
    }

    deinit {
        keys.deallocate()
        ports.deallocate()
        seen.deallocate()
    }

    /// Slots in the table.
    public var capacity: Int { mask + 1 }

    @inlinable @inline(__always)
    static func key(_ mac: UInt64, _ vlan: UInt16) -> UInt64 { mac | UInt64(vlan & 0x0FFF) << 48 }

    @inlinable @inline(__always)
    func slot(for key: UInt64) -> Int {
        // Fibonacci hashing spreads OUI-heavy MACs over the table.
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
    }

    @inlinable @inline(__always)
    func isLive(_ index: Int, now: UInt64) -> Bool {
        ports[index] != Self.emptyPort && now &- seen[index] < agingTime
    }

    /// The port `mac` was learned on in `vlan`, or nil when unknown or aged out.
    @inlinable
    public func lookup(_ mac: UInt64, vlan: UInt16, now: UInt64) -> Int? {
        let key = Self.key(mac, vlan)
        var index = slot(for: key)
        for _ in 0..<probeLimit {
            if keys[index] == key && isLive(index, now: now) { return Int(ports[index]) }
            index = (index &+ 1) & mask
        }
        return nil
    }

    /// Records that `mac` in `vlan` was seen on `port`. Returns the port it was on
    /// before when it moved, else nil.
    @inlinable
    @discardableResult
    public func learn(_ mac: UInt64, vlan: UInt16, port: Int, now: UInt64) -> Int? {
        let key = Self.key(mac, vlan)
        let start = slot(for: key)
        var index = start
        var free = -1
        var oldest = start
        for _ in 0..<probeLimit {
            if keys[index] == key && ports[index] != Self.emptyPort {
                let previous = Int(ports[index])
                let wasLive = isLive(index, now: now)
                ports[index] = Int32(truncatingIfNeeded: port)
                seen[index] = now
                return wasLive && previous != port ? previous : nil
            }
            if free < 0 && !isLive(index, now: now) { free = index }
            if seen[index] < seen[oldest] { oldest = index }
            index = (index &+ 1) & mask
        }
        if free < 0 { free = oldest; evictionCount &+= 1 }
        keys[free] = key
        ports[free] = Int32(truncatingIfNeeded: port)
        seen[free] = now
        return nil
    }

    /// Forgets everything learned on `port` (the port was removed or its VLAN changed).
    public func flush(port: Int) {
        for i in 0...mask where ports[i] == Int32(truncatingIfNeeded: port) { ports[i] = Self.emptyPort }
    }

    /// Forgets everything.
    public func flushAll() { ports.update(repeating: Self.emptyPort, count: mask + 1) }

    /// One learned address, as `ovs-appctl fdb/show` lists it.
    public struct Entry: Sendable, Equatable {
        public var port: Int
        public var vlan: UInt16
        public var mac: UInt64
        /// Seconds since the address was last seen.
        public var age: UInt64
    }

    /// The live entries, sorted by VLAN then MAC.
    public func entries(now: UInt64) -> [Entry] {
        var out: [Entry] = []
        for i in 0...mask where isLive(i, now: now) {
            out.append(Entry(port: Int(ports[i]), vlan: UInt16(keys[i] >> 48), mac: keys[i] & 0xFFFF_FFFF_FFFF,
                             age: (now &- seen[i]) / 1_000_000_000))
        }
        return out.sorted { ($0.vlan, $0.mac) < ($1.vlan, $1.mac) }
    }
}
