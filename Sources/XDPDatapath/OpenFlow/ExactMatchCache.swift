/// The exact-match cache in front of a bridge's classifier: a direct-mapped array from
/// (full flow key, table) to the flow it matched (or a miss).
///
/// Each slot is tagged with the table version it was filled under, so installing a new
/// version of the tables invalidates every slot without touching them. A lookup is a
/// hash, one 17-word compare and, on a hit, no classifier work at all. Memory is
/// allocated once; the per-packet path uses the value through raw pointers.
@frozen
@usableFromInline
struct ExactMatchCache {
    @usableFromInline let keys: UnsafeMutablePointer<FlowKey>
    /// `FlowTableView.cacheTag(table:)` of the fill (0: empty).
    @usableFromInline let tags: UnsafeMutablePointer<UInt64>
    @usableFromInline let results: UnsafeMutablePointer<Int32>
    @usableFromInline let hits: UnsafeMutablePointer<UInt64>
    @usableFromInline let misses: UnsafeMutablePointer<UInt64>
    @usableFromInline let mask: Int

    init(slots: Int) {
        var size = 16
        while size < slots { size <<= 1 }
        mask = size - 1
        keys = .allocate(capacity: size)
        keys.initialize(repeating: FlowKey(), count: size)
        tags = .allocate(capacity: size)
        tags.initialize(repeating: 0, count: size)
        results = .allocate(capacity: size)
        results.initialize(repeating: -1, count: size)
        hits = .allocate(capacity: 2)
        hits.initialize(repeating: 0, count: 2)
        misses = hits + 1
    }

    func deallocate() {
        keys.deallocate()
        tags.deallocate()
        results.deallocate()
        hits.deallocate()
    }
}
