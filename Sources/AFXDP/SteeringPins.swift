#if canImport(Glibc)
import Glibc
#endif
import CXDPShim

// Forwarding while the daemon is away: the steering program outlives the process.
//
// A bpf_link belongs to its file descriptor, so by default the program detaches with the
// process, however it ends (XDPLink.swift). With the fast path on and a state directory in
// use, `xdpswitch run` pins instead: each interface's link at `<dir>/link-<interface>` and
// every map of the program at `<dir>/<map>` (BPFObject.swift), in one bpffs directory per
// state directory (`FastPathPinning.directory(forStateDirectory:)`). A pin holds what it
// names: when the process dies — `kill -9`, a crash, or SIGTERM with `--on-exit keep` — the
// program stays attached with its maps, the kernel empties the XSKMAP slots of the sockets
// it closes, and the program goes on alone: `fp_flows` entries still forward (until the
// MAC entries they rest on would age out: each entry carries that time), and every other
// frame of a served queue is dropped and counted in `no_socket` (xsk_steer.bpf.c).
//
// The next process adopts what it finds (SteeringProgram.swift, AFXDPEngine+FastPathRestart.swift):
// - the maps: libbpf reuses each pinned map that is compatible with the new object (same
//   type, key and value sizes, entries and flags), so the new program, a new build
//   included, sees the same `fp_flows`, counters and `ports`; when one is not (a new
//   layout), the load fails, the map pins are removed with a one-line warning, and the
//   program starts with empty maps (the links are still swapped, below);
// - the links: the pin of each interface it serves is opened (`bpf_obj_get`), checked to be
//   an XDP link on that interface's index (a link whose interface was deleted has none any
//   more) in the configured mode, and its program is replaced in place (`bpf_link_update`):
//   no detach, no moment without a program. Any mismatch is a one-line warning: that pin is
//   removed (the link detaches) and the interface is attached afresh;
// - the entries: once the datapath has its learned MAC tables back, each `fp_flows` entry
//   is mapped back to a `FastPathDecision` on the new datapath's ports and kept only when
//   the datapath would take the same decision now; the others are removed.
// Pins of interfaces no longer configured are removed (their links detach).
// A clean exit with `--on-exit detach` (the default) removes every pin: the links detach
// and the maps go with the program. `run --fresh` removes them before starting.

/// Where the steering program's links and maps outlive the process (a bpffs directory), and
/// what a clean exit (SIGTERM, `AFXDPEngine.close()`) does with them. Used only with the fast
/// path on (`EngineConfiguration.fastPath`); with it off, pins a previous run left in the
/// directory are removed at start.
public struct FastPathPinning: Sendable, Equatable {
    /// What a clean exit does with the pinned program.
    public enum ExitAction: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Leave the program, its links and maps pinned: cached flows keep moving until the
        /// next `run` adopts them.
        case keep
        /// Remove every pin: the program detaches, as without pinning.
        case detach
        /// The action as `xdpswitch run --on-exit` spells it (`keep`, `detach`).
        public var description: String { rawValue }
    }

    /// The bpffs directory of the pins.
    public var directory: String
    /// What a clean exit does with the pins: `.detach` (the default) removes them.
    public var onExit: ExitAction

    /// Pins in `directory` (a bpffs path, created if missing) and handles them on exit as `onExit` says.
    public init(directory: String, onExit: ExitAction = .detach) {
        self.directory = directory
        self.onExit = onExit
    }

    /// Where every switch's pin directories are made.
    public static let root = "/sys/fs/bpf/xdpswitch"

    /// `/sys/fs/bpf/xdpswitch/<16 hex digits>`: a hash (FNV-1a) of the real path of
    /// `stateDirectory` (which must exist), so each state directory has its own pins.
    public static func directory(forStateDirectory stateDirectory: String) -> String {
        let real = realpath(stateDirectory, nil).map { pointer -> String in
            defer { free(pointer) }
            return String(cString: pointer)
        } ?? stateDirectory
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in real.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return root + "/" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Removes every pin in `directory`, then the directory: links nothing else holds detach,
    /// maps nothing else holds are freed. Returns the pins removed (0 when there was none).
    @discardableResult
    public static func remove(directory: String) -> Int {
        let names = pins(in: directory)
        for name in names { unlink(directory + "/" + name) }
        rmdir(directory)
        return names.count
    }

    /// The names of the pins in `directory` (empty when it does not exist).
    static func pins(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The pin of the link on `interface`.
    static func linkPin(_ directory: String, interface: String) -> String { directory + "/" + linkPrefix + interface }
    static let linkPrefix = "link-"

    /// Makes `directory` (and the root) on bpffs; nil when done, else why it cannot be used.
    static func prepare(_ directory: String) -> String? {
        guard cxdp_is_bpffs("/sys/fs/bpf") == 1 else {
            return "/sys/fs/bpf is no bpf filesystem"
        }
        var status = stat()
        if lstat(directory, &status) == 0, status.st_mode & S_IFMT != S_IFDIR {
            unlink(directory)   // not a directory: nothing of ours, and in the way
        }
        for path in [root, directory] where mkdir(path, 0o700) != 0 && errno != EEXIST {
            return "mkdir \(path): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}
