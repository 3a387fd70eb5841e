#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// In-memory ports: the transport for unit tests, replay and embedding programs that
// bring their own I/O. Frames go in as bytes, are copied into pool frames (with the
// pool's headroom) and processed in batches; what the datapath queued for a port comes
// out as bytes and the frames go back to the pool. Control-path code: it allocates.
extension Datapath {
    /// Copies `frames` into pool frames and processes them as received on `port`, in
    /// batches of `PacketBatch.defaultCapacity`. Frames longer than the pool's frames
    /// allow, or arriving when the pool is empty, are counted as `noBuffer` drops.
    public func inject(_ frames: [[UInt8]], into port: Port, now: DatapathInstant) {
        let batch = PacketBatch()
        let room = pool.frameSize - pool.headroom
        for bytes in frames {
            guard bytes.count <= room, let frame = pool.allocate() else {
                port.counters.received(bytes: UInt32(truncatingIfNeeded: bytes.count))
                port.counters.dropped(.noBuffer)
                continue
            }
            let address = frame + UInt64(pool.headroom)
            bytes.withUnsafeBytes { raw in
                if let source = raw.baseAddress { memcpy(pool.pointer(address), source, raw.count) }
            }
            batch.append(address: address, length: UInt32(bytes.count))
            if batch.isFull { process(batch, from: port.id, now: now) }
        }
        if !batch.isEmpty { process(batch, from: port.id, now: now) }
    }

    /// Convenience for one frame.
    public func inject(_ frame: [UInt8], into port: Port, now: DatapathInstant) { inject([frame], into: port, now: now) }

    /// Takes every frame queued on `port`, returns their bytes in order, and frees them.
    public func drainTransmitted(_ port: Port) -> [[UInt8]] {
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
