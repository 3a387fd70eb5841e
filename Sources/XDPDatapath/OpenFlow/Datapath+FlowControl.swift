// Changing a bridge's flow tables: add-flow, mod-flows, del-flows, learning and
// timeouts. Control-path code (it allocates): each change builds a new `FlowTable`
// and swaps it in whole, so a batch sees either the old or the new tables. Callers
// must be on the thread that runs `process` (the AF_XDP engine's `perform` gets them
// there), between batches.
extension Datapath {
    /// Why a flow change was refused.
    public struct FlowModificationError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What was refused and why (an unknown bridge, `mod-flows` without actions, an output to
        /// a port the bridge does not have).
        public var message: String
        /// `message` alone.
        public var description: String { message }
    }

    func bridgeIndex(_ name: String) throws(FlowModificationError) -> Int {
        guard let bridge = bridge(named: name) else { throw FlowModificationError(message: "\(name): no such bridge") }
        return bridge.id.index
    }

    /// Installs `flows` as bridge `bridgeID`'s new table version.
    func install(_ flows: [FlowTable.Flow], bridgeID: Int) {
        let old = bridges[bridgeID].flowTable!
        let table = FlowTable(flows: flows, version: old.version &+ 1)
        bridges[bridgeID].flowTable = table
        openFlow.use(table, bridgeID: bridgeID)
        if table.usesConntrack { startConntrack() }
    }

    /// `ovs-ofctl add-flow`: adds `rule`, replacing a flow with the same table, priority
    /// and match (whose counters start over, as OVS's do).
    public func addFlow(_ rule: FlowRule, bridge name: String, now instant: DatapathInstant) throws(FlowModificationError) {
        let now = instant.nanoseconds
        let id = try bridgeIndex(name)
        try checkOutputs(rule, bridgeID: id)
        var flows = bridges[id].flowTable.flows
        flows.removeAll { $0.rule.table == rule.table && $0.rule.priority == rule.priority && $0.rule.match == rule.match }
        flows.append(FlowTable.Flow(rule: rule, counters: FlowCounters(now: now)))
        install(flows, bridgeID: id)
    }

    /// `ovs-ofctl mod-flows [--strict]`: gives the selected flows the selector's
    /// replacement actions, keeping their counters. Returns how many changed.
    @discardableResult
    public func modifyFlows(_ selector: FlowSelector, strict: Bool, bridge name: String, now: DatapathInstant) throws(FlowModificationError) -> Int {
        let id = try bridgeIndex(name)
        guard let replacement = selector.replacement else { throw FlowModificationError(message: "mod-flows needs actions=") }
        try checkOutputs(replacement, bridgeID: id)
        var changed = 0
        let flows = bridges[id].flowTable.flows.map { flow -> FlowTable.Flow in
            guard selector.selects(flow.rule, strict: strict) else { return flow }
            changed += 1
            var rule = flow.rule
            rule.actions = replacement.actions
            rule.nestedActions = replacement.nestedActions
            rule.learns = replacement.learns
            rule.conntrack = replacement.conntrack
            rule.notes = replacement.notes
            return FlowTable.Flow(rule: rule, counters: flow.counters)
        }
        if changed > 0 { install(flows, bridgeID: id) }
        return changed
    }

    /// `ovs-ofctl del-flows [--strict]`: removes the selected flows. Returns how many.
    @discardableResult
    public func deleteFlows(_ selector: FlowSelector, strict: Bool, bridge name: String) throws(FlowModificationError) -> Int {
        let id = try bridgeIndex(name)
        let before = bridges[id].flowTable.flows
        let kept = before.filter { !selector.selects($0.rule, strict: strict) }
        if kept.count != before.count { install(kept, bridgeID: id) }
        return before.count - kept.count
    }

    /// Refuses outputs to OpenFlow ports the bridge does not have.
    func checkOutputs(_ rule: FlowRule, bridgeID: Int) throws(FlowModificationError) {
        for action in rule.actions {
            guard case .output(let port) = action, port < OpenFlowPort.max else { continue }
            guard fastBridges[bridgeID].port(ofport: port) != nil else {
                throw FlowModificationError(message: "\(bridges[bridgeID].name): output:\(port): no such OpenFlow port")
            }
        }
    }

    /// What `ovs-ofctl dump-flows BRIDGE` lists: each flow with its counters at `now`,
    /// table by table, then by descending priority, as OVS prints them.
    public func flowStatistics(bridge name: String, now instant: DatapathInstant) throws(FlowModificationError) -> [FlowStatistics] {
        let now = instant.nanoseconds
        let id = try bridgeIndex(name)
        let flows = bridges[id].flowTable.flows.sorted {
            ($0.rule.table, $1.rule.priority) < ($1.rule.table, $0.rule.priority)
        }
        return flows.map { flow in
            let c = flow.counters
            return FlowStatistics(rule: flow.rule, packets: c.packets, bytes: c.bytes, duration: .nanoseconds(now &- c.created.nanoseconds),
                                  idleAge: .nanoseconds(now &- c.lastUsed.nanoseconds))
        }
    }

    /// The flows of bridge `name` with their counters.
    public func flows(bridge name: String) -> [FlowTable.Flow] {
        bridge(named: name)?.flowTable.flows ?? []
    }

    /// Removes flows whose idle or hard timeout has passed. Returns how many.
    @discardableResult
    public func expireFlows(now instant: DatapathInstant) -> Int {
        let now = instant.nanoseconds
        var removed = 0
        for bridge in bridges {
            let flows = bridge.flowTable.flows
            let kept = flows.filter { flow in
                let r = flow.rule, c = flow.counters
                if r.idleTimeout > 0 && now &- c.lastUsed.nanoseconds >= UInt64(r.idleTimeout) * 1_000_000_000 { return false }
                if r.hardTimeout > 0 && now &- c.created.nanoseconds >= UInt64(r.hardTimeout) * 1_000_000_000 { return false }
                return true
            }
            if kept.count != flows.count {
                removed += flows.count - kept.count
                install(kept, bridgeID: bridge.id.index)
            }
        }
        return removed
    }

    /// The `learn` action: builds the flow `spec` describes from the packet's `key`. A
    /// flow already learned is refreshed in place (its idle timer restarts); a new one
    /// is installed when the batch ends.
    @inline(never)
    @usableFromInline
    func learn(flowIndex: Int, spec n: Int, key: FlowKey, bridgeID: Int, now: UInt64) {
        learn(bridges[bridgeID].flowTable.flows[flowIndex].rule.learns[n], key: key, bridgeID: bridgeID, now: now)
    }

    func learn(_ spec: LearnAction, key: FlowKey, bridgeID: Int, now: UInt64) {
        var rule = FlowRule(table: spec.table, priority: spec.priority, cookie: spec.cookie)
        rule.idleTimeout = spec.idleTimeout
        rule.hardTimeout = spec.hardTimeout
        for item in spec.specs {
            switch item {
            case .matchField(let destination, let source):
                destination.set(&rule.match.value, source.get(key))
                destination.set(&rule.match.mask, ~0)
            case .matchImmediate(let destination, let value):
                destination.set(&rule.match.value, value)
                destination.set(&rule.match.mask, ~0)
            case .loadField(let destination, let source):
                rule.actions.append(.load(destination, source.get(key)))
            case .loadImmediate(let destination, let value):
                rule.actions.append(.load(destination, value))
            case .output(let source):
                rule.actions.append(.output(UInt16(truncatingIfNeeded: source.get(key))))
            }
        }
        rule.match.value = rule.match.value.masked(by: rule.match.mask)
        if let existing = bridges[bridgeID].flowTable.flows.first(where: {
            $0.rule.table == rule.table && $0.rule.priority == rule.priority && $0.rule.match == rule.match
        }), existing.rule.actions == rule.actions {
            existing.counters.touch(now: now)
            return
        }
        if !openFlow.learned.pointee.contains(where: { $0.bridgeID == bridgeID && $0.rule == rule }) {
            openFlow.learned.pointee.append((bridgeID, rule))
        }
    }

    /// Installs what `learn` queued during a batch (called when a batch ends).
    @inline(never)
    @usableFromInline
    func installLearned(now: UInt64) {
        let learned = openFlow.learned.pointee
        openFlow.learned.pointee.removeAll()
        for id in Set(learned.map(\.bridgeID)) {
            var flows = bridges[id].flowTable.flows
            for (bridgeID, rule) in learned where bridgeID == id {
                flows.removeAll { $0.rule.table == rule.table && $0.rule.priority == rule.priority && $0.rule.match == rule.match }
                flows.append(FlowTable.Flow(rule: rule, counters: FlowCounters(now: now)))
            }
            install(flows, bridgeID: id)
        }
    }
}

/// One flow and its counters at one moment, as `ovs-ofctl dump-flows` lists it (see
/// `Datapath.flowStatistics(bridge:now:)`).
public struct FlowStatistics: Sendable, Equatable, CustomStringConvertible {
    /// The flow: table, priority, match, actions, cookie, timeouts.
    public var rule: FlowRule
    /// Packets that matched it (`n_packets`).
    public var packets: UInt64
    /// Bytes of those packets (`n_bytes`).
    public var bytes: UInt64
    /// How long ago it was installed (`duration`, printed to the millisecond).
    public var duration: Duration
    /// How long ago a packet last matched it (`idle_age`, printed in whole seconds).
    public var idleAge: Duration

    /// A flow's statistics.
    public init(rule: FlowRule, packets: UInt64, bytes: UInt64, duration: Duration, idleAge: Duration) {
        self.rule = rule
        self.packets = packets
        self.bytes = bytes
        self.duration = duration
        self.idleAge = idleAge
    }

    /// The flow as one line of `ovs-ofctl dump-flows` (`FlowRule.dumpLine`), with its
    /// leading space: ` cookie=0x0, duration=1.5s, table=0, n_packets=3, n_bytes=180, idle_age=2, priority=3 actions=NORMAL`.
    public var description: String {
        rule.dumpLine(duration: duration, nPackets: packets, nBytes: bytes, idleAge: idleAge)
    }
}
