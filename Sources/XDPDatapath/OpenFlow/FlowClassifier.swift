/// Priority matching with arbitrary masks for one flow table: tuple-space search.
///
/// Rules are grouped by mask into *subtables*; inside a subtable every rule's value is
/// already masked, so a lookup masks the packet's key once per subtable and finds
/// candidates with one hash probe. Subtables are visited in order of the highest
/// priority they hold, and the search stops as soon as no remaining subtable can beat
/// the best match found — with Neutron's tables (a few distinct masks, priorities that
/// follow specificity) that is usually after the first or second subtable.
///
/// A classifier is immutable once built: changing a table builds a new one (see
/// `FlowPipeline`), so a batch always sees one consistent version. Lookups allocate
/// nothing. Among overlapping rules of equal priority the one found first wins (OpenFlow leaves
/// the choice undefined).
public final class FlowClassifier {
    /// One rule as the classifier sees it: its match and an opaque id (the caller's index).
    public struct Entry: Sendable {
        /// The match value, kept masked by `mask`.
        public var value: FlowKey
        /// The match mask: 1 bits must equal `value`'s.
        public var mask: FlowKey
        /// Higher wins among matching entries.
        public var priority: Int
        /// The caller's id for the rule, returned by lookups.
        public var id: Int32
        /// An entry; `value` is masked here, so any value may be passed.
        public init(value: FlowKey, mask: FlowKey, priority: Int, id: Int32) {
            self.value = value.masked(by: mask)
            self.mask = mask
            self.priority = priority
            self.id = id
        }
    }

    /// Owns one subtable's memory; lookups go through its `SubtableView`.
    final class Subtable {
        let mask: FlowKey
        let maxPriority: Int
        let slotMask: Int
        /// Open addressing over masked values. Rules with the same masked value differ
        /// only in priority, and only the best of them can ever match, so a slot keeps
        /// just that one.
        let keys: UnsafeMutablePointer<FlowKey>
        let ids: UnsafeMutablePointer<Int32>  // -1: empty slot
        let priorities: UnsafeMutablePointer<Int>

        init(mask: FlowKey, entries: [Entry]) {
            self.mask = mask
            maxPriority = entries.map(\.priority).max() ?? Int.min
            var best: [FlowKey: Entry] = [:]
            for e in entries where (best[e.value]?.priority ?? Int.min) < e.priority { best[e.value] = e }
            var size = 8
            while size < best.count * 2 { size <<= 1 }
            slotMask = size - 1
            keys = .allocate(capacity: size)
            keys.initialize(repeating: FlowKey(), count: size)
            ids = .allocate(capacity: size)
            ids.initialize(repeating: -1, count: size)
            priorities = .allocate(capacity: size)
            priorities.initialize(repeating: Int.min, count: size)
            for (value, e) in best {
                var slot = Int(truncatingIfNeeded: value.fastHash) & slotMask
                while ids[slot] >= 0 { slot = (slot + 1) & slotMask }
                keys[slot] = value
                ids[slot] = e.id
                priorities[slot] = e.priority
            }
        }

        deinit {
            keys.deallocate()
            ids.deallocate()
            priorities.deallocate()
        }
    }

    let subtables: [Subtable]
    @usableFromInline let subtableCount: Int
    /// The subtables as plain values, in search order: the lookup touches no class.
    @usableFromInline let subtableTable: UnsafeMutablePointer<SubtableView>

    /// A subtable's memory as a value (see `Subtable`).
    @frozen
    @usableFromInline
    struct SubtableView {
        @usableFromInline let mask: FlowKey
        @usableFromInline let maxPriority: Int
        @usableFromInline let slotMask: Int
        @usableFromInline let keys: UnsafeMutablePointer<FlowKey>
        @usableFromInline let ids: UnsafeMutablePointer<Int32>
        @usableFromInline let priorities: UnsafeMutablePointer<Int>

        init(_ s: Subtable) {
            mask = s.mask
            maxPriority = s.maxPriority
            slotMask = s.slotMask
            keys = s.keys
            ids = s.ids
            priorities = s.priorities
        }

        /// The slot of the rule whose masked value equals `key & mask`, or -1.
        @inlinable
        func find(_ key: FlowKey) -> Int {
            let masked = key.masked(by: mask)
            var slot = Int(truncatingIfNeeded: masked.fastHash) & slotMask
            while true {
                if ids[slot] < 0 { return -1 }
                if keys[slot] == masked { return slot }
                slot = (slot &+ 1) & slotMask
            }
        }
    }
    /// Number of rules.
    public let count: Int

    /// Builds the classifier for `entries`.
    public init(_ entries: [Entry]) {
        var byMask: [FlowKey: [Entry]] = [:]
        for e in entries { byMask[e.mask, default: []].append(e) }
        subtables = byMask.map { Subtable(mask: $0.key, entries: $0.value) }.sorted { $0.maxPriority > $1.maxPriority }
        subtableCount = subtables.count
        subtableTable = .allocate(capacity: max(subtables.count, 1))
        for (i, s) in subtables.enumerated() { (subtableTable + i).initialize(to: SubtableView(s)) }
        count = entries.count
    }

    deinit {
        subtableTable.deinitialize(count: subtableCount)
        subtableTable.deallocate()
    }

    /// Distinct masks (the number of subtables a worst-case lookup probes).
    public var maskCount: Int { subtableCount }

    /// The id of the highest-priority rule matching `key`, or -1.
    @inlinable
    public func lookup(_ key: FlowKey) -> Int32 {
        View(subtables: subtableTable, count: subtableCount).lookup(key)
    }

    /// The classifier as a plain value (valid while the classifier lives).
    @frozen
    @usableFromInline
    struct View {
        @usableFromInline let subtables: UnsafeMutablePointer<SubtableView>?
        @usableFromInline let count: Int

        @inlinable
        init(subtables: UnsafeMutablePointer<SubtableView>?, count: Int) {
            self.subtables = subtables
            self.count = count
        }

        /// The id of the highest-priority rule matching `key`, or -1.
        @inlinable @inline(__always)
        func lookup(_ key: FlowKey) -> Int32 { lookupWithPriority(key).0 }

        /// The id and priority of the highest-priority rule matching `key`, or (-1, Int.min).
        @inlinable
        func lookupWithPriority(_ key: FlowKey) -> (Int32, Int) {
            guard let subtableTable = subtables else { return (-1, .min) }
            var bestID: Int32 = -1
            var bestPriority = Int.min
            for i in 0..<count {
                let sub = subtableTable[i]
                if sub.maxPriority <= bestPriority { break }
                let slot = sub.find(key)
                if slot >= 0, sub.priorities[slot] > bestPriority {
                    bestPriority = sub.priorities[slot]
                    bestID = sub.ids[slot]
                }
            }
            return (bestID, bestPriority)
        }
    }
}
