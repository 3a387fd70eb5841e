/// IPv4 address → MAC, in memory allocated once: the one neighbour cache of everything in
/// the datapath that sends IPv4 on a link — each router keeps one, and so does the tunnel
/// underlay (`Underlay`).
///
/// Open addressing with linear probing, at most half full; the address 0.0.0.0 (never a
/// neighbour) marks an empty slot. Entries are added and updated, never removed one by
/// one (learned neighbours do not age yet); when `capacity` entries exist new ones are
/// refused and the caller counts it.
@frozen
@usableFromInline
struct NeighbourTable {
    @usableFromInline let keys: UnsafeMutablePointer<UInt32>
    @usableFromInline let macs: UnsafeMutablePointer<UInt64>
    @usableFromInline let countPointer: UnsafeMutablePointer<Int>
    /// How many times a known entry's MAC changed (the fast path re-checks then).
    @usableFromInline let changes: UnsafeMutablePointer<UInt64>
    @usableFromInline let slotMask: Int
    @usableFromInline let shift: UInt64
    @usableFromInline let capacity: Int

    init(capacity: Int) {
        var slots = 8
        while slots < capacity * 2 { slots <<= 1 }
        self.capacity = capacity
        slotMask = slots - 1
        shift = UInt64(64 - slots.trailingZeroBitCount)
        keys = .allocate(capacity: slots)
        keys.initialize(repeating: 0, count: slots)
        macs = .allocate(capacity: slots)
        macs.initialize(repeating: 0, count: slots)
        countPointer = .allocate(capacity: 1)
        countPointer.initialize(to: 0)
        changes = .allocate(capacity: 1)
        changes.initialize(to: 0)
    }

    /// Frees the memory (the owner calls it once).
    func deallocate() {
        keys.deallocate()
        macs.deallocate()
        countPointer.deallocate()
        changes.deallocate()
    }

    /// The MAC of `address`, or nil.
    @inlinable
    func lookup(_ address: UInt32) -> UInt64? {
        var slot = RouteTableView.slot(UInt64(address), shift: shift)
        while true {
            let k = keys[slot]
            if k == address { return macs[slot] }
            if k == 0 { return nil }
            slot = (slot &+ 1) & slotMask
        }
    }

    /// Adds or updates; false when `address` is new and the table holds `limit` entries
    /// (at most `capacity`).
    @inlinable
    func set(_ address: UInt32, mac: UInt64, limit: Int? = nil) -> Bool {
        var slot = RouteTableView.slot(UInt64(address), shift: shift)
        while keys[slot] != 0 && keys[slot] != address { slot = (slot &+ 1) & slotMask }
        if keys[slot] == 0 {
            guard countPointer.pointee < min(limit ?? capacity, capacity) else { return false }
            countPointer.pointee &+= 1  // < capacity
            keys[slot] = address
        } else if macs[slot] != mac {
            changes.pointee &+= 1
        }
        macs[slot] = mac
        return true
    }

    /// Learns `address` at `mac` from an ARP packet: updates a known neighbour; adds a
    /// new one while the table is less than half full, or up to `capacity` when the owner
    /// asked for it (`askedFor`: frames wait for its answer). So a flood of ARP requests
    /// from made-up senders can fill half the table and never keep an answer we need from
    /// fitting. Returns `.full` when the neighbour was refused.
    @inlinable
    func learn(_ address: UInt32, mac: UInt64, askedFor: Bool) -> LearnResult {
        if lookup(address) != nil {
            _ = set(address, mac: mac)
            return .updated
        }
        return set(address, mac: mac, limit: askedFor ? capacity : capacity / 2) ? .added : .full
    }

    /// What `learn` did.
    @usableFromInline
    enum LearnResult {
        /// A known neighbour's MAC was written again (changed or not).
        case updated
        /// A new neighbour was added.
        case added
        /// A new neighbour was refused: the table holds what its limit allows.
        case full
    }

    /// Entries held now.
    var count: Int { countPointer.pointee }

    /// Every entry, for inspection (allocates).
    var entries: [(UInt32, UInt64)] {
        (0...slotMask).compactMap { keys[$0] == 0 ? nil : (keys[$0], macs[$0]) }
    }
}
