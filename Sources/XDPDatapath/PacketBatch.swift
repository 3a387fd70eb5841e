/// A fixed-capacity list of frames (address + length), the unit of work of every stage.
///
/// Storage is allocated once; appending never allocates. A batch does not own its
/// frames' memory — the `FramePool` does — but while a frame's address is in a batch,
/// the batch is the one place that frame is.
public final class PacketBatch {
    /// Default capacity: large enough to amortise per-batch costs, small enough for L1.
    public static let defaultCapacity = 64

    public let capacity: Int
    /// Number of frames in the batch.
    public var count: Int = 0
    /// Address of the first byte of each frame's data (an offset into the pool).
    public let addresses: UnsafeMutablePointer<UInt64>
    /// Length in bytes of each frame.
    public let lengths: UnsafeMutablePointer<UInt32>

    public init(capacity: Int = PacketBatch.defaultCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.addresses = .allocate(capacity: capacity)
        self.lengths = .allocate(capacity: capacity)
    }

    deinit {
        addresses.deallocate()
        lengths.deallocate()
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable public var isFull: Bool { count == capacity }

    /// Appends a frame; returns false (and leaves the batch unchanged) when full.
    @inlinable
    @discardableResult
    public func append(address: UInt64, length: UInt32) -> Bool {
        guard count < capacity else { return false }
        addresses[count] = address
        lengths[count] = length
        count &+= 1  // < capacity checked above
        return true
    }

    /// Forgets every frame (the caller has taken them elsewhere).
    @inlinable public func removeAll() { count = 0 }
}
