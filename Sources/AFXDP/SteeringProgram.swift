#if canImport(Glibc)
import Glibc
#endif
import CXDP

/// The steering program (`bpf/datapath/xsk_steer.bpf.c`), loaded once per engine and attached to
/// every interface the engine serves.
///
/// Its maps: `xsks` (XSKMAP, one slot per AF_XDP socket) and `ports` (ifindex → bridge
/// port id, first slot, number of queues with a socket). An interface that is not in
/// `ports`, or a queue beyond its sockets, gets XDP_PASS, so the kernel stack keeps
/// traffic the switch cannot take.
package final class SteeringProgram {
    static let maximumSockets = 256

    private let object: BPFObject
    let programFD: Int32
    private let socketsMapFD: Int32
    private let portsMapFD: Int32
    private var nextSlot: UInt32 = 0
    /// Slot ranges given back by interfaces that went away, reused first-fit.
    private var freedSlots: [(base: UInt32, count: Int)] = []
    private(set) var links: [XDPLink] = []
    /// The in-kernel fast path's maps (FastPathMaps.swift).
    package let fastPath: FastPathMaps

    package init() throws(AFXDPError) {
        object = try BPFObject(name: "xsk_steer", bytes: EmbeddedBPF.bytes(EmbeddedBPF.xskSteer))
        programFD = try object.programFD("xsk_steer")
        socketsMapFD = try object.mapFD("xsks")
        portsMapFD = try object.mapFD("ports")
        fastPath = try FastPathMaps(object: object)
    }

    /// Reserves `queues` consecutive XSKMAP slots for an interface and returns the first.
    package func reserveSlots(_ queues: Int, interface: String) throws(AFXDPError) -> UInt32 {
        if let i = freedSlots.firstIndex(where: { $0.count >= queues }) {
            let range = freedSlots[i]
            if range.count == queues { freedSlots.remove(at: i) }
            else { freedSlots[i] = (range.base + UInt32(queues), range.count - queues) }
            return range.base
        }
        guard Int(nextSlot) + queues <= Self.maximumSockets else {
            throw AFXDPError(call: "xsks map", errno: ENOSPC, interface: interface, detail: "more than \(Self.maximumSockets) sockets")
        }
        defer { nextSlot += UInt32(queues) }
        return nextSlot
    }

    /// Puts socket `fd` in XSKMAP slot `slot`.
    package func setSocket(_ fd: Int32, slot: UInt32, interface: String) throws(AFXDPError) {
        var key = slot
        var value = UInt32(bitPattern: fd)
        guard bpf_map_update_elem(socketsMapFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw AFXDPError(call: "bpf_map_update_elem(xsks)", errno: errno, interface: interface)
        }
    }

    /// Empties `count` XSKMAP slots from `base` and makes them reservable again (an
    /// interface that went away). Errors are ignored: an entry of a closed socket is
    /// removed by the kernel anyway.
    package func releaseSlots(_ base: UInt32, count: Int) {
        for slot in base..<base + UInt32(count) {
            var key = slot
            _ = bpf_map_delete_elem(socketsMapFD, &key)
        }
        freedSlots.append((base, count))
    }

    /// Forgets `ifindex`: the program passes its traffic to the stack.
    package func removePort(ifindex: Int32) {
        var key = UInt32(bitPattern: ifindex)
        _ = bpf_map_delete_elem(portsMapFD, &key)
    }

    /// Detaches from the interface of `link` only.
    package func detach(_ link: XDPLink) {
        link.detach()
        links.removeAll { $0 === link }
    }

    /// Says which port owns `ifindex` and where its sockets are.
    package func setPort(ifindex: Int32, portID: Int, slotBase: UInt32, queues: Int, interface: String) throws(AFXDPError) {
        var key = UInt32(bitPattern: ifindex)
        var value: (UInt32, UInt32, UInt32, UInt32) = (UInt32(truncatingIfNeeded: portID), slotBase, UInt32(queues), 0)
        guard bpf_map_update_elem(portsMapFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw AFXDPError(call: "bpf_map_update_elem(ports)", errno: errno, interface: interface)
        }
    }

    /// Attaches the program to `interface`; the link lives as long as this object.
    @discardableResult
    package func attach(interface: String, ifindex: Int32, mode: XDPAttachMode) throws(AFXDPError) -> XDPLink {
        let link = try XDPLink(programFD: programFD, interface: interface, ifindex: ifindex, mode: mode)
        links.append(link)
        return link
    }

    /// Runs the program once on `frame` as received on `ifindex`, queue 0, without
    /// sending anything (`BPF_PROG_TEST_RUN`): the program's verdict (`XDP_REDIRECT`,
    /// `XDP_PASS`, ...) and the frame as it left the program. The interface must exist in
    /// the calling thread's network namespace. For tests of the fast path.
    package func testRun(frame: [UInt8], ifindex: Int32) throws(AFXDPError) -> (verdict: UInt32, output: [UInt8]) {
        var input = frame
        var output = [UInt8](repeating: 0, count: frame.count + 256)
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
        // (the kernel wants data_end to be the frame's length).
        var context: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0, UInt32(frame.count), 0, UInt32(bitPattern: ifindex), 0, 0)
        var verdict: UInt32 = 0
        var outputLength: UInt32 = 0
        let result = input.withUnsafeMutableBytes { inBytes in
            output.withUnsafeMutableBytes { outBytes in
                withUnsafeMutableBytes(of: &context) { contextBytes in
                    var opts = bpf_test_run_opts()
                    opts.sz = MemoryLayout<bpf_test_run_opts>.size
                    opts.data_in = UnsafeRawPointer(inBytes.baseAddress)
                    opts.data_size_in = UInt32(inBytes.count)
                    opts.data_out = outBytes.baseAddress
                    opts.data_size_out = UInt32(outBytes.count)
                    opts.ctx_in = UnsafeRawPointer(contextBytes.baseAddress)
                    opts.ctx_size_in = UInt32(contextBytes.count)
                    opts.repeat = 1
                    let rc = bpf_prog_test_run_opts(programFD, &opts)
                    verdict = opts.retval
                    outputLength = opts.data_size_out
                    return rc
                }
            }
        }
        guard result == 0 else { throw AFXDPError(call: "bpf_prog_test_run_opts", errno: -result, detail: "ifindex \(ifindex)") }
        return (verdict, Array(output.prefix(Int(outputLength))))
    }

    /// Detaches from every interface.
    package func detachAll() {
        for link in links { link.detach() }
        links.removeAll()
    }
}
