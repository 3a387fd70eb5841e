#if canImport(Glibc)
import Glibc
#endif
import AFXDP

/// Runs a command (no shell) and collects its output. Control path only: the lab
/// topologies (`LabNetwork`) and the bench's peers use it for `ip`, `ethtool`, `iptables`
/// and Open vSwitch's tools.
public enum Shell {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var succeeded: Bool { status == 0 }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var command: [String]
        public var result: Result
        public var description: String {
            "\(command.joined(separator: " ")) exited with \(result.status): \(result.output.trimmingTrailingNewlines)"
        }
    }

    /// Runs `arguments[0]` (looked up in PATH) with stdout and stderr captured together.
    @discardableResult
    public static func run(_ arguments: [String]) -> Result {
        var pipeFDs: [Int32] = [0, 0]
        // Close-on-exec: the child gets the write end only as its stdout and stderr (dup2
        // clears the flag), so a grandchild that outlives it (a daemon it started) does not
        // hold the pipe open and keep this read from ever seeing the end.
        guard pipe(&pipeFDs) == 0 else { return Result(status: -1, output: "pipe: \(String(cString: strerror(errno)))") }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        var attributes = Self.defaultSignalAttributes()
        defer { posix_spawnattr_destroy(&attributes) }
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        Glibc.close(pipeFDs[1])
        guard spawned == 0 else {
            Glibc.close(pipeFDs[0])
            return Result(status: -1, output: "\(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if n > 0 { bytes += chunk[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        Glibc.close(pipeFDs[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exit, output: String(decoding: bytes, as: UTF8.self))
    }

    /// Starts `arguments` in the background with stdout and stderr appended to `logPath`;
    /// returns its pid (the caller waits for it with `wait(_:)`).
    public static func spawn(_ arguments: [String], logPath: String) throws(AFXDPError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        var attributes = Self.defaultSignalAttributes()
        defer { posix_spawnattr_destroy(&attributes) }
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw AFXDPError(call: "posix_spawn(\(arguments[0]))", errno: spawned) }
        return pid
    }

    /// Spawn attributes giving the child an empty signal mask and default SIGINT/SIGTERM
    /// actions: a thread of the caller may block signals (the test runner's threads block
    /// most), and a child inherits the mask — a server started from it would ignore the
    /// SIGTERM meant to stop it, and so would everything it starts.
    static func defaultSignalAttributes() -> posix_spawnattr_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var stops = sigset_t()
        sigemptyset(&stops)
        sigaddset(&stops, SIGINT)
        sigaddset(&stops, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &stops)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        return attributes
    }

    /// Waits for `pid` and returns its exit status (128 + signal when killed).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Runs and throws `Failure` unless the command exits 0. Returns its output.
    @discardableResult
    public static func check(_ arguments: [String]) throws(Failure) -> String {
        let result = run(arguments)
        guard result.succeeded else { throw Failure(command: arguments, result: result) }
        return result.output
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var s = Substring(self)
        while s.last == "\n" || s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
