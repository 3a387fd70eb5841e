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
    /// With `pinDirectory` (a directory on bpffs), every map but libbpf's internal ones
    /// (`.rodata`, `.bss`: names starting with a dot) is pinned there under its name: a map
    /// already pinned there is reused when it is compatible (type, key and value sizes,
    /// entries, flags), and the load fails when it is not; a new map is pinned after it.
    package init(name: String, bytes: [UInt8], pinDirectory: String? = nil) throws(AFXDPError) {
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
        // Every property is set: deinit closes the object and frees the image on a throw.
        var pinAfterLoad: [(OpaquePointer, String)] = []
        if let pinDirectory {
            var map = bpf_object__next_map(object, nil)
            while let current = map {
                map = bpf_object__next_map(object, current)
                let mapName = String(cString: bpf_map__name(current))
                guard !mapName.hasPrefix(".") else { continue }
                let path = pinDirectory + "/" + mapName
                let type = bpf_map__type(current)
                guard type == BPF_MAP_TYPE_DEVMAP || type == BPF_MAP_TYPE_DEVMAP_HASH else {
                    _ = bpf_map__set_pin_path(current, path)
                    continue
                }
                // The kernel adds BPF_F_RDONLY_PROG to a DEVMAP's flags, which libbpf (before
                // 1.3) then finds different from the definition and refuses to reuse: such a
                // map is compared and reused here.
                let fd = bpf_obj_get(path)
                guard fd >= 0 else { pinAfterLoad.append((current, path)); continue }
                defer { Glibc.close(fd) }
                var info = bpf_map_info()
                var length = UInt32(MemoryLayout<bpf_map_info>.size)
                guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0, info.type == type.rawValue,
                      info.key_size == bpf_map__key_size(current), info.value_size == bpf_map__value_size(current),
                      info.max_entries == bpf_map__max_entries(current), bpf_map__reuse_fd(current, fd) == 0
                else {
                    throw AFXDPError(call: "bpf_map__reuse_fd", errno: EINVAL, detail: "\(name): pinned map \(path) differs")
                }
            }
        }
        let loaded = bpf_object__load(object)
        guard loaded == 0 else { throw AFXDPError(call: "bpf_object__load", errno: loaded, detail: name) }
        for (map, path) in pinAfterLoad {
            let pinned = bpf_map__pin(map, path)
            guard pinned == 0 else { throw AFXDPError(call: "bpf_map__pin", errno: pinned, detail: path) }
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
