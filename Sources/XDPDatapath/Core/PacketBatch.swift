/// A fixed-capacity list of frames (address + length), the unit of work of every stage.
///
/// Storage is allocated once; appending never allocates. A batch does not own its
/// frames' memory — the `FramePool` does — but while a frame's address is in a batch,
/// the batch is the one place that frame is.
public final class PacketBatch {
    /// Default capacity: large enough to amortise per-batch costs, small enough for L1.
    public static let defaultCapacity = 64

    /// The most frames the batch holds (fixed at init).
    public let capacity: Int
    /// Address of the first byte of each frame's data (an offset into the pool).
    public let addresses: UnsafeMutablePointer<UInt64>
    /// Length in bytes of each frame.
    public let lengths: UnsafeMutablePointer<UInt32>
    /// The same storage as a plain value, for per-packet code that must not touch the
    /// class (no retain, no exclusivity check).
    public let storage: BatchStorage

    /// An empty batch with room for `capacity` (> 0) frames; allocates its storage once, here.
    public init(capacity: Int = PacketBatch.defaultCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.addresses = .allocate(capacity: capacity)
        self.lengths = .allocate(capacity: capacity)
        let count = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        count.initialize(to: 0)
        storage = BatchStorage(addresses: addresses, lengths: lengths, countPointer: count, capacity: capacity)
    }

    deinit {
        addresses.deallocate()
        lengths.deallocate()
        storage.countPointer.deallocate()
    }

    /// Number of frames in the batch.
    @inlinable public var count: Int {
        get { storage.countPointer.pointee }
        set { storage.countPointer.pointee = newValue }
    }

    /// No frame in the batch.
    @inlinable public var isEmpty: Bool { count == 0 }
    /// `capacity` frames in the batch: `append` would refuse.
    @inlinable public var isFull: Bool { count == capacity }

    /// Appends a frame; returns false (and leaves the batch unchanged) when full.
    @inlinable
    @discardableResult
    public func append(address: UInt64, length: UInt32) -> Bool { storage.append(address: address, length: length) }

    /// Forgets every frame (the caller has taken them elsewhere).
    @inlinable public func removeAll() { count = 0 }
}

/// A batch's memory as a value: the pointers and the capacity. Copies share the batch.
@frozen
public struct BatchStorage {
    /// Each frame's address (the batch's `addresses`).
    public let addresses: UnsafeMutablePointer<UInt64>
    /// Each frame's length in bytes (the batch's `lengths`).
    public let lengths: UnsafeMutablePointer<UInt32>
    /// Where the batch's frame count lives; writing it changes the batch's `count`.
    public let countPointer: UnsafeMutablePointer<Int>
    /// The most frames the storage holds.
    public let capacity: Int

    @inlinable
    init(addresses: UnsafeMutablePointer<UInt64>, lengths: UnsafeMutablePointer<UInt32>, countPointer: UnsafeMutablePointer<Int>, capacity: Int) {
        self.addresses = addresses
        self.lengths = lengths
        self.countPointer = countPointer
        self.capacity = capacity
    }

    /// Appends a frame; false when full.
    @inlinable
    public func append(address: UInt64, length: UInt32) -> Bool {
        let n = countPointer.pointee
        guard n < capacity else { return false }
        addresses[n] = address
        lengths[n] = length
        countPointer.pointee = n &+ 1  // < capacity checked above
        return true
    }
}
