import XDPPacket

extension Datapath {
    /// The decision the datapath takes now for an IPv4 frame with `key` (NORMAL's, or for a
    /// connection key the one through the tables or a router), or nil when it is nothing
    /// the fast path repeats (Datapath+FastPath.swift). For a transport that adopts the
    /// entries a previous process left in the kernel: an entry holds only its key and the
    /// flattened action, so the path along the bridges is worked out again from the MAC
    /// tables as they stand, and the transport keeps the entry only when the answer is the
    /// same action. Control path (borrows one frame of the pool for the header).
    public func fastPathDecision(for key: FastPathKey, now instant: DatapathInstant) -> FastPathDecision? {
        let now = instant.nanoseconds
        // A tunnel's entries are keyed by an id the process that installed them assigned.
        guard key.tunnelID == nil else { return nil }
        if key.connection != nil {
            guard let (decision, _) = workOutConnectionPath(key, now: now) ?? workOutRoutedPath(key, now: now) else { return nil }
            trackLiberally(decision)
            return decision
        }
        guard ports.indices.contains(key.inPort.index), let frameAddress = pool.allocate() else { return nil }
        defer { pool.free(frameAddress) }
        let address = frameAddress &+ UInt64(pool.headroom)
        let frame = pool.pointer(address)
        let length: UInt32 = key.tagged ? 64 : 60
        frame.initializeMemory(as: UInt8.self, repeating: 0, count: Int(length))
        frame.storeBE48(key.dst, at: 0)
        frame.storeBE48(key.src, at: 6)
        if key.tagged {
            frame.storeBE16(0x8100, at: 12)
            frame.storeBE16(key.tci, at: 14)
            frame.storeBE16(0x0800, at: 16)
        } else {
            frame.storeBE16(0x0800, at: 12)
        }
        guard predictNormalPath(address: address, length: length, from: key.inPort, now: now) else { return nil }
        var record = fastPath.record.pointee
        record.outDst = record.dst
        record.outSrc = record.src
        return decision(of: record, steps: fastPath.steps)
    }
}
