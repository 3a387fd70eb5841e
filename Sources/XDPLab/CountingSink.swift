#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import CXDP
import Synchronization

/// A counting sink: `bpf/lab/count_sink.bpf.c` attached (bpf_link, native mode) to
/// `interface` in `namespace`; it counts every frame and drops it.
///
/// Checked `Sendable`: the interface, the counts map's descriptor and the CPU count are
/// constants; the loaded object (kept for its map) and the link `detach()` closes are
/// behind a mutex, so two threads detaching at once close the link once.
public final class CountingSink: Sendable {
    public let interface: String
    private let countsFD: Int32
    private let attachment: Mutex<(object: BPFObject, link: XDPLink)>
    private let cpus: Int

    public init(interface: String, namespace: String?) throws {
        self.interface = interface
        let object = try BPFObject(name: "count_sink", bytes: EmbeddedBPF.bytes(EmbeddedBPF.countSink))
        countsFD = try object.mapFD("counts")
        let program = try object.programFD("count_sink")
        let attach = { () throws -> XDPLink in
            let ifindex = try NetworkInterface.index(of: interface)
            return try XDPLink(programFD: program, interface: interface, ifindex: ifindex, mode: .native)
        }
        let link = try namespace.map { try LabNetwork.inNamespace($0, attach) } ?? attach()
        attachment = Mutex((object, link))
        cpus = Int(libbpf_num_possible_cpus())
    }

    /// Frames and bytes counted so far (summed over CPUs).
    public var counts: (packets: UInt64, bytes: UInt64) {
        var key: UInt32 = 0
        var values = [UInt64](repeating: 0, count: 2 * max(cpus, 1))
        guard bpf_map_lookup_elem(countsFD, &key, &values) == 0 else { return (0, 0) }
        var packets: UInt64 = 0
        var bytes: UInt64 = 0
        for cpu in 0..<cpus { packets += values[2 * cpu]; bytes += values[2 * cpu + 1] }
        return (packets, bytes)
    }

    public func detach() { attachment.withLock { $0.link.detach() } }
}
