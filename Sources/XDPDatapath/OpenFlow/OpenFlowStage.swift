/// The state of the OpenFlow stage: each bridge's current flow table and its per-packet
/// view, the exact-match and flow-segment caches in front of the classifiers, the
/// segment recorder, flows `learn` queued during a batch, and when flows were last
/// checked for expiry. Indexed by bridge id; allocated once, freed by `deallocate`.
///
/// Every field is a constant pointer: the per-packet path reads and writes through them
/// with no retain and no exclusivity check. The `FlowTable` objects are owned by
/// `DatapathBridge.flowTable`; `tables` holds them unretained.
@frozen
@usableFromInline
struct OpenFlowStage {
    @usableFromInline let bridgeCount: Int
    /// Each bridge's current flow table (owned by `DatapathBridge.flowTable`).
    @usableFromInline let tables: UnsafeMutablePointer<Unmanaged<FlowTable>>
    /// Whether the bridge's table is anything but the default NORMAL-only table.
    @usableFromInline let active: UnsafeMutablePointer<Bool>
    @usableFromInline let views: UnsafeMutablePointer<FlowTableView>
    @usableFromInline let exactMatchCaches: UnsafeMutablePointer<ExactMatchCache>
    /// Each bridge's flow-segment cache, the recorder that fills them, and whether they
    /// are used (`DatapathConfiguration.flowSegmentCache`; FlowSegmentCache.swift).
    @usableFromInline let segmentCaches: UnsafeMutablePointer<FlowSegmentCache>
    @usableFromInline let recorder: UnsafeMutablePointer<SegmentRecorder>
    @usableFromInline let segmentCacheEnabled: Bool
    /// Flows learned during a batch, installed when the batch ends.
    @usableFromInline let learned: UnsafeMutablePointer<[(bridgeID: Int, rule: FlowRule)]>
    /// When flows were last checked for expiry (datapath clock).
    @usableFromInline let lastExpiry: UnsafeMutablePointer<UInt64>

    /// Each bridge's configured flows parsed into its first table version (none: the
    /// default NORMAL-only table), or the first refusal. Allocates nothing that a throwing
    /// initializer would leak: `Datapath.init` calls it before any stage allocates.
    static func parseTables(_ configuration: DatapathConfiguration, now: UInt64) throws(DatapathConfigurationError) -> [FlowTable] {
        var tables: [FlowTable] = []
        for bridgeConfig in configuration.bridges {
            if bridgeConfig.flows.isEmpty {
                tables.append(FlowTable.normalOnly(now: now))
                continue
            }
            var flows: [FlowTable.Flow] = []
            for (n, text) in bridgeConfig.flows.enumerated() {
                do {
                    let rule = try FlowParser.parse(text)
                    flows.append(FlowTable.Flow(rule: rule, counters: FlowCounters(now: now)))
                } catch {
                    throw DatapathConfigurationError(subject: bridgeConfig.name, key: "flows[\(n)]", message: "\(error)")
                }
            }
            tables.append(FlowTable(flows: flows, version: 1))
        }
        return tables
    }

    /// Installs `tables` (from `parseTables`) as the bridges' first table versions.
    init(configuration: DatapathConfiguration, bridges: [DatapathBridge], tables: [FlowTable], now: UInt64) {
        let count = max(bridges.count, 1)
        bridgeCount = bridges.count
        self.tables = .allocate(capacity: count)
        active = .allocate(capacity: count)
        views = .allocate(capacity: count)
        exactMatchCaches = .allocate(capacity: count)
        segmentCaches = .allocate(capacity: count)
        recorder = .allocate(capacity: 1)
        recorder.initialize(to: SegmentRecorder())
        segmentCacheEnabled = configuration.flowSegmentCache
        learned = .allocate(capacity: 1)
        learned.initialize(to: [])
        lastExpiry = .allocate(capacity: 1)
        lastExpiry.initialize(to: now)
        for (i, table) in tables.enumerated() {
            bridges[i].flowTable = table
            self.tables[i] = Unmanaged.passUnretained(table)
            (views + i).initialize(to: table.view)
            active[i] = !table.isNormalOnly
            (exactMatchCaches + i).initialize(to: ExactMatchCache(slots: Datapath.exactMatchCacheSlots))
            (segmentCaches + i).initialize(to: FlowSegmentCache(slots: segmentCacheEnabled ? Datapath.flowSegmentCacheSlots : 16))
        }
    }

    /// Makes `table` bridge `bridgeID`'s current version for the per-packet path (the
    /// caller keeps it alive in `DatapathBridge.flowTable`).
    func use(_ table: FlowTable, bridgeID: Int) {
        tables[bridgeID] = Unmanaged.passUnretained(table)
        views[bridgeID] = table.view
        active[bridgeID] = !table.isNormalOnly
    }

    func deallocate() {
        tables.deallocate()
        active.deallocate()
        views.deinitialize(count: bridgeCount)
        views.deallocate()
        for i in 0..<bridgeCount { exactMatchCaches[i].deallocate() }
        exactMatchCaches.deallocate()
        for i in 0..<bridgeCount { segmentCaches[i].deallocate() }
        segmentCaches.deallocate()
        recorder.pointee.deallocate()
        recorder.deallocate()
        learned.deinitialize(count: 1)
        learned.deallocate()
        lastExpiry.deallocate()
    }
}
