import Testing
import XDPDatapath
import XDPPacket

/// Frames an embedder fills itself go in through a `FrameHandle`, which starts past the
/// pool's headroom: a VLAN push or a tunnel header then has room, and a handle dropped on
/// an error path gives its frame back.
@Suite struct FrameHandleTests {
    struct PoolEmpty: Error {}

    /// A frame from `pool`, or a thrown error when it is empty.
    func take(_ pool: FramePool) throws -> FrameHandle {
        guard let frame = pool.allocateFrame() else { throw PoolEmpty() }
        return frame
    }

    @Test func aHandleStartsPastTheHeadroomAndReturnsItsFrameWhenDropped() throws {
        let pool = FramePool(frameCount: 4, frameSize: 2048, headroom: 256)
        do {
            let frame = try take(pool)
            let (address, capacity, length, bytes) = (frame.address, frame.capacity, frame.length, frame.bytes)
            #expect(pool.freeCount == 3)
            #expect(pool.headroom(before: address) == 256)
            #expect(capacity == 2048 - 256 && capacity == pool.dataCapacity)
            #expect(length == 0 && bytes.isEmpty)
        }
        #expect(pool.freeCount == 4, "the dropped handle gave its frame back")

        var frame = try take(pool)
        var refusal: FrameHandle.WriteError?
        do { try frame.write(bytes: [UInt8](repeating: 1, count: 1793)) } catch { refusal = error }
        #expect(refusal == .tooLong(length: 1793, capacity: 1792))
        let lengthAfterRefusal = frame.length
        #expect(lengthAfterRefusal == 0, "a refused write leaves the frame as it was")
        try frame.write(bytes: [1, 2, 3])
        let written = frame.bytes
        #expect(written == [1, 2, 3])
        try frame.write(bytes: (0..<5).lazy.map { UInt8($0) })  // not contiguous: copied element by element
        let rewritten = frame.bytes
        #expect(rewritten == [0, 1, 2, 3, 4])
        var seen = 0
        frame.withUnsafeMutableBytes { buffer in
            seen = buffer.count
            buffer[0] = 9
            return 5_000  // more than the capacity: clamped
        }
        let (clamped, first) = (frame.length, frame.bytes.first)
        #expect(seen == 1792)
        #expect(clamped == 1792 && first == 9)
        pool.free(frame)
        #expect(pool.freeCount == 4)
    }

    @Test func aHandleIntoTheDatapathIsDeliveredOnTheRightPortWithRoomToTag() throws {
        let h = try Harness(accessTrunkBridge(), frames: 64)
        // B speaks first, so the bridge learns where it is.
        h.send(TestFrame.ethernet(dst: BCAST, src: B), on: "qvo-b")
        _ = h.collect()

        // A broadcast from an access port: the trunks get VLAN 1 pushed into the headroom.
        let broadcast = TestFrame.ethernet(dst: BCAST, src: A)
        var frame = try take(h.pool)
        try frame.write(bytes: broadcast)
        h.datapath.process(frame, from: h.port("qvo-a"), now: DatapathInstant(nanoseconds: h.now))
        let flooded = h.collect()
        #expect(Set(flooded.keys) == ["qvo-b", "trunk", "trunk-all"])
        #expect(flooded["qvo-b"] == [broadcast])
        #expect(flooded["trunk"].map { $0.map(TestFrame.vlan) } == [1])
        #expect(flooded["trunk"].map { $0.map(TestFrame.untag) } == [broadcast])
        #expect(h.datapath.ports.allSatisfy { $0.stats.totalDrops == 0 }, "no frame dropped (no-headroom among them)")

        // Unicast to the learned B, filled in place: only qvo-b sends it.
        let unicast = TestFrame.ethernet(dst: B, src: A)
        var filled = try take(h.pool)
        filled.withUnsafeMutableBytes { buffer in
            buffer.copyBytes(from: unicast)
            return unicast.count
        }
        h.datapath.process(filled, from: h.port("qvo-a"), now: DatapathInstant(nanoseconds: h.now))
        #expect(h.collect() == ["qvo-b": [unicast]])
        #expect(h.accountingHolds)
        #expect(h.pool.freeCount == h.pool.frameCount)

        // What the handle spares: the raw frame start, headroom forgotten. Flood copies get
        // fresh frames with headroom, but the original goes out on the last trunk, which
        // cannot push the tag in front of it.
        let start = try #require(h.pool.allocate())
        broadcast.withUnsafeBytes { h.pool.pointer(start).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let raw = PacketBatch(capacity: 1)
        raw.append(address: start, length: UInt32(broadcast.count))
        h.datapath.process(raw, from: h.port("qvo-a").id, now: DatapathInstant(nanoseconds: h.now))
        #expect(h.collect().count == 2, "qvo-b and one trunk; the other trunk lost its frame")
        #expect(h.datapath.ports.reduce(0) { $0 + ($1.stats.drops[.noHeadroom] ?? 0) } == 1)
        #expect(h.accountingHolds)
    }

    @Test func handlesInABatchAreProcessedTogether() throws {
        let h = try Harness(accessTrunkBridge(), frames: 64)
        let batch = PacketBatch(capacity: 2)
        let frames = [TestFrame.ethernet(dst: BCAST, src: A), TestFrame.ethernet(dst: BCAST, src: C, payloadLength: 60)]
        for bytes in frames {
            var frame = try take(h.pool)
            try frame.write(bytes: bytes)
            batch.append(frame)
        }
        #expect(batch.isFull && batch.lengths[0] == UInt32(frames[0].count))
        h.datapath.process(batch, from: h.port("qvo-a").id, now: DatapathInstant(nanoseconds: h.now))
        let out = h.collect()
        #expect(out["qvo-b"] == frames)
        #expect(out["trunk"].map { $0.map(TestFrame.vlan) } == [1, 1])
        #expect(h.accountingHolds)
    }

    @Test func injectReportsFramesThePoolCouldNotTake() throws {
        let h = try Harness([BridgeConfiguration(name: "br", ports: [PortConfiguration(name: "in")])], frames: 8)
        let port = h.port("in")
        let frame = TestFrame.ethernet(dst: BCAST, src: A)
        // Hold all but two frames, as rings or held fragments would.
        var held: [UInt64] = []
        while h.pool.freeCount > 2 { held.append(h.pool.allocate()!) }

        #expect(h.datapath.inject([frame, frame, frame], into: port, now: DatapathInstant(nanoseconds: h.now)) == 2)
        #expect(port.stats.drops[.noBuffer] == 1)
        #expect(h.pool.freeCount == 2, "a one-port bridge floods nowhere: both frames went back")

        let tooLong = [UInt8](repeating: 0, count: h.pool.dataCapacity + 1)
        #expect(h.datapath.inject([frame, tooLong], into: port, now: DatapathInstant(nanoseconds: h.now)) == 1)
        #expect(port.stats.drops[.noBuffer] == 2)

        while h.pool.freeCount > 0 { held.append(h.pool.allocate()!) }
        #expect(h.datapath.inject(frame, into: port, now: DatapathInstant(nanoseconds: h.now)) == false)
        #expect(h.datapath.inject([frame, frame], into: port, now: DatapathInstant(nanoseconds: h.now)) == 0)
        #expect(port.stats.drops[.noBuffer] == 5)
        let exhausted = h.pool.allocateFrame() == nil
        #expect(exhausted)

        for address in held { h.pool.free(address) }
        #expect(h.datapath.inject(frame, into: port, now: DatapathInstant(nanoseconds: h.now)) == true)
        #expect(h.accountingHolds && h.pool.freeCount == h.pool.frameCount)
    }
}
