/// The state of the L2 stage (the NORMAL action): each bridge's MAC learning table, as
/// the per-packet path reads it. The tables themselves belong to their `DatapathBridge`
/// (`DatapathBridge.macTable`, which frees them); this is the array of plain views, indexed by
/// bridge id, that NORMAL reads without a retain or an exclusivity check.
@frozen
@usableFromInline
struct L2Stage {
    @usableFromInline let macTables: UnsafeMutablePointer<MACTableStorage>
    @usableFromInline let bridgeCount: Int

    init(bridges: [DatapathBridge]) {
        bridgeCount = bridges.count
        macTables = .allocate(capacity: max(bridges.count, 1))
        for (i, bridge) in bridges.enumerated() { (macTables + i).initialize(to: bridge.macTable.storage) }
    }

    func deallocate() {
        macTables.deinitialize(count: bridgeCount)
        macTables.deallocate()
    }
}
