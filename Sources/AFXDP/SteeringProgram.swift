#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim

/// The steering program (`bpf/datapath/xsk_steer.bpf.c`), loaded once per engine and attached to
/// every interface the engine serves.
///
/// Its maps: `xsks` (XSKMAP, one slot per AF_XDP socket) and `ports` (ifindex → bridge
/// port id, first slot, number of queues with a socket). An interface that is not in
/// `ports`, or a queue beyond its sockets, gets XDP_PASS, so the kernel stack keeps
/// traffic the switch cannot take; a served queue whose socket is gone (the daemon away,
/// the program left pinned) has its frames dropped and counted (`framesDroppedWithoutSocket`).
///
/// With a `FastPathPinning` the links and maps are pinned in bpffs and those a previous
/// process left there are adopted (SteeringPins.swift); what happened to them is said in
/// `reports`, one line each.
package final class SteeringProgram {
    static let maximumSockets = 256

    private let object: BPFObject
    let programFD: Int32
    private let socketsMapFD: Int32
    private let portsMapFD: Int32
    private let noSocketMapFD: Int32
    /// The bpffs directory of the pins, nil when not pinning.
    package let pinDirectory: String?
    /// Whether the maps were pinned by a previous process and reused (its `fp_flows`
    /// entries are there to adopt).
    package let reusedMaps: Bool
    /// What pinning found and did, one line each (warnings included).
    package private(set) var reports: [String] = []
    private var nextSlot: UInt32 = 0
    /// Slot ranges given back by interfaces that went away, reused first-fit.
    private var freedSlots: [(base: UInt32, count: Int)] = []
    private(set) var links: [XDPLink] = []
    /// The in-kernel fast path's maps (FastPathMaps.swift).
    package let fastPath: FastPathMaps

    /// Loads the program; with `pinning`, its maps are pinned in (or reused from) the
    /// pinning's directory and links are pinned there as they are made (`attach`).
    package init(pinning: FastPathPinning? = nil) throws(AFXDPError) {
        let bytes = EmbeddedBPF.bytes(EmbeddedBPF.xskSteer)
        var reports: [String] = []
        var directory = pinning?.directory
        if let wanted = directory, let problem = FastPathPinning.prepare(wanted) {
            reports.append("fast path: cannot pin in \(wanted): \(problem); the program stops with the process")
            directory = nil
        }
        var reused = false
        if let directory {
            let mapPins = FastPathPinning.pins(in: directory).filter { !$0.hasPrefix(FastPathPinning.linkPrefix) }
            do {
                object = try BPFObject(name: "xsk_steer", bytes: bytes, pinDirectory: directory)
                reused = !mapPins.isEmpty
            } catch {
                guard !mapPins.isEmpty else { throw error }
                reports.append("fast path: the maps pinned in \(directory) do not fit this program (\(error)); "
                               + "unpinned, starting with an empty fast path")
                for name in mapPins { unlink(directory + "/" + name) }
                object = try BPFObject(name: "xsk_steer", bytes: bytes, pinDirectory: directory)
            }
        } else {
            object = try BPFObject(name: "xsk_steer", bytes: bytes)
        }
        pinDirectory = directory
        reusedMaps = reused
        self.reports = reports
        programFD = try object.programFD("xsk_steer")
        socketsMapFD = try object.mapFD("xsks")
        portsMapFD = try object.mapFD("ports")
        noSocketMapFD = try object.mapFD("no_socket")
        fastPath = try FastPathMaps(object: object)
    }

    /// Frames of served queues the program dropped because their socket was gone (the
    /// daemon away), summed over the CPUs: since the maps were made, so across restarts
    /// while they stay pinned.
    package var framesDroppedWithoutSocket: UInt64 {
        fastPath.perCPUSum(mapFD: noSocketMapFD)
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

    /// Attaches the program to `interface`; the link lives as long as this object. When
    /// pinning: a link a previous process pinned for `interface` is adopted — its program
    /// replaced by this one in place — when it is an XDP link on `ifindex` in `mode`, else
    /// removed (one line in `reports`); a new link is pinned.
    @discardableResult
    package func attach(interface: String, ifindex: Int32, mode: XDPAttachMode) throws(AFXDPError) -> XDPLink {
        let link: XDPLink
        if let pinDirectory {
            let path = FastPathPinning.linkPin(pinDirectory, interface: interface)
            if let adopted = adoptLink(at: path, interface: interface, ifindex: ifindex, mode: mode) {
                link = adopted
            } else {
                link = try XDPLink(programFD: programFD, interface: interface, ifindex: ifindex, mode: mode)
                do { try link.pin(at: path) } catch {
                    reports.append("fast path: \(error); \(interface)'s program stops with the process")
                }
            }
        } else {
            link = try XDPLink(programFD: programFD, interface: interface, ifindex: ifindex, mode: mode)
        }
        links.append(link)
        return link
    }

    /// The pinned link at `path` with this program in it, or nil (and the pin removed, the
    /// reason in `reports`) when there is none fit for `interface` (see SteeringPins.swift).
    private func adoptLink(at path: String, interface: String, ifindex: Int32, mode: XDPAttachMode) -> XDPLink? {
        guard access(path, F_OK) == 0 else { return nil }
        let fd = bpf_obj_get(path)
        var problem: String?
        var attached: XDPAttachMode?
        if fd < 0 {
            problem = "not a link (\(String(cString: strerror(errno))))"
        } else {
            let linked = cxdp_xdp_link_ifindex(fd)
            attached = XDPLink.attachedMode(ifindex: ifindex)
            if linked < 0 {
                problem = "not an XDP link"
            } else if linked == 0 {
                problem = "its interface is gone"
            } else if linked != ifindex {
                problem = "it is on ifindex \(linked), \(interface) is \(ifindex) now"
            } else if attached == nil || (mode != .auto && attached != mode) {
                problem = "attached \(attached.map { "\($0)" } ?? "nowhere"), configured \(mode)"
            } else if bpf_link_update(fd, programFD, nil) != 0 {
                problem = "bpf_link_update: \(String(cString: strerror(errno)))"
            }
        }
        guard let problem else {
            return XDPLink(adopting: fd, interface: interface, ifindex: ifindex, mode: attached ?? mode, pinPath: path)
        }
        reports.append("fast path: pinned link \(path): \(problem); removed, attaching \(interface) afresh")
        unlink(path)
        if fd >= 0 { Glibc.close(fd) }
        return nil
    }

    /// After the interfaces were attached: removes the pins of links this program did not
    /// take (interfaces no longer configured, or absent) and the `ports` entries of
    /// interfaces it does not serve, both left by a previous process.
    package func removeStalePins() {
        guard let pinDirectory else { return }
        let kept = Set(links.compactMap(\.pinPath))
        for name in FastPathPinning.pins(in: pinDirectory) where name.hasPrefix(FastPathPinning.linkPrefix) {
            let path = pinDirectory + "/" + name
            guard !kept.contains(path) else { continue }
            unlink(path)
            reports.append("fast path: removed the pinned link \(path) (an interface this switch does not serve now)")
        }
        let served = Set(links.map { UInt32(bitPattern: $0.ifindex) })
        for key in FastPathMaps.keys(mapFD: portsMapFD, keySize: 4) {
            let ifindex = key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            if !served.contains(ifindex) { _ = bpf_map_delete_elem(portsMapFD, key) }
        }
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

    /// Detaches from every interface, and removes every pin (SteeringPins.swift).
    package func detachAll() {
        for link in links { link.detach() }
        links.removeAll()
        if let pinDirectory { FastPathPinning.remove(directory: pinDirectory) }
    }

    /// Lets go of every link without detaching: the pinned ones stay attached, with the
    /// maps (a clean exit with `--on-exit keep`).
    package func releaseAll() {
        for link in links { link.release() }
        links.removeAll()
    }
}
