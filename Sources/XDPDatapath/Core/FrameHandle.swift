#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The safe way in for embedders that fill frames themselves. A raw `FramePool.allocate()`
// returns a frame's *start*; the datapath expects data at `start + headroom`, because a VLAN
// push or a GRE encapsulation prepends its bytes in place, in front of the data. A caller
// that forgets the offset hands the datapath a frame with no room in front, and the frame is
// dropped later as `no-headroom` on another port's counters. A `FrameHandle` starts past the
// headroom, knows its capacity, and is handed over whole: nothing outside the pool does the
// arithmetic.
//
// The handle is non-copyable: a frame is in one place at a time, so the handle that owns it
// is moved (to the datapath, to a batch, back to the pool), never duplicated. A handle that
// is dropped without being handed over returns its frame to the pool, so a thrown error or
// an early return cannot leak one. The raw address path (the AF_XDP engine's rings, the
// datapath's own per-packet copies) does not use handles and pays nothing for them.

/// One frame from a `FramePool`, owned: data starts past the pool's headroom, `length`
/// bytes of it are the frame, `capacity` bytes are the most it can hold.
///
/// ```swift
/// guard var frame = datapath.pool.allocateFrame() else { return }   // nil: pool empty
/// try frame.write(bytes: ethernetFrame)                              // [UInt8], or fill it:
/// // frame.withUnsafeMutableBytes { buffer in ...; return written }
/// datapath.process(frame, from: port, now: now)                     // consumed
/// ```
///
/// A handle is moved, never copied. Give it to the datapath (`Datapath.process(_:from:now:)`,
/// `PacketBatch.append(_:)`) or back to the pool (`FramePool.free(_:)`); a handle that is
/// dropped instead returns its frame to the pool itself. Like its pool, not thread-safe.
public struct FrameHandle: ~Copyable {
    /// The pool, retained by hand so that every stored property is trivial (which
    /// `discard self` needs when the frame is handed over).
    private let unmanagedPool: Unmanaged<FramePool>
    /// The address of the first data byte (an offset into the pool, past its headroom):
    /// what `PacketBatch.append(address:length:)` takes.
    public let address: UInt64
    /// The most bytes the frame holds: from `address` to the end of the pool frame.
    public let capacity: Int
    /// Bytes of frame data from `address` (0 when allocated; set by `write(bytes:)` or by
    /// the value `withUnsafeMutableBytes` returns).
    public private(set) var length: Int = 0

    init(pool: FramePool, start: UInt64) {
        unmanagedPool = .passRetained(pool)
        address = start &+ UInt64(pool.headroom)
        capacity = pool.dataCapacity
    }

    deinit {
        let pool = unmanagedPool.takeRetainedValue()
        pool.free(address)
    }

    /// The pool the frame belongs to.
    public var pool: FramePool { unmanagedPool.takeUnretainedValue() }

    /// Why a frame could not be filled.
    public enum WriteError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The bytes do not fit: `length` bytes offered, `capacity` available.
        case tooLong(length: Int, capacity: Int)

        /// What went wrong, in one line.
        public var description: String {
            switch self {
            case .tooLong(let length, let capacity): "frame of \(length) bytes: longer than the \(capacity) a pool frame holds"
            }
        }
    }

    /// Copies `bytes` (an Ethernet frame, header first, no FCS) into the frame and sets
    /// `length` to their count. Throws `tooLong` and leaves the frame unchanged when they
    /// do not fit.
    public mutating func write(bytes: some Collection<UInt8>) throws(WriteError) {
        let count = bytes.count
        guard count <= capacity else { throw .tooLong(length: count, capacity: capacity) }
        let target = UnsafeMutableRawBufferPointer(start: pool.pointer(address), count: count)
        let copied = bytes.withContiguousStorageIfAvailable { source in
            if let base = source.baseAddress { memcpy(target.baseAddress!, base, count) }
            return true
        }
        if copied == nil { _ = target.initializeMemory(as: UInt8.self, from: bytes) }
        length = count
    }

    /// Calls `body` with the frame's whole capacity (`capacity` bytes from `address`) to
    /// fill in place; `body` returns how many bytes it wrote, which becomes `length`
    /// (clamped to `0...capacity`).
    public mutating func withUnsafeMutableBytes<E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> Int
    ) throws(E) {
        let written = try body(UnsafeMutableRawBufferPointer(start: pool.pointer(address), count: capacity))
        length = min(max(written, 0), capacity)
    }

    /// Calls `body` with the frame's data: `length` bytes from `address`.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pool.pointer(address), count: length))
    }

    /// The frame's data as bytes (a copy).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Gives up ownership without freeing: the caller now holds the frame at `address`
    /// with `length` bytes (to put it in a batch or a queue, where the pool's accounting
    /// goes on). Returns the address and the length.
    consuming func release() -> (address: UInt64, length: UInt32) {
        let taken = (address, UInt32(truncatingIfNeeded: length))
        let retained = unmanagedPool
        discard self
        retained.release()
        return taken
    }
}

extension FramePool {
    /// The most bytes of frame data a frame holds after the headroom (`frameSize - headroom`):
    /// the `capacity` of every `FrameHandle` and the longest frame `Datapath.inject` takes.
    public var dataCapacity: Int { frameSize &- headroom }

    /// Takes a frame from the free list as an owned handle whose data starts past the
    /// headroom; nil when the pool is empty. The safe counterpart of `allocate()`.
    public func allocateFrame() -> FrameHandle? {
        guard let start = allocate() else { return nil }
        return FrameHandle(pool: self, start: start)
    }

    /// Returns the frame of `frame` to the free list (what dropping the handle also does).
    public func free(_ frame: consuming FrameHandle) {
        precondition(frame.pool === self, "FramePool.free: the frame belongs to another pool")
        let (address, _) = frame.release()
        free(address)
    }
}

extension PacketBatch {
    /// Appends the frame of `frame` (its address and length), which the batch now holds.
    /// The batch must have room (`isFull` false): appending to a full batch is a
    /// programming error and stops the program.
    public func append(_ frame: consuming FrameHandle) {
        precondition(!isFull, "PacketBatch.append: the batch is full")
        let (address, length) = frame.release()
        append(address: address, length: length)
    }
}

extension Datapath {
    /// Processes `frame` as received on `port` at `now`: it goes through the port's
    /// bridge like any received frame, and whatever leaves is queued on the egress
    /// ports (`drainTransmitted(_:)` takes it out). The frame must come from this
    /// datapath's pool.
    public func process(_ frame: consuming FrameHandle, from port: DatapathPort, now: DatapathInstant) {
        precondition(frame.pool === pool, "Datapath.process: the frame belongs to another pool")
        let batch = PacketBatch(capacity: 1)
        batch.append(frame)
        process(batch, from: port.id, now: now)
    }
}
