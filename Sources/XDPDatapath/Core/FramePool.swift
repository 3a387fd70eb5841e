#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A region of equal-sized frames and the free list that owns the unused ones.
///
/// This is the datapath's view of a UMEM: frames are named by their byte offset from
/// `base` (exactly what AF_XDP descriptors carry), `frameSize` is a power of two so
/// any address inside a frame maps back to the frame's start by masking, and every
/// frame sits in exactly one place at a time — this free list, a batch, a port's TX
/// queue, or (for AF_XDP) one of the kernel's rings. `freeCount` plus the frames held
/// elsewhere always equals `frameCount`.
///
/// Each frame reserves `headroom` bytes before the data of a freshly allocated frame,
/// so a VLAN tag or a whole GRE/IPv4/Ethernet header can be prepended in place.
///
/// Not thread-safe: one worker owns a pool.
public final class FramePool {
    /// Start of the region.
    public let base: UnsafeMutableRawPointer
    /// Bytes per frame (a power of two, at least 256).
    public let frameSize: Int
    /// Number of frames in the region.
    public let frameCount: Int
    /// Bytes kept free before the data of a frame from `allocate()` (its data goes at
    /// `address + headroom`); a `FrameHandle` has them already.
    public let headroom: Int

    @usableFromInline let frameMask: UInt64
    @usableFromInline let stack: UnsafeMutablePointer<UInt64>
    /// Number of frames on `stack` (a pointer, so the hot path pays no exclusivity check).
    @usableFromInline let topPointer: UnsafeMutablePointer<Int>
    private let ownsMemory: Bool

    /// A pool over memory it allocates itself (page aligned), for in-memory ports,
    /// replay and tests.
    public convenience init(frameCount: Int, frameSize: Int = 2048, headroom: Int = 256) {
        var memory: UnsafeMutableRawPointer?
        let bytes = frameCount * frameSize
        precondition(posix_memalign(&memory, 4096, max(bytes, 4096)) == 0, "posix_memalign(\(bytes)) failed")
        memset(memory!, 0, bytes)
        self.init(memory: memory!, frameSize: frameSize, frameCount: frameCount, headroom: headroom, owns: true)
    }

    /// A pool over external memory (an AF_XDP UMEM). The pool does not free it.
    public convenience init(memory: UnsafeMutableRawPointer, frameSize: Int, frameCount: Int, headroom: Int) {
        self.init(memory: memory, frameSize: frameSize, frameCount: frameCount, headroom: headroom, owns: false)
    }

    private init(memory: UnsafeMutableRawPointer, frameSize: Int, frameCount: Int, headroom: Int, owns: Bool) {
        precondition(frameSize >= 256 && frameSize & (frameSize - 1) == 0, "frameSize must be a power of two ≥ 256")
        precondition(headroom >= 0 && headroom < frameSize - 128, "headroom must leave room for a frame")
        precondition(frameCount > 0)
        self.base = memory
        self.frameSize = frameSize
        self.frameCount = frameCount
        self.headroom = headroom
        self.frameMask = ~UInt64(frameSize - 1)
        self.ownsMemory = owns
        self.stack = .allocate(capacity: frameCount)
        // Hand out low addresses first: frame 0 on top of the stack.
        for i in 0..<frameCount { stack[i] = UInt64(frameCount - 1 - i) * UInt64(frameSize) }
        topPointer = .allocate(capacity: 1)
        topPointer.initialize(to: frameCount)
    }

    deinit {
        stack.deallocate()
        topPointer.deallocate()
        if ownsMemory {
            #if canImport(Glibc)
            Glibc.free(base)
            #else
            Darwin.free(base)
            #endif
        }
    }

    /// Frames in the free list.
    @inlinable public var freeCount: Int { topPointer.pointee }

    /// Takes a frame from the free list and returns its start address, or nil when the
    /// pool is empty — the raw path of the AF_XDP rings and the datapath's own copies.
    ///
    /// The address returned is the frame's *start*, not where its data goes: data must be
    /// written at `address + UInt64(headroom)` and handed on with that address (and at most
    /// `dataCapacity` bytes), because the datapath prepends VLAN tags and tunnel headers in
    /// place in front of the data. A frame whose data starts at its start has no headroom
    /// and is dropped as `no-headroom` when a stage needs to prepend. Embedders filling
    /// frames themselves use `allocateFrame()`, whose `FrameHandle` already starts past
    /// the headroom and returns to the pool when dropped.
    @inlinable
    public func allocate() -> UInt64? {
        let top = topPointer.pointee
        guard top > 0 else { return nil }
        topPointer.pointee = top &- 1  // top > 0 checked above
        return stack[top &- 1]
    }

    /// Returns the frame containing `address` to the free list.
    @inlinable
    public func free(_ address: UInt64) {
        let top = topPointer.pointee
        #if DEBUG
        precondition(top < frameCount, "FramePool: more frames freed than exist (double free of \(address))")
        precondition(address < UInt64(frameCount * frameSize), "FramePool: address \(address) outside the pool")
        #endif
        stack[top] = address & frameMask
        topPointer.pointee = top &+ 1  // bounded by frameCount: each frame is freed once
    }

    /// The start of the frame that contains `address`.
    @inlinable
    public func frameStart(_ address: UInt64) -> UInt64 { address & frameMask }

    /// Memory for `address`.
    @inlinable
    public func pointer(_ address: UInt64) -> UnsafeMutableRawPointer {
        base.advanced(by: Int(truncatingIfNeeded: address))
    }

    /// Bytes available before `address` inside its frame (room to prepend headers).
    @inlinable
    public func headroom(before address: UInt64) -> Int { Int(truncatingIfNeeded: address & ~frameMask) }

    /// Bytes available from `address` to the end of its frame.
    @inlinable
    public func tailroom(after address: UInt64) -> Int { frameSize &- headroom(before: address) }
}
