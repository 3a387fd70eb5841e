#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CXDPShim

/// One loaded eBPF object (an ELF image compiled from `bpf/`), opened from memory. The
/// datapath's steering program and the lab's programs (XDPLab) open theirs with it.
///
/// `bpf_object__open_mem` does not copy the image: the bytes are kept in this object
/// until `bpf_object__load` has run (and for the object's life, which costs a few KB).
/// Closing the object (deinit) unloads programs and maps that nothing else holds; a
/// `XDPLink` keeps its program alive on its own.
package final class BPFObject {
    let name: String
    private let object: OpaquePointer
    private let image: UnsafeMutableRawBufferPointer

    /// Opens and loads `bytes`. `name` is used in errors and as the libbpf object name.
    package init(name: String, bytes: [UInt8]) throws(AFXDPError) {
        CXDPLogging.configure()
        self.name = name
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        image.copyBytes(from: bytes)
        self.image = image
        let opened: OpaquePointer? = name.withCString { cName in
            var opts = bpf_object_open_opts()
            opts.sz = MemoryLayout<bpf_object_open_opts>.size
            opts.object_name = cName
            return bpf_object__open_mem(image.baseAddress, image.count, &opts)
        }
        let openError = libbpf_get_error(UnsafeRawPointer(opened))
        guard let opened, openError == 0 else {
            image.deallocate()
            throw AFXDPError(call: "bpf_object__open_mem", errno: Int32(openError == 0 ? Int(EINVAL) : -openError),
                             detail: name)
        }
        object = opened
        let loaded = bpf_object__load(object)
        guard loaded == 0 else {
            bpf_object__close(object)
            image.deallocate()
            throw AFXDPError(call: "bpf_object__load", errno: loaded, detail: name)
        }
    }

    deinit {
        bpf_object__close(object)
        image.deallocate()
    }

    /// The fd of the program called `program` (the C function name).
    package func programFD(_ program: String) throws(AFXDPError) -> Int32 {
        guard let prog = bpf_object__find_program_by_name(object, program) else {
            throw AFXDPError(call: "bpf_object__find_program_by_name", errno: ENOENT, detail: "\(name): \(program)")
        }
        return bpf_program__fd(prog)
    }

    /// The fd of the map called `map`.
    package func mapFD(_ map: String) throws(AFXDPError) -> Int32 {
        let fd = bpf_object__find_map_fd_by_name(object, map)
        guard fd >= 0 else {
            throw AFXDPError(call: "bpf_object__find_map_fd_by_name", errno: ENOENT, detail: "\(name): \(map)")
        }
        return fd
    }
}

/// libbpf and libxdp print to stderr by default; we report errors ourselves in one line.
/// `XDPSWITCH_DEBUG=1` turns their messages back on.
enum CXDPLogging {
    private static let once: Void = {
        let verbose = getenv("XDPSWITCH_DEBUG").map { String(cString: $0) != "0" } ?? false
        cxdp_set_library_logging(verbose ? 1 : 0)
    }()

    static func configure() { _ = once }
}
