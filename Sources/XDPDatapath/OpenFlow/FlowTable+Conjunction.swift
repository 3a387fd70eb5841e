// Conjunctive matches: `conjunction(ID,K/N)` and `conj_id=ID`, with Open vSwitch's meaning
// (ovs-fields(7), "Conjunctive Match Fields"; ovs-actions(7), "conjunction").
//
// A flow whose actions are `conjunction(ID,K/N)` is not a flow a packet can hit: it says
// "a packet matching me satisfies dimension K of conjunctive match ID". A packet satisfies
// match ID when, at one priority, it matches at least one flow of each of the N
// dimensions. The table then behaves as if the packet carried `conj_id=ID` and is looked
// up again: the flow that runs is the best of the flows matching `conj_id=ID` and the
// ordinary flows. That turns a filter of M × P flows (M source addresses, P ports or
// port ranges) into M + P + 1, which is how Neutron's Open vSwitch firewall matches
// remote security groups: one flow per member address, one per port and rule, and the
// `conj_id` flow that accepts.
//
// How a lookup goes, as OVS's classifier does it (`classifier_lookup__`):
//   1. the ordinary ("hard") flows give the best match H at priority h (or none);
//   2. conjunction ("soft") flows of priority > h that match are gathered, one list
//      per distinct match;
//   3. from the highest such priority p down: the first conjunction ID all of whose N
//      dimensions are covered by soft flows of priority p wins; the result is the better
//      of H and the best `conj_id=ID` flow matching the packet. If neither exists, the
//      next complete conjunction, then the next lower priority, are tried; when none
//      remains the result is H.
// Soft flows never match themselves and their counters never move (as in OVS).
//
// Layout. Per table: the soft flows grouped by (mask, masked value) into clause lists,
// each list sorted by priority, found through a `FlowClassifier` whose ids are list
// numbers (`FlowClassifier` keeps one entry per masked value, hence the grouping); and
// the `conj_id` flows as a small classifier per ID behind an open-addressed table of
// IDs. A table without soft flows costs one load and one branch per lookup. A lookup
// with soft flows keeps the lists it found in stack memory (one slot per soft mask) and
// allocates nothing. Lookups are a function of the key alone, so the exact-match and
// flow-segment caches hold their results as for any other lookup.

/// One `conjunction(id, clause+1/clauses)` of a soft flow, at the flow's priority.
@usableFromInline
struct ConjunctionClause {
    @usableFromInline let priority: Int
    @usableFromInline let id: UInt32
    @usableFromInline let clause: UInt8
    @usableFromInline let clauses: UInt8
}

/// The conjunction part of one table (see the essay above); owns the memory its
/// `View` points at.
@usableFromInline
final class ConjunctionTable {
    /// Finds the clause lists matching a key: one entry per distinct soft match, its id
    /// the list number, its priority the list's highest.
    let soft: FlowClassifier
    let listStarts: UnsafeMutablePointer<Int32>   // count + 1 entries
    let clauses: UnsafeMutablePointer<ConjunctionClause>
    let clauseCount: Int
    /// The `conj_id` flows: an open-addressed table of ids (0: empty slot) and each id's classifier.
    let idSlots: UnsafeMutablePointer<UInt32>
    let idViews: UnsafeMutablePointer<FlowClassifier.View>
    let idMask: Int
    private let idClassifiers: [FlowClassifier]

    /// `soft`: each soft flow's match, priority and conjunction actions; `conjIDFlows`:
    /// each `conj_id` flow's id with its classifier entry (id = the flow's index).
    init(soft flows: [(match: FlowMatch, priority: Int, conjunctions: [FlowAction])],
         conjIDFlows: [(id: UInt32, entry: FlowClassifier.Entry)]) {
        var lists: [FlowMatch: [ConjunctionClause]] = [:]
        var order: [FlowMatch] = []
        for f in flows {
            var m = f.match
            m.conjunctionID = 0
            if lists[m] == nil { order.append(m) }
            for case .conjunction(let id, let clause, let n) in f.conjunctions {
                lists[m, default: []].append(ConjunctionClause(priority: f.priority, id: id, clause: clause, clauses: n))
            }
        }
        var all: [ConjunctionClause] = []
        var starts: [Int32] = []
        var entries: [FlowClassifier.Entry] = []
        for (n, m) in order.enumerated() {
            let list = lists[m]!.sorted { $0.priority > $1.priority }
            starts.append(Int32(all.count))
            all += list
            entries.append(FlowClassifier.Entry(value: m.value, mask: m.mask, priority: list[0].priority, id: Int32(n)))
        }
        starts.append(Int32(all.count))
        soft = FlowClassifier(entries)
        listStarts = .allocate(capacity: starts.count)
        listStarts.initialize(from: starts, count: starts.count)
        clauseCount = all.count
        clauses = .allocate(capacity: max(all.count, 1))
        clauses.initialize(from: all, count: all.count)

        var byID: [UInt32: [FlowClassifier.Entry]] = [:]
        for f in conjIDFlows { byID[f.id, default: []].append(f.entry) }
        var size = 8
        while size < byID.count * 2 { size <<= 1 }
        idMask = size - 1
        idSlots = .allocate(capacity: size)
        idSlots.initialize(repeating: 0, count: size)
        idViews = .allocate(capacity: size)
        idViews.initialize(repeating: FlowClassifier.View(subtables: nil, count: 0), count: size)
        var retained: [FlowClassifier] = []
        for (id, entries) in byID {
            let c = FlowClassifier(entries)
            retained.append(c)
            var slot = Self.slot(of: id, mask: idMask)
            while idSlots[slot] != 0 { slot = (slot + 1) & idMask }
            idSlots[slot] = id
            idViews[slot] = FlowClassifier.View(subtables: c.subtableTable, count: c.subtableCount)
        }
        idClassifiers = retained
    }

    deinit {
        listStarts.deallocate()
        clauses.deallocate()
        idSlots.deallocate()
        idViews.deallocate()
    }

    @usableFromInline @inline(__always)
    static func slot(of id: UInt32, mask: Int) -> Int { Int(truncatingIfNeeded: UInt64(id) &* 0x9E37_79B9_7F4A_7C15 >> 32) & mask }

    var view: View {
        View(soft: FlowClassifier.View(subtables: soft.subtableTable, count: soft.subtableCount), listStarts: listStarts,
             clauses: clauses, idSlots: idSlots, idViews: idViews, idMask: idMask)
    }

    /// A table's conjunction part as a plain value for the per-packet path; `soft.count`
    /// is 0 for a table without soft flows.
    @frozen
    @usableFromInline
    struct View {
        @usableFromInline let soft: FlowClassifier.View
        @usableFromInline let listStarts: UnsafeMutablePointer<Int32>?
        @usableFromInline let clauses: UnsafeMutablePointer<ConjunctionClause>?
        @usableFromInline let idSlots: UnsafeMutablePointer<UInt32>?
        @usableFromInline let idViews: UnsafeMutablePointer<FlowClassifier.View>?
        @usableFromInline let idMask: Int

        /// No soft flows: lookups are the hard classifier's alone.
        static var none: View { View(soft: FlowClassifier.View(subtables: nil, count: 0), listStarts: nil, clauses: nil,
                               idSlots: nil, idViews: nil, idMask: 0) }

        init(soft: FlowClassifier.View, listStarts: UnsafeMutablePointer<Int32>?, clauses: UnsafeMutablePointer<ConjunctionClause>?,
             idSlots: UnsafeMutablePointer<UInt32>?, idViews: UnsafeMutablePointer<FlowClassifier.View>?, idMask: Int) {
            self.soft = soft
            self.listStarts = listStarts
            self.clauses = clauses
            self.idSlots = idSlots
            self.idViews = idViews
            self.idMask = idMask
        }

        /// The flow of the table matching `key`, conjunctions included (see the essay at
        /// the top of FlowTable+Conjunction.swift), or -1.
        @inlinable
        func lookup(_ key: FlowKey, hard: FlowClassifier.View) -> Int32 {
            let (hardID, hardPriority) = hard.lookupWithPriority(key)
            guard let subtables = soft.subtables, let listStarts, let clauses else { return hardID }
            return withUnsafeTemporaryAllocation(of: Int32.self, capacity: soft.count) { found -> Int32 in
                var n = 0
                for i in 0..<soft.count {
                    let sub = subtables[i]
                    if sub.maxPriority <= hardPriority { break }
                    let slot = sub.find(key)
                    if slot >= 0 {
                        found[n] = sub.ids[slot]
                        n &+= 1
                    }
                }
                var ceiling = Int.max
                while n > 0 {
                    // The highest soft priority below the last one tried.
                    var p = Int.min
                    for j in 0..<n {
                        var c = Int(listStarts[Int(found[j])])
                        let end = Int(listStarts[Int(found[j]) &+ 1])
                        while c < end && clauses[c].priority >= ceiling { c &+= 1 }
                        if c < end && clauses[c].priority > p { p = clauses[c].priority }
                    }
                    if p <= hardPriority { return hardID }
                    for j in 0..<n {
                        var c = Int(listStarts[Int(found[j])])
                        let end = Int(listStarts[Int(found[j]) &+ 1])
                        while c < end && clauses[c].priority > p { c &+= 1 }
                        while c < end && clauses[c].priority == p {
                            let clause = clauses[c]
                            if covered(clause.id, clauses: clause.clauses, priority: p, found: found, count: n,
                                       listStarts: listStarts, all: clauses) {
                                let (conjID, conjPriority) = lookup(conjunction: clause.id, key)
                                // OVS looks the table up again with conj_id set: the better of
                                // the conj_id flow and the hard match, if either exists.
                                if conjID >= 0 && conjPriority >= hardPriority { return conjID }
                                if hardID >= 0 { return hardID }
                            }
                            c &+= 1
                        }
                    }
                    ceiling = p
                }
                return hardID
            }
        }

        /// Whether the lists found cover every clause of conjunction `id` at `priority`.
        @inlinable
        func covered(_ id: UInt32, clauses n: UInt8, priority: Int, found: UnsafeMutableBufferPointer<Int32>, count: Int,
                     listStarts: UnsafeMutablePointer<Int32>, all: UnsafeMutablePointer<ConjunctionClause>) -> Bool {
            let full: UInt64 = n >= 64 ? ~0 : (1 << UInt64(n)) &- 1
            var seen: UInt64 = 0
            for j in 0..<count {
                var c = Int(listStarts[Int(found[j])])
                let end = Int(listStarts[Int(found[j]) &+ 1])
                while c < end && all[c].priority > priority { c &+= 1 }
                while c < end && all[c].priority == priority {
                    if all[c].id == id && all[c].clauses == n { seen |= 1 << UInt64(all[c].clause) }
                    c &+= 1
                }
            }
            return seen == full
        }

        /// The best `conj_id=id` flow matching `key`, with its priority, or (-1, Int.min).
        @inlinable
        func lookup(conjunction id: UInt32, _ key: FlowKey) -> (Int32, Int) {
            guard let idSlots, let idViews else { return (-1, .min) }
            var slot = ConjunctionTable.slot(of: id, mask: idMask)
            while true {
                let s = idSlots[slot]
                if s == 0 { return (-1, .min) }
                if s == id { return idViews[slot].lookupWithPriority(key) }
                slot = (slot &+ 1) & idMask
            }
        }
    }
}
