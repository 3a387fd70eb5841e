#if canImport(Glibc)
import Glibc
#endif
import AFXDP
import CXDPShim

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

    /// Runs `arguments[0]` (looked up in PATH) with stdout and stderr captured together,
    /// an empty signal mask and default SIGINT/SIGTERM (`cxdp_run`: the pipe is
    /// close-on-exec, so a daemon the command leaves behind cannot keep the read open).
    @discardableResult
    public static func run(_ arguments: [String]) -> Result {
        withArgv(arguments) { argv in
            var output: UnsafeMutablePointer<CChar>?
            var length = 0
            var status: Int32 = 0
            let err = cxdp_run(argv, &output, &length, &status)
            guard err == 0, let output else { return Result(status: -1, output: "\(arguments[0]): \(String(cString: strerror(-err)))") }
            defer { free(output) }
            let text = UnsafeRawBufferPointer(start: output, count: length)
            return Result(status: status, output: String(decoding: text, as: UTF8.self))
        }
    }

    /// Starts `arguments` in the background with stdout and stderr appended to `logPath`
    /// (an empty signal mask, default SIGINT/SIGTERM: see `cxdp_spawn`); returns its pid
    /// (the caller waits for it with `wait(_:)`).
    public static func spawn(_ arguments: [String], logPath: String) throws(AFXDPError) -> pid_t {
        let pid = withArgv(arguments) { argv in cxdp_spawn(argv, -1, logPath, 0) }
        guard pid > 0 else { throw AFXDPError(call: "posix_spawn(\(arguments[0]))", errno: -pid) }
        return pid
    }

    /// `body` with `arguments` as a NULL-terminated C argument vector.
    static func withArgv<T>(_ arguments: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        return body(argv)
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
