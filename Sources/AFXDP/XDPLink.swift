#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim

/// How an XDP program is attached to an interface.
public enum XDPAttachMode: String, Sendable, CustomStringConvertible, CaseIterable {
    /// In the driver (veth, most NICs): the fast one.
    case native
    /// On the generic (skb) path, for drivers without XDP support.
    case generic
    /// Native where the driver supports it, else generic (OVS's `xdp-mode=best-effort`).
    case auto

    /// The mode as the command line spells it (`native`, `generic`, `auto`).
    public var description: String { rawValue }
}

/// An XDP program attached to one interface through a `bpf_link`.
///
/// A link (unlike a netlink attach, `bpf_xdp_attach`) belongs to its file descriptor:
/// closing it — `detach()`, deinit, or the process dying even by SIGKILL — removes the
/// program, so a crashed switch leaves nothing behind. A *netlink*-attached program left
/// on the interface (by an older tool, `ip link set xdp`, or a killed process that used
/// netlink) makes link creation fail with EBUSY; `attach` then detaches that stale program
/// and retries once, and says so in `replacedProgram`. A program held by another live
/// link is not touched: that interface belongs to someone else (error EBUSY).
///
/// A link pinned in bpffs (`pin(at:)`, SteeringPins.swift) is held by its pin as well:
/// closing the descriptor (`release()`, or the process dying) leaves the program attached;
/// `detach()` removes the pin first, so the program goes.
public final class XDPLink {
    /// The name of the interface the program is attached to.
    public let interface: String
    /// That interface's index at attach time.
    public let ifindex: Int32
    /// The mode the kernel accepted.
    public let mode: XDPAttachMode
    /// Name and id of a stale netlink-attached program that was removed first, if any.
    public let replacedProgram: String?
    /// Whether the link was found pinned by a previous process and taken over
    /// (`init(adopting:...)`) rather than created.
    public let adopted: Bool
    /// Where the link is pinned, if it is.
    private(set) var pinPath: String?
    private var fd: Int32

    /// Takes over `fd`, a pinned XDP link (at `pinPath`) already attached to `ifindex` in
    /// `mode` (SteeringProgram checked it and put its program in).
    init(adopting fd: Int32, interface: String, ifindex: Int32, mode: XDPAttachMode, pinPath: String) {
        self.fd = fd
        self.interface = interface
        self.ifindex = ifindex
        self.mode = mode
        self.replacedProgram = nil
        self.adopted = true
        self.pinPath = pinPath
    }

    package init(programFD: Int32, interface: String, ifindex: Int32, mode requested: XDPAttachMode) throws(AFXDPError) {
        self.interface = interface
        self.ifindex = ifindex
        var replaced: String?
        var lastError: Int32 = 0
        let modes: [XDPAttachMode] = requested == .auto ? [.native, .generic] : [requested]
        for mode in modes {
            var fd = cxdp_xdp_link_create(programFD, ifindex, Self.flags(mode))
            if fd == -EBUSY || fd == -EEXIST, replaced == nil, let stale = Self.removeStaleProgram(ifindex: ifindex) {
                replaced = stale
                fd = cxdp_xdp_link_create(programFD, ifindex, Self.flags(mode))
            }
            if fd >= 0 {
                self.fd = fd
                self.mode = mode
                self.replacedProgram = replaced
                self.adopted = false
                return
            }
            lastError = -fd
            // Only "the driver cannot do native XDP" falls through to generic.
            guard fd == -EOPNOTSUPP || fd == -EINVAL else { break }
        }
        var detail: String?
        if lastError == EBUSY || lastError == EEXIST, let holder = Self.attachedProgramName(ifindex: ifindex) {
            detail = "XDP program \(holder) is attached by another process"
        }
        throw AFXDPError(call: "bpf_link_create(BPF_XDP)", errno: lastError, interface: interface, detail: detail)
    }

    deinit { detach() }

    /// Removes the program (idempotent), and the pin first if there is one.
    public func detach() {
        if let pinPath { unlink(pinPath) }
        pinPath = nil
        release()
    }

    /// Closes the link's descriptor: the program stays attached only if the link is pinned.
    func release() {
        pinPath = nil
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    /// Pins the link at `path` (bpffs): from now on it outlives this object and the process.
    func pin(at path: String) throws(AFXDPError) {
        guard bpf_obj_pin(fd, path) == 0 else {
            throw AFXDPError(call: "bpf_obj_pin", errno: errno, interface: interface, detail: path)
        }
        pinPath = path
    }

    private static func flags(_ mode: XDPAttachMode) -> UInt32 {
        switch mode {
        case .native: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        case .auto: 0
        }
    }

    /// Detaches netlink-attached programs in every mode; returns "name (id N)" of what was
    /// there when something was removed. A link-attached program makes the detach fail with
    /// EBUSY and is left alone.
    private static func removeStaleProgram(ifindex: Int32) -> String? {
        var state = cxdp_xdp_state()
        guard cxdp_xdp_query(ifindex, &state) == 0, state.prog_id != 0 || state.drv_prog_id != 0 || state.skb_prog_id != 0 else {
            return nil
        }
        let id = state.prog_id != 0 ? state.prog_id : (state.drv_prog_id != 0 ? state.drv_prog_id : state.skb_prog_id)
        let name = programName(id)
        var removed = false
        for flags in [UInt32(XDP_FLAGS_DRV_MODE), UInt32(XDP_FLAGS_SKB_MODE)] where cxdp_xdp_detach(ifindex, flags) == 0 {
            removed = true
        }
        guard removed else { return nil }
        var after = cxdp_xdp_state()
        guard cxdp_xdp_query(ifindex, &after) == 0, after.prog_id == 0, after.drv_prog_id == 0, after.skb_prog_id == 0 else {
            return nil
        }
        return "\(name) (id \(id))"
    }

    /// The mode a program is attached in on `ifindex` (driver or generic), nil when none is.
    static func attachedMode(ifindex: Int32) -> XDPAttachMode? {
        var state = cxdp_xdp_state()
        guard cxdp_xdp_query(ifindex, &state) == 0 else { return nil }
        if state.drv_prog_id != 0 { return .native }
        if state.skb_prog_id != 0 { return .generic }
        return nil
    }

    static func attachedProgramName(ifindex: Int32) -> String? {
        var state = cxdp_xdp_state()
        guard cxdp_xdp_query(ifindex, &state) == 0 else { return nil }
        let id = [state.prog_id, state.drv_prog_id, state.skb_prog_id].first { $0 != 0 }
        return id.map { "\(programName($0)) (id \($0))" }
    }

    private static func programName(_ id: UInt32) -> String {
        var buffer = [CChar](repeating: 0, count: 32)
        guard cxdp_prog_name(id, &buffer, 32) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether any XDP program is attached to `ifindex` (for tests and shutdown checks).
    public static func hasProgram(ifindex: Int32) -> Bool {
        var state = cxdp_xdp_state()
        guard cxdp_xdp_query(ifindex, &state) == 0 else { return false }
        return state.prog_id != 0 || state.drv_prog_id != 0 || state.skb_prog_id != 0 || state.hw_prog_id != 0
    }
}
