// A tracker's connections in a state file (StateFile.swift), so a restarted switch
// adopts them.
//
// Layout of the payload: the `capacity` entries, then (at the next 64-byte boundary) the
// 2 × `capacity` TCP peers — exactly the two arrays the tracker allocates otherwise, used
// in place. The index, the expiry lists' heads and tails, the zone counts and the scalars
// stay in ordinary memory: all of them are derived from the entries, and they are what a
// `kill -9` in the middle of an update can leave half-written. So adoption trusts only the
// entries, one at a time (`rebuildFromEntries`): an entry in use must have known flags, a
// known timeout class, keys of family 4 or 6 in one zone, and keys no earlier entry holds;
// anything else is dropped (counted in the report). The kept entries are indexed in both
// directions, put on their class's expiry list in order of expiration (which is what
// keeps every list sorted), counted in their zones, and every other entry goes on the
// free list. An entry already expired is kept: the first lookup or the sweep frees it,
// as it would have without the restart. The cost is one pass over the entries and a
// sort of the live ones, at start, never per packet.
//
// Geometry: capacity and the strides of an entry, a peer and a key. A different capacity
// or a different layout of the entry (a new switch whose entry changed without the format
// version being bumped would still be refused by its stride) starts empty with the reason.
// Timestamps (`expiration`) are on the datapath clock, CLOCK_BOOTTIME (`StateFile`).

extension ConnectionTracker {
    /// The magic of a connection tracker's state file: "XDPSWct1".
    public static let stateFileKind: UInt64 = 0x3174_6357_5350_4458
    /// The format of the entries this switch writes; a file of another version is refused.
    public static let stateFileVersion: UInt32 = 1

    /// Where a tracker's entries and TCP peers live: a state file, or ordinary memory.
    struct ConnectionMemory {
        var entries: UnsafeMutablePointer<ConntrackEntry>
        var peers: UnsafeMutablePointer<TCPPeer>
        var file: StateFile?
        var path: String?
        /// Why the state file could not be made at all.
        var failure: String?
    }

    /// The state file's geometry for `capacity` connections.
    static func stateGeometry(capacity: Int) -> (geometry: [UInt64], peersOffset: Int, size: Int) {
        let entryBytes = capacity * MemoryLayout<ConntrackEntry>.stride
        let peersOffset = (entryBytes + 63) & ~63
        let size = peersOffset + 2 * capacity * MemoryLayout<TCPPeer>.stride
        return ([UInt64(capacity), UInt64(MemoryLayout<ConntrackEntry>.stride), UInt64(MemoryLayout<TCPPeer>.stride),
                 UInt64(MemoryLayout<ConntrackKey>.stride)], peersOffset, size)
    }

    /// The memory for `configuration`'s entries and peers: its state file's payload when
    /// it names one that can be opened (adopted or new), else allocated here.
    static func connectionMemory(_ configuration: ConntrackConfiguration) -> ConnectionMemory {
        let capacity = configuration.capacity
        var failure: String?
        if let path = configuration.stateFile {
            let (geometry, peersOffset, size) = stateGeometry(capacity: capacity)
            do {
                let file = try StateFile.open(path: path, kind: stateFileKind, version: stateFileVersion,
                                              geometry: geometry, payloadSize: size)
                let entries = file.payload.bindMemory(to: ConntrackEntry.self, capacity: capacity)
                let peers = (file.payload + peersOffset).bindMemory(to: TCPPeer.self, capacity: 2 * capacity)
                return ConnectionMemory(entries: entries, peers: peers, file: file, path: path)
            } catch {
                failure = "\(error)"
            }
        }
        return ConnectionMemory(entries: .allocate(capacity: capacity), peers: .allocate(capacity: capacity * 2),
                                file: nil, path: configuration.stateFile, failure: failure)
    }

    /// What became of the state file, in one line (nil: none configured, or a new file
    /// where there was none).
    static func describe(_ memory: ConnectionMemory, adoption: (kept: Int, dropped: Int)) -> String? {
        guard let path = memory.path else { return nil }
        guard let file = memory.file else {
            return "state file \(path): \(memory.failure ?? "not made"); connections will not survive a restart"
        }
        if let refusal = file.refusal { return "state file \(path): \(refusal); starting with no connections" }
        guard file.adopted else { return nil }
        var line = "state file \(path): adopted \(adoption.kept) connection\(adoption.kept == 1 ? "" : "s")"
        line += " (generation \(file.generation), the previous switch \(file.closedCleanly ? "stopped cleanly" : "ended without closing it"))"
        if adoption.dropped > 0 { line += "; \(adoption.dropped) inconsistent entr\(adoption.dropped == 1 ? "y" : "ies") dropped" }
        return line
    }

    /// Rebuilds the index, the expiry lists, the zone counts and the free list from the
    /// entries alone (see the top of ConntrackStateFile.swift), in a tracker whose index
    /// and lists are empty. Returns the entries kept and those dropped as inconsistent.
    func rebuildFromEntries() -> (kept: Int, dropped: Int) {
        var live: [(expiration: UInt64, entry: Int)] = []
        var dropped = 0
        for e in 0..<capacity where entries[e].flags & ConntrackEntry.inUse != 0 {
            let entry = entries[e]
            let valid = entry.flags & ~(ConntrackEntry.inUse | ConntrackEntry.seenReply | ConntrackEntry.natMask | ConntrackEntry.liberal) == 0
                && Int(entry.timeoutClass) < ConntrackTimeoutClass.count
                && (entry.original.family == 4 || entry.original.family == 6)
                && entry.reply.family == entry.original.family && entry.reply.zone == entry.original.zone
                && entry.reply.proto == entry.original.proto
            if valid { live.append((entry.expiration, e)) } else { entries[e].flags = 0; dropped += 1 }
        }
        live.sort { ($0.expiration, $0.entry) < ($1.expiration, $1.entry) }
        var kept = 0
        for (_, e) in live {
            let original = entries[e].original, reply = entries[e].reply
            let originalHash = original.hash(seed: seed), replyHash = reply.hash(seed: seed)
            if lookup(original, hash: originalHash) >= 0 || (reply != original && lookup(reply, hash: replyHash) >= 0) {
                entries[e].flags = 0
                dropped += 1
                continue
            }
            indexInsert(hash: originalHash, entry: e, direction: 0)
            indexInsert(hash: replyHash, entry: e, direction: 1)
            listAppend(e, class: entries[e].timeoutClass)
            zoneCounts[Int(original.zone)] &+= 1
            kept += 1
        }
        scalars.pointee.live = kept
        var head = Self.nilIndex
        for e in stride(from: capacity - 1, through: 0, by: -1) where entries[e].flags & ConntrackEntry.inUse == 0 {
            entries[e].prev = Self.nilIndex
            entries[e].next = head
            head = UInt32(e)
        }
        scalars.pointee.freeHead = head
        return (kept, dropped)
    }

    /// The state file the connections live in, if any.
    public var stateFilePath: String? { stateFile?.path }
}
