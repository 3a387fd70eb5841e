#if canImport(Glibc)
import Glibc
#endif

/// Why setting up the AF_XDP fast path failed: the C call that failed, its errno and
/// the interface it was about. Setup code throws it; the per-packet path never throws.
///
/// Its description is one line, e.g. `veth0: xsk_socket__create_shared: Operation not
/// supported`, which is what `xdpswitch run` prints.
public struct AFXDPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failing call (`xsk_socket__create_shared`, `bpf_link_create(XDP)`, ...).
    public var call: String
    /// The errno value (positive).
    public var errno: Int32
    /// The interface the call was about, nil for process-wide steps (loading a program).
    public var interface: String?
    /// Extra context appended after the errno text (which program holds an interface...).
    public var detail: String?

    /// Records a failed `call`; a negative `errno` (as libxdp returns them) is stored positive.
    public init(call: String, errno: Int32, interface: String? = nil, detail: String? = nil) {
        self.call = call
        self.errno = errno < 0 ? -errno : errno
        self.interface = interface
        self.detail = detail
    }

    /// The C library's text for `errno` ("Operation not supported").
    public var errnoText: String { String(cString: strerror(errno)) }

    /// One line: `interface: call: errno text (detail)`, the parts that are nil left out.
    public var description: String {
        var line = interface.map { "\($0): " } ?? ""
        line += "\(call): \(errnoText)"
        if let detail { line += " (\(detail))" }
        return line
    }
}
