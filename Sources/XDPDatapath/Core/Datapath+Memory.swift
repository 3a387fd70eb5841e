// In-memory ports: the transport for unit tests, replay and embedding programs that
// bring their own I/O. Frames go in as bytes, are copied into pool frames (with the
// pool's headroom) and processed in batches; what the datapath queued for a port comes
// out as bytes and the frames go back to the pool. Control-path code: it allocates.
extension Datapath {
    /// Copies `frames` into pool frames and processes them as received on `port`, in
    /// batches of `PacketBatch.defaultCapacity`. Frames longer than the pool's frames
    /// allow (`pool.dataCapacity`), or arriving when the pool is empty, are counted as
    /// `noBuffer` drops on `port`. Returns how many frames the datapath took: the rest,
    /// `frames.count` minus the result, were dropped as `noBuffer`.
    @discardableResult
    public func inject(_ frames: [[UInt8]], into port: DatapathPort, now: DatapathInstant) -> Int {
        let batch = PacketBatch()
        var accepted = 0
        for bytes in frames {
            // A frame too long for the pool's frames goes straight back (the handle is dropped).
            guard var frame = pool.allocateFrame(), (try? frame.write(bytes: bytes)) != nil else {
                port.counters.received(bytes: UInt32(truncatingIfNeeded: bytes.count))
                port.counters.dropped(.noBuffer)
                continue
            }
            batch.append(frame)
            accepted += 1
            if batch.isFull { process(batch, from: port.id, now: now) }
        }
        if !batch.isEmpty { process(batch, from: port.id, now: now) }
        return accepted
    }

    /// Convenience for one frame: true when the datapath took it, false when it was
    /// dropped as `noBuffer` (too long for a pool frame, or the pool empty).
    @discardableResult
    public func inject(_ frame: [UInt8], into port: DatapathPort, now: DatapathInstant) -> Bool { inject([frame], into: port, now: now) == 1 }

    /// Takes every frame queued on `port`, returns their bytes in order, and frees them.
    public func drainTransmitted(_ port: DatapathPort) -> [[UInt8]] {
        let queue = port.txQueue
        var out: [[UInt8]] = []
        out.reserveCapacity(queue.count)
        for i in 0..<queue.count {
            let raw = UnsafeRawBufferPointer(start: pool.pointer(queue.addresses[i]), count: Int(queue.lengths[i]))
            out.append(Array(raw))
            pool.free(queue.addresses[i])
        }
        queue.removeAll()
        return out
    }

    /// Frees every frame queued on every port (what a port with no transport does).
    public func discardTransmitted() {
        for port in ports {
            let queue = port.txQueue
            for i in 0..<queue.count { pool.free(queue.addresses[i]) }
            queue.removeAll()
        }
    }

    /// Frames the datapath holds, out of the pool's free list: those queued on ports,
    /// held fragments, frames the services hold (routers' frames waiting for ARP answers)
    /// and frames waiting for an underlay neighbour. The one frame-accounting invariant:
    /// with nothing in flight elsewhere, `pool.freeCount + framesQueued == pool.frameCount`
    /// (the engine adds its rings; the tests and the fuzzers check exactly this).
    public var framesQueued: Int {
        ports.reduce(0) { $0 + $1.txQueue.count } + connectionTracking.heldFragments.count + serviceFramesHeld
            + (underlay?.pendingCount ?? 0)
    }
}
