#if canImport(Glibc)
import Glibc
#endif
import CXDP
import XDPDatapath

/// The UMEM: one region of `frameCount` frames of `frameSize` bytes, registered with the
/// kernel once and shared by the AF_XDP sockets of every port (`xsk_socket__create_shared`),
/// so a frame received on one port is transmitted on another without a copy.
///
/// The region is an anonymous mmap owned by this object; `pool` is the datapath's free
/// list over it (frame addresses are offsets into the region, what descriptors carry).
/// Where a received frame's data starts: the kernel puts it `XDP_PACKET_HEADROOM` (256)
/// plus the configured `headroom` bytes into the frame, so there is always room to prepend
/// a VLAN tag (4) or Ethernet+IPv4+GRE (14+20+8) in place. Frames the datapath allocates
/// itself start at the same offset (`pool.headroom`).
///
/// Lifetime: the sockets keep their `Umem` alive; it is deleted after the last socket.
package final class Umem {
    /// Bytes the kernel reserves before the data of a received frame (XDP_PACKET_HEADROOM).
    static let kernelHeadroom = 256

    let memory: UnsafeMutableRawPointer
    let byteCount: Int
    package let frameSize: Int
    package let frameCount: Int
    /// Extra headroom configured in the UMEM (`frame_headroom`), on top of the kernel's 256.
    let headroom: Int
    package let pool: FramePool
    let handle: OpaquePointer
    /// The fill/completion ring pair created with the UMEM; the first socket adopts it.
    let fillSize: UInt32
    let completionSize: UInt32
    private(set) var firstRings: (fill: UnsafeMutablePointer<xsk_ring_prod>, completion: UnsafeMutablePointer<xsk_ring_cons>)?

    package init(frameSize: Int, frameCount: Int, headroom: Int, fillSize: UInt32, completionSize: UInt32) throws(AFXDPError) {
        precondition(frameSize >= 2048 && frameSize & (frameSize - 1) == 0 && frameSize <= 4096,
                     "AF_XDP aligned frames are 2048 or 4096 bytes")
        NetworkInterface.raiseMemlockLimit()
        self.frameSize = frameSize
        self.frameCount = frameCount
        self.headroom = headroom
        self.fillSize = fillSize
        self.completionSize = completionSize
        byteCount = frameSize * frameCount
        guard let region = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0),
              region != MAP_FAILED else {
            throw AFXDPError(call: "mmap(UMEM \(byteCount) bytes)", errno: errno)
        }
        memory = region
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        completion.initialize(to: xsk_ring_cons())
        var config = xsk_umem_config(fill_size: fillSize, comp_size: completionSize, frame_size: UInt32(frameSize),
                                     frame_headroom: UInt32(headroom), flags: 0)
        var umem: OpaquePointer?
        let err = xsk_umem__create(&umem, region, UInt64(byteCount), fill, completion, &config)
        guard err == 0, let umem else {
            fill.deallocate()
            completion.deallocate()
            munmap(region, byteCount)
            throw AFXDPError(call: "xsk_umem__create", errno: err == 0 ? EINVAL : err,
                             detail: err == -ENOBUFS ? "RLIMIT_MEMLOCK too low" : nil)
        }
        handle = umem
        // libxdp opens its sockets without SOCK_CLOEXEC: a process this one starts (the
        // agent's metadata proxies, a test's servers) would inherit the UMEM and every
        // queue it is bound to, and keep them bound after this engine is gone (EBUSY for
        // the next one until that child exits).
        _ = fcntl(xsk_umem__fd(umem), F_SETFD, FD_CLOEXEC)
        firstRings = (fill, completion)
        pool = FramePool(memory: region, frameSize: frameSize, frameCount: frameCount,
                         headroom: Self.kernelHeadroom + headroom)
    }

    /// The ring structs for the first socket (the ones registered with the UMEM), once.
    func takeFirstRings() -> (fill: UnsafeMutablePointer<xsk_ring_prod>, completion: UnsafeMutablePointer<xsk_ring_cons>)? {
        defer { firstRings = nil }
        return firstRings
    }

    deinit {
        if let firstRings {
            firstRings.fill.deallocate()
            firstRings.completion.deallocate()
        }
        _ = xsk_umem__delete(handle)
        munmap(memory, byteCount)
    }
}
