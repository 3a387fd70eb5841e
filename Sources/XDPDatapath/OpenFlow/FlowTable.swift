/// A bridge's OpenFlow tables at one moment: every flow, a classifier per table, and
/// the flows' counters.
///
/// A `FlowTable` never changes once built. `add-flow`, `mod-flows`, `del-flows`,
/// learning and expiry build a new one (`FlowTable.replacing...`) and the bridge swaps
/// it in between two batches, so every batch runs against exactly one version. Flows
/// that survive a change keep their counters: `FlowCounters` live in memory shared by
/// the old and new versions.
public final class FlowTable {
    /// The flows, in the order they were added.
    public let flows: [Flow]
    /// Bumped on every change; the exact-match cache compares it.
    public let version: UInt64

    @usableFromInline let classifiers: UnsafeMutablePointer<Unmanaged<FlowClassifier>?>
    @usableFromInline let actionLists: UnsafeMutablePointer<ActionList>
    private let retainedClassifiers: [FlowClassifier]
    /// The table as a plain value for the per-packet path (valid while `self` lives).
    @usableFromInline private(set) var view: FlowTableView!

    /// A flow as the datapath runs it. Checked `Sendable`: the rule is a value, and when its
    /// counters may be read is `FlowCounters`' rule.
    public struct Flow: Sendable {
        /// The match, priority, actions and timeouts, as `add-flow` gave them.
        public var rule: FlowRule
        /// Packets, bytes and times, shared with later versions of the table.
        public let counters: FlowCounters
    }

    /// A flow's actions as a raw list: executing it touches no reference count.
    @usableFromInline
    struct ActionList {
        @usableFromInline let actions: UnsafeMutablePointer<FlowAction>
        @usableFromInline let count: Int
        @usableFromInline let counters: UnsafeMutablePointer<UInt64>
        /// The rule's `ct(...)` actions as they execute (`FlowAction.conntrack` indexes
        /// them), their `exec(...)` already folded in.
        @usableFromInline let conntrackSteps: UnsafeMutablePointer<ConntrackStep>
    }

    /// Whether some flow has a `ct(...)` action.
    public var usesConntrack: Bool { flows.contains { !$0.rule.conntrack.isEmpty } }

    /// Tables exist 0...254, like OpenFlow's.
    public static let tableCount = 255

    init(flows: [Flow], version: UInt64) {
        self.flows = flows
        self.version = version
        // Ordinary flows go to the table's classifier; conjunction flows and conj_id flows
        // to its conjunction part (FlowTable+Conjunction.swift).
        var byTable: [[FlowClassifier.Entry]] = Array(repeating: [], count: Self.tableCount)
        var soft: [Int: [(match: FlowMatch, priority: Int, conjunctions: [FlowAction])]] = [:]
        var conjIDFlows: [Int: [(id: UInt32, entry: FlowClassifier.Entry)]] = [:]
        for (i, flow) in flows.enumerated() {
            let r = flow.rule
            let entry = FlowClassifier.Entry(value: r.match.value, mask: r.match.mask, priority: Int(r.priority), id: Int32(i))
            if r.actions.contains(where: \.isConjunction) {
                soft[Int(r.table), default: []].append((r.match, Int(r.priority), r.actions.filter(\.isConjunction)))
            } else if r.match.conjunctionID != 0 {
                conjIDFlows[Int(r.table), default: []].append((r.match.conjunctionID, entry))
            } else {
                byTable[Int(r.table)].append(entry)
            }
        }
        conjunctionViews = .allocate(capacity: Self.tableCount)
        conjunctionViews.initialize(repeating: .none, count: Self.tableCount)
        var conjunctionTables: [ConjunctionTable] = []
        for (t, flows) in soft {
            let c = ConjunctionTable(soft: flows, conjIDFlows: conjIDFlows[t] ?? [])
            conjunctionTables.append(c)
            conjunctionViews[t] = c.view
        }
        retainedConjunctions = conjunctionTables
        classifiers = .allocate(capacity: Self.tableCount)
        var retained: [FlowClassifier] = []
        for t in 0..<Self.tableCount {
            if byTable[t].isEmpty {
                classifiers[t] = nil
            } else {
                let c = FlowClassifier(byTable[t])
                retained.append(c)
                classifiers[t] = Unmanaged.passUnretained(c)
            }
        }
        retainedClassifiers = retained
        actionLists = .allocate(capacity: max(flows.count, 1))
        for (i, flow) in flows.enumerated() {
            let storage = UnsafeMutablePointer<FlowAction>.allocate(capacity: max(flow.rule.actions.count, 1))
            storage.initialize(from: flow.rule.actions, count: flow.rule.actions.count)
            let steps = UnsafeMutablePointer<ConntrackStep>.allocate(capacity: max(flow.rule.conntrack.count, 1))
            steps.initialize(from: flow.rule.conntrack.map { ConntrackStep($0, nested: flow.rule.nestedActions) },
                             count: flow.rule.conntrack.count)
            (actionLists + i).initialize(to: ActionList(actions: storage, count: flow.rule.actions.count,
                                                        counters: flow.counters.slots, conntrackSteps: steps))
        }
        classifierViews = .allocate(capacity: Self.tableCount)
        for t in 0..<Self.tableCount {
            (classifierViews + t).initialize(to: classifiers[t].map {
                let c = $0.takeUnretainedValue()
                return FlowClassifier.View(subtables: c.subtableTable, count: c.subtableCount)
            } ?? FlowClassifier.View(subtables: nil, count: 0))
        }
        view = FlowTableView(version: version, classifiers: classifierViews, conjunctions: conjunctionViews, actionLists: actionLists)
    }

    private let classifierViews: UnsafeMutablePointer<FlowClassifier.View>
    private let conjunctionViews: UnsafeMutablePointer<ConjunctionTable.View>
    private let retainedConjunctions: [ConjunctionTable]

    deinit {
        classifierViews.deallocate()
        conjunctionViews.deallocate()
        for i in 0..<flows.count {
            actionLists[i].actions.deallocate()
            actionLists[i].conntrackSteps.deinitialize(count: flows[i].rule.conntrack.count)
            actionLists[i].conntrackSteps.deallocate()
        }
        actionLists.deallocate()
        classifiers.deallocate()
    }

    /// The table a new bridge has: `priority=0 actions=NORMAL` in table 0.
    static func normalOnly(now: UInt64) -> FlowTable {
        var rule = FlowRule()
        rule.priority = 0
        rule.actions = [.normal]
        return FlowTable(flows: [Flow(rule: rule, counters: FlowCounters(now: now))], version: 0)
    }

    /// True when the table is exactly `priority=0 actions=NORMAL` (the datapath then
    /// skips classification).
    public var isNormalOnly: Bool {
        flows.count == 1 && flows[0].rule.table == 0 && flows[0].rule.match.isCatchAll
            && flows[0].rule.actions == [.normal]
    }
}

/// A flow's counters: packets, bytes, when it was added, when it last matched.
/// Reference semantics: versions of a table share them.
///
/// Why `@unchecked Sendable` holds: `slots` (the pointer) is set in init and never
/// changes; the four words behind it are plain memory, on purpose (the per-packet path
/// bumps them through `ActionList.counters` with no atomic, no lock). They are written
/// only by the thread that runs the datapath: per packet (`ActionList.hit`), by `learn`
/// (`touch`) and by `takeOver`, between two batches. A `FlowCounters` reaches another
/// thread only inside a table built before the worker first runs it (a datapath made
/// before the engine starts, or a successor handed over through the job queue), and the
/// getters are read on that thread: through `AFXDPEngine.perform` (dump-flows, the metrics
/// exporter's flow totals) or after the worker has stopped. Sendable so that `Flow`
/// values (with their rule) can leave a `perform` job; do not read their counters
/// outside one while the worker runs.
public final class FlowCounters: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutablePointer<UInt64>

    init(now: UInt64) {
        slots = .allocate(capacity: 4)
        slots.initialize(repeating: 0, count: 4)
        slots[2] = now
        slots[3] = now
    }

    deinit { slots.deallocate() }

    /// Frames that matched the flow.
    public var packets: UInt64 { slots[0] }
    /// Bytes of those frames, as received.
    public var bytes: UInt64 { slots[1] }
    /// When the flow was added.
    public var created: DatapathInstant { DatapathInstant(nanoseconds: slots[2]) }
    /// When a packet last matched it (or it was added).
    public var lastUsed: DatapathInstant { DatapathInstant(nanoseconds: slots[3]) }

    /// Restarts the idle timer (a learn action re-learning the same flow).
    func touch(now: UInt64) { slots[3] = now }
}

extension FlowTable.ActionList {
    @inlinable @inline(__always)
    func hit(bytes: UInt32, now: UInt64) {
        counters[0] &+= 1
        counters[1] &+= UInt64(bytes)
        counters[3] = now
    }
}

/// A `FlowTable` as a plain value: what the per-packet path holds (no reference count).
@frozen
@usableFromInline
struct FlowTableView {
    @usableFromInline let version: UInt64
    @usableFromInline let classifiers: UnsafeMutablePointer<FlowClassifier.View>
    /// Each table's conjunctive matches (`soft.count == 0`: none).
    @usableFromInline let conjunctions: UnsafeMutablePointer<ConjunctionTable.View>
    @usableFromInline let actionLists: UnsafeMutablePointer<FlowTable.ActionList>

    /// The index of the flow of `table` matching `key`, or -1.
    @inlinable
    func lookup(table: Int, key: FlowKey) -> Int32 {
        let conjunction = conjunctions[table]
        if conjunction.soft.count == 0 { return classifiers[table].lookup(key) }
        return conjunction.lookup(key, hard: classifiers[table])
    }

    /// The tag of a cache slot filled for table `t` of this version, in both the
    /// exact-match and the flow-segment cache: version << 8 | table | 1 << 63 (an empty
    /// slot's tag is 0, which no version has). Installing a new version invalidates every
    /// slot of both caches at once.
    @inlinable @inline(__always)
    func cacheTag(table t: Int) -> UInt64 { version << 8 | UInt64(t) | 1 << 63 }
}
