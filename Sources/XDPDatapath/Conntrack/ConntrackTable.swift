// The connection index, the entry free list and the expiry lists of a
// `ConnectionTracker` (see the essay in Conntrack.swift for the invariants).

extension ConnectionTracker {
    // MARK: Index

    /// The slot value for `entry` in `direction` (0 original, 1 reply) with `hash`.
    @inline(__always)
    func slotValue(hash: UInt64, entry: Int, direction: Int) -> UInt64 {
        (hash & 0xFFFF_FFFF) << 32 | UInt64(entry &* 2 &+ direction &+ 1)
    }

    /// `entry * 2 + direction` of the connection with `key`, or -1.
    @inline(__always)
    func lookup(_ key: ConntrackKey, hash: UInt64) -> Int {
        let tag = hash & 0xFFFF_FFFF
        var i = Int(truncatingIfNeeded: hash) & slotMask
        while true {
            let s = slots[i]
            if s == 0 { return -1 }
            if s >> 32 == tag {
                let ed = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) &- 1
                let e = ed >> 1
                if ed & 1 == 0 ? entries[e].original == key : entries[e].reply == key { return ed }
            }
            i = (i &+ 1) & slotMask
        }
    }

    @inline(__always)
    func indexInsert(hash: UInt64, entry: Int, direction: Int) {
        var i = Int(truncatingIfNeeded: hash) & slotMask
        while slots[i] != 0 { i = (i &+ 1) & slotMask }
        slots[i] = slotValue(hash: hash, entry: entry, direction: direction)
    }

    /// Removes the slot of `entry` in `direction` (whose key hashes to `hash`), then
    /// shifts later members of the probe run back so no lookup ever stops early.
    func indexRemove(hash: UInt64, entry: Int, direction: Int) {
        let value = slotValue(hash: hash, entry: entry, direction: direction)
        var i = Int(truncatingIfNeeded: hash) & slotMask
        while slots[i] != value {
            if slots[i] == 0 { return }  // not indexed: nothing to do (cannot happen for a live entry)
            i = (i &+ 1) & slotMask
        }
        slots[i] = 0
        var j = i
        while true {
            j = (j &+ 1) & slotMask
            let s = slots[j]
            if s == 0 { return }
            let home = Int(truncatingIfNeeded: s >> 32) & slotMask
            // Leave s where it is if its home lies cyclically in (i, j].
            let stays = i <= j ? (home > i && home <= j) : (home > i || home <= j)
            if !stays {
                slots[i] = s
                slots[j] = 0
                i = j
            }
        }
    }

    // MARK: Entries

    /// Takes an entry off the free list for `key` (original direction), indexes both
    /// directions and counts it in its zone. The caller checked the limits, so the
    /// free list is not empty (global limit ≤ capacity). `reply`: the reply key of a
    /// translated connection (default: the reverse of `key`).
    func insert(_ key: ConntrackKey, hash: UInt64, reply translatedReply: ConntrackKey? = nil) -> Int {
        let e = Int(scalars.pointee.freeHead)
        scalars.pointee.freeHead = entries[e].next
        let reply = translatedReply ?? key.reversed()
        entries[e] = ConntrackEntry(original: key, reply: reply, expiration: 0, prev: Self.nilIndex,
                                    next: Self.nilIndex, mark: 0, timeoutClass: 0, flags: ConntrackEntry.inUse)
        peers[2 &* e] = TCPPeer()
        peers[2 &* e &+ 1] = TCPPeer()
        indexInsert(hash: hash, entry: e, direction: 0)
        indexInsert(hash: reply.hash(seed: seed), entry: e, direction: 1)
        scalars.pointee.live &+= 1
        zoneCounts[Int(key.zone)] &+= 1
        listAppend(e, class: 0)  // every live entry is on a list; setTimeout moves it
        return e
    }

    /// Unindexes `e`, unlinks it from its expiry list and returns it to the free list.
    func remove(entry e: Int) {
        let original = entries[e].original
        let reply = entries[e].reply
        indexRemove(hash: original.hash(seed: seed), entry: e, direction: 0)
        indexRemove(hash: reply.hash(seed: seed), entry: e, direction: 1)
        listUnlink(e)
        zoneCounts[Int(original.zone)] &-= 1
        scalars.pointee.live &-= 1
        entries[e].flags = 0
        entries[e].next = scalars.pointee.freeHead
        scalars.pointee.freeHead = UInt32(e)
    }

    // MARK: Expiry lists

    @inline(__always)
    func listAppend(_ e: Int, class c: UInt8) {
        let ci = Int(c)
        entries[e].timeoutClass = c
        entries[e].next = Self.nilIndex
        let tail = listTails[ci]
        entries[e].prev = tail
        if tail == Self.nilIndex { listHeads[ci] = UInt32(e) } else { entries[Int(tail)].next = UInt32(e) }
        listTails[ci] = UInt32(e)
    }

    @inline(__always)
    func listUnlink(_ e: Int) {
        let ci = Int(entries[e].timeoutClass)
        let p = entries[e].prev, n = entries[e].next
        if p == Self.nilIndex { listHeads[ci] = n } else { entries[Int(p)].next = n }
        if n == Self.nilIndex { listTails[ci] = p } else { entries[Int(n)].prev = p }
    }

    /// Restarts `e`'s timer on class `c`: expiration = now + that timeout, moved to the
    /// tail of that class's list (which keeps every list sorted by expiration).
    @inline(__always)
    func setTimeout(entry e: Int, _ c: ConntrackTimeoutClass, now: UInt64) {
        listUnlink(e)
        entries[e].expiration = now &+ timeoutNanos[Int(c.rawValue)]
        listAppend(e, class: c.rawValue)
    }

    /// One step of the incremental sweep: the head of one list (round robin), up to
    /// `expiryBudget` expired entries.
    @inline(__always)
    func sweepStep(now: UInt64) {
        guard expiryBudget > 0 else { return }
        let classes = ConntrackTimeoutClass.count
        let c = scalars.pointee.sweepCursor
        scalars.pointee.sweepCursor = c &+ 1 == classes ? 0 : c &+ 1
        _ = expireList(c, now: now, budget: expiryBudget)
    }

    func expireList(_ c: Int, now: UInt64, budget: Int) -> Int {
        var freed = 0
        while freed < budget {
            let head = listHeads[c]
            if head == Self.nilIndex || entries[Int(head)].expiration > now { break }
            remove(entry: Int(head))
            bump(.expired)
            freed &+= 1
        }
        return freed
    }

    /// Frees up to `budget` expired connections (and drops timed-out fragment
    /// reassemblies). For a caller with idle time (between batches, a timer): `track`
    /// already sweeps a little on each call. Returns the number of connections freed.
    @discardableResult
    public func expire(now instant: DatapathInstant, budget: Int = .max) -> Int {
        let now = instant.nanoseconds
        var freed = 0
        for c in 0..<ConntrackTimeoutClass.count where freed < budget {
            freed &+= expireList(c, now: now, budget: budget &- freed)
        }
        expireFragments(now: now)
        return freed
    }

    /// The timeout of `c`.
    public func timeout(_ c: ConntrackTimeoutClass) -> Duration { .nanoseconds(timeoutNanos[Int(c.rawValue)]) }
}
