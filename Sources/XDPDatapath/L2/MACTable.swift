/// MAC learning table of one bridge: (MAC, VLAN) → port, with aging.
///
/// Open addressing over a power-of-two array allocated once; a key is the MAC in the
/// low 48 bits and the VLAN id above it, so one compare finds an entry. A lookup or a
/// learn probes at most `probeLimit` consecutive slots. Entries are never deleted in
/// place on the hot path: an entry older than the aging time is simply treated as
/// absent and its slot reused by the next learn that probes it. When every slot in a
/// probe window is live, the least recently seen one is evicted (counted).
///
/// Times are instants on the clock the datapath is given (kept as their nanoseconds);
/// the table never reads a clock itself. Not thread-safe: the bridge's worker owns it.
public final class MACTable {
    /// The table's memory as a value, for the per-packet path.
    @usableFromInline let storage: MACTableStorage

    /// A table of `capacity` slots (rounded up to a power of two).
    public init(capacity: Int = 8192, aging: Duration = .seconds(300)) {
        var size = 16
        while size < capacity { size <<= 1 }
        // At most 2^62 ns (146 years), so `seen + agingTime` cannot wrap.
        storage = MACTableStorage(size: size, agingTime: min(UInt64(max(1, aging.nanosecondsClamped)), 1 << 62))
    }

    deinit { storage.deallocate() }

    /// Slots in the table.
    public var capacity: Int { storage.mask + 1 }
    /// Entries not refreshed for this long are forgotten (OVS's default is 300 s).
    public var agingTime: Duration { .nanoseconds(storage.agingTime) }
    /// Live entries evicted because their probe window was full.
    public var evictions: UInt64 { storage.evictions.pointee }

    /// The port `mac` was learned on in `vlan`, or nil when unknown or aged out.
    @inlinable
    public func lookup(_ mac: UInt64, vlan: UInt16, now instant: DatapathInstant) -> PortID? {
        let now = instant.nanoseconds
        let port = storage.lookup(mac, vlan: vlan, now: now)
        return port < 0 ? nil : PortID(port)
    }

    /// Records that `mac` in `vlan` was seen on `port`. Returns the port it was on
    /// before when it moved, else nil.
    @inlinable
    @discardableResult
    public func learn(_ mac: UInt64, vlan: UInt16, port: PortID, now instant: DatapathInstant) -> PortID? {
        let now = instant.nanoseconds
        let previous = storage.learn(mac, vlan: vlan, port: port.index, now: now)
        return previous >= 0 ? PortID(previous) : nil
    }

    @usableFromInline static let emptyPort: Int32 = -1
    @usableFromInline var keys: UnsafeMutablePointer<UInt64> { storage.keys }
    @usableFromInline var ports: UnsafeMutablePointer<Int32> { storage.ports }
    @usableFromInline var seen: UnsafeMutablePointer<UInt64> { storage.seen }
    @usableFromInline var mask: Int { storage.mask }
    @usableFromInline func isLive(_ index: Int, now: UInt64) -> Bool { storage.isLive(index, now: now) }

    /// Forgets everything learned on `port` (the port was removed or its VLAN changed).
    public func flush(port: PortID) {
        for i in 0...mask where ports[i] == Int32(truncatingIfNeeded: port.index) { ports[i] = Self.emptyPort }
    }

    /// Forgets everything.
    public func flushAll() { ports.update(repeating: Self.emptyPort, count: mask + 1) }

    /// One learned address, as `ovs-appctl fdb/show` lists it.
    public struct Entry: Sendable, Equatable {
        /// The port (`DatapathPort.id`) the address was learned on.
        public var port: PortID
        /// The bridge-local VLAN the address was learned in.
        public var vlan: UInt16
        /// The learned MAC address in the low 48 bits.
        public var mac: UInt64
        /// How long ago the address was last seen (nanosecond precision; `fdb/show`
        /// prints whole seconds).
        public var age: Duration
    }

    /// The live entries, sorted by VLAN then MAC.
    public func entries(now instant: DatapathInstant) -> [Entry] {
        let now = instant.nanoseconds
        var out: [Entry] = []
        for i in 0...mask where isLive(i, now: now) {
            out.append(Entry(port: PortID(Int(ports[i])), vlan: UInt16(keys[i] >> 48), mac: keys[i] & 0xFFFF_FFFF_FFFF,
                             age: .nanoseconds(now &- min(seen[i], now))))
        }
        return out.sorted { ($0.vlan, $0.mac) < ($1.vlan, $1.mac) }
    }
}

/// The memory of a `MACTable` as a value: what the per-packet path works on, with no
/// class in sight. Copies share the table.
@frozen
@usableFromInline
struct MACTableStorage {
    @usableFromInline let keys: UnsafeMutablePointer<UInt64>
    @usableFromInline let ports: UnsafeMutablePointer<Int32>
    @usableFromInline let seen: UnsafeMutablePointer<UInt64>
    @usableFromInline let evictions: UnsafeMutablePointer<UInt64>
    @usableFromInline let mask: Int
    @usableFromInline let agingTime: UInt64
    @usableFromInline static var probeLimit: Int { 16 }

    init(size: Int, agingTime: UInt64) {
        mask = size - 1
        self.agingTime = agingTime
        keys = .allocate(capacity: size)
        ports = .allocate(capacity: size)
        seen = .allocate(capacity: size)
        evictions = .allocate(capacity: 1)
        keys.initialize(repeating: 0, count: size)
        ports.initialize(repeating: -1, count: size)
        seen.initialize(repeating: 0, count: size)
        evictions.initialize(to: 0)
    }

    func deallocate() {
        keys.deallocate()
        ports.deallocate()
        seen.deallocate()
        evictions.deallocate()
    }

    @inlinable @inline(__always)
    static func key(_ mac: UInt64, _ vlan: UInt16) -> UInt64 { mac | UInt64(vlan & 0x0FFF) << 48 }

    @inlinable @inline(__always)
    func slot(for key: UInt64) -> Int {
        // Fibonacci hashing spreads OUI-heavy MACs over the table.
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
    }

    /// Whether slot `index` holds an entry not aged out at `now`. Written as `now` before
    /// `seen + agingTime` rather than `now - seen` under `agingTime`: an entry may have been
    /// seen after `now` (the fast path's counters refresh it with the kernel's time of its
    /// last frame, which can be later than the time the worker read for this batch), and
    /// the subtraction would wrap and call it dead. Same cost per packet.
    @inlinable @inline(__always)
    func isLive(_ index: Int, now: UInt64) -> Bool {
        ports[index] >= 0 && now < seen[index] &+ agingTime
    }

    /// The slot of the entry for `key` (`key(_:_:)`), live or aged out, or -1. A key has at
    /// most one entry: `learn` adds one only after probing the whole window for it.
    @inlinable @inline(__always)
    func entryIndex(of key: UInt64) -> Int {
        var index = slot(for: key)
        for _ in 0..<Self.probeLimit {
            if keys[index] == key && ports[index] >= 0 { return index }
            index = (index &+ 1) & mask
        }
        return -1
    }

    /// Whether the table has an entry for `mac` in `vlan`, live or aged out (`learn` tells
    /// only of a MAC that had none).
    func hasEntry(_ mac: UInt64, vlan: UInt16) -> Bool {
        entryIndex(of: Self.key(mac, vlan)) >= 0
    }

    /// The port `mac` was learned on in `vlan`, or -1. (Its own probe loop, testing
    /// liveness in it: `entryIndex` then `isLive` costs the NORMAL path 4 instructions more
    /// per packet, `make bench-instructions` l2.)
    @inlinable
    func lookup(_ mac: UInt64, vlan: UInt16, now: UInt64) -> Int {
        let key = Self.key(mac, vlan)
        var index = slot(for: key)
        for _ in 0..<Self.probeLimit {
            if keys[index] == key && isLive(index, now: now) { return Int(ports[index]) }
            index = (index &+ 1) & mask
        }
        return -1
    }

    /// `learn`'s answer for a MAC the table had no entry for (none, or one flushed).
    @usableFromInline static var newEntry: Int { -2 }

    /// Learns `mac` in `vlan` on `port`; returns the port it moved from, `newEntry` when
    /// the table had no entry for it, or -1 (seen again where it was, or an aged entry
    /// seen again: `hasEntry` was true before).
    @inlinable
    func learn(_ mac: UInt64, vlan: UInt16, port: Int, now: UInt64) -> Int {
        let key = Self.key(mac, vlan)
        let start = slot(for: key)
        var index = start
        var free = -1
        var oldest = start
        for _ in 0..<Self.probeLimit {
            if keys[index] == key && ports[index] >= 0 {
                let previous = Int(ports[index])
                let wasLive = isLive(index, now: now)
                ports[index] = Int32(truncatingIfNeeded: port)
                seen[index] = now
                return wasLive && previous != port ? previous : -1
            }
            if free < 0 && !isLive(index, now: now) { free = index }
            if seen[index] < seen[oldest] { oldest = index }
            index = (index &+ 1) & mask
        }
        if free < 0 { free = oldest; evictions.pointee &+= 1 }
        keys[free] = key
        ports[free] = Int32(truncatingIfNeeded: port)
        seen[free] = now
        return Self.newEntry
    }
}
