// Running a segment of the pipeline through the flow-segment cache, and recording the
// segments that miss. The essay is at the top of FlowSegmentCache.swift.
extension Datapath {
    /// Runs the tables from `t` for the frame in `ctx`: replays the remembered segment
    /// when the cache has one, else walks the tables and records the walk. Entries of
    /// segments are the start of the pipeline (`interpretFlows`) and recirculations.
    @inlinable
    func runSegment(_ t: Int, table: FlowTableView, ctx: inout FlowContext, now: UInt64) {
        guard openFlow.segmentCacheEnabled && !tracer.active.pointee else {
            runTable(t, table: table, ctx: &ctx, now: now)
            return
        }
        let cache = openFlow.segmentCaches[ctx.bridgeID.index]
        let slot = cache.slot(key: ctx.key, table: t)
        let tag = table.cacheTag(table: t)
        let facts = (ctx.isIPv4 ? 0x100 : 0) | UInt16(ctx.l4Protocol)
        if slot.pointee.tag == tag && slot.pointee.inPortID == Int32(truncatingIfNeeded: ctx.inPortID.index)
            && slot.pointee.parseFacts == facts && slot.pointee.key.equals(ctx.key)
            && ctx.resubmits &+ Int(slot.pointee.resubmits) <= Datapath.maximumResubmits {
            cache.countHit()
            replaySegment(slot, table: table, ctx: &ctx, now: now)
            return
        }
        cache.countMiss()
        let recorder = openFlow.recorder
        guard recorder.pointee.depth < SegmentRecorder.depthLimit else {
            // Too deep to record: the walk's events spoil the record below, if any.
            runTable(t, table: table, ctx: &ctx, now: now)
            return
        }
        let record = recorder.pointee.records + recorder.pointee.depth
        record.pointee.poisoned = false
        record.pointee.resubmitsAtStart = ctx.resubmits
        record.pointee.segment.key = ctx.key
        record.pointee.segment.tag = tag
        record.pointee.segment.inPortID = Int32(truncatingIfNeeded: ctx.inPortID.index)
        record.pointee.segment.parseFacts = facts
        record.pointee.segment.hitCount = 0
        record.pointee.segment.end = .none
        recorder.pointee.depth &+= 1
        let wasActive = openFlow.recorder.pointee.active
        openFlow.recorder.pointee.active = true
        runTable(t, table: table, ctx: &ctx, now: now)
        openFlow.recorder.pointee.active = wasActive
        recorder.pointee.depth &-= 1
        guard !record.pointee.poisoned else {
            cache.countPoisoned()
            return
        }
        if !record.pointee.ended {
            // No output and no ct(): the segment ends where the walk did (a drop).
            record.pointee.segment.endKey = ctx.key
            record.pointee.segment.resubmits = UInt8(truncatingIfNeeded: ctx.resubmits &- record.pointee.resubmitsAtStart)
        }
        slot.pointee = record.pointee.segment
        cache.countStored()
    }

    /// Does what a walk through the segment's tables did: counts its flows, takes its
    /// end key, and performs its end (an output, a `ct()`) live.
    @inlinable
    func replaySegment(_ segment: UnsafeMutablePointer<FlowSegment>, table: FlowTableView, ctx: inout FlowContext, now: UInt64) {
        let hits = Int(segment.pointee.hitCount)
        var i = 0
        while i < hits {
            table.actionLists[Int(FlowSegment.hit(segment, i))].hit(bytes: ctx.length, now: now)
            i &+= 1
        }
        ctx.resubmits &+= Int(segment.pointee.resubmits)
        ctx.key = segment.pointee.endKey
        switch segment.pointee.end {
        case .none:
            return
        case .output:
            let wasActive = openFlow.recorder.pointee.active
            openFlow.recorder.pointee.active = false
            setPendingOutput(segment.pointee.output, ctx: &ctx, now: now)
            openFlow.recorder.pointee.active = wasActive
        case .conntrack:
            let wasActive = openFlow.recorder.pointee.active
            openFlow.recorder.pointee.active = false
            _ = executeConntrack(segment.pointee.conntrackIndex, list: table.actionLists[Int(segment.pointee.conntrackFlow)],
                                 ctx: &ctx, now: now)
            openFlow.recorder.pointee.active = wasActive
        }
    }

    // MARK: Recording (called only while `openFlow.recorder.pointee.active`)

    /// Flow `index` matched.
    @inlinable
    func recordHit(_ index: Int32) {
        let record = openFlow.recorder.pointee.top
        let n = Int(record.pointee.segment.hitCount)
        guard !record.pointee.ended, n < SegmentRecord.hitCapacity else { record.pointee.poisoned = true; return }
        record.pointee.segment.setHit(n, index)
        record.pointee.segment.hitCount &+= 1
    }

    /// An action is about to run: after the segment's end, nothing may.
    @inlinable
    func recordAction() {
        let record = openFlow.recorder.pointee.top
        if record.pointee.ended { record.pointee.poisoned = true }
    }

    /// Something a replay would not reproduce happened.
    @inlinable
    func recordPoison() {
        openFlow.recorder.pointee.top.pointee.poisoned = true
    }

    /// The frame was given to output `target` (after the key was written into it).
    @inlinable
    func recordOutput(_ target: OutputTarget, ctx: inout FlowContext) {
        let record = openFlow.recorder.pointee.top
        guard !record.pointee.ended, !ctx.consumed else { record.pointee.poisoned = true; return }
        record.pointee.segment.end = .output
        record.pointee.segment.output = target
        record.pointee.segment.endKey = ctx.key
        record.pointee.segment.resubmits = UInt8(truncatingIfNeeded: ctx.resubmits &- record.pointee.resubmitsAtStart)
    }

    /// `ct()` number `n` of flow `flowIndex` is about to run on `ctx`.
    @inlinable
    func recordConntrack(flowIndex: Int, _ n: Int32, recirculates: Bool, ctx: inout FlowContext) {
        let record = openFlow.recorder.pointee.top
        guard !record.pointee.ended, recirculates, ctx.pending == nil else {
            record.pointee.poisoned = true
            return
        }
        record.pointee.segment.end = .conntrack
        record.pointee.segment.conntrackFlow = Int32(truncatingIfNeeded: flowIndex)
        record.pointee.segment.conntrackIndex = n
        record.pointee.segment.endKey = ctx.key
        record.pointee.segment.resubmits = UInt8(truncatingIfNeeded: ctx.resubmits &- record.pointee.resubmitsAtStart)
    }

    // MARK: Control

    /// The flow-segment cache counters of bridge `name`: hits, misses, segments stored,
    /// walks not cacheable (see FlowSegmentCache.swift); nil when there is no such bridge.
    public func flowSegmentCacheCounters(bridge name: String) -> (hits: UInt64, misses: UInt64, stored: UInt64, uncacheable: UInt64)? {
        guard let bridge = bridge(named: name) else { return nil }
        let c = openFlow.segmentCaches[bridge.id.index]
        return (c.hits, c.misses, c.stored, c.poisoned)
    }

    /// The exact-match cache counters of bridge `name`: lookups answered by the cache
    /// (hits) and lookups that went to the classifier (misses), all tables together; nil
    /// when there is no such bridge.
    public func exactMatchCacheCounters(bridge name: String) -> (hits: UInt64, misses: UInt64)? {
        guard let bridge = bridge(named: name) else { return nil }
        let c = openFlow.exactMatchCaches[bridge.id.index]
        return (c.hits.pointee, c.misses.pointee)
    }
}
