#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import XDPLab

/// The lab's process helpers, built on `cxdp_spawn` / `cxdp_run` (which the metadata
/// namespaces use too): a child started from a thread that blocks SIGTERM still stops on
/// it, output is collected whole, and a daemon a command leaves behind does not hold the
/// collecting pipe open.
@Suite("Shell (cxdp_spawn, cxdp_run)")
struct ShellTests {
    /// Runs `body` on a new thread that blocks SIGINT and SIGTERM, as the test runner's
    /// and the agent's threads do, and waits for it.
    static func onThreadBlockingSIGTERM<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let box = Box<T>(), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGTERM)
            sigaddset(&blocked, SIGINT)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            box.value = body()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    final class Box<T>: @unchecked Sendable { var value: T? }

    @Test func aChildSpawnedFromAThreadBlockingSIGTERMStopsOnIt() throws {
        let pid = try Self.onThreadBlockingSIGTERM { Result { try Shell.spawn(["sleep", "30"], logPath: "/dev/null") } }.get()
        #expect(kill(pid, SIGTERM) == 0)
        #expect(Shell.wait(pid) == 128 + SIGTERM, "the child ignored SIGTERM: it inherited the blocked mask")
        // The same for run: the command signals itself.
        let result = Self.onThreadBlockingSIGTERM { Shell.run(["sh", "-c", "kill -TERM $$; sleep 5; echo survived"]) }
        #expect(result.status == 128 + SIGTERM && !result.output.contains("survived"), "\(result)")
    }

    @Test func runCollectsStdoutAndStderrWholeAndGivesTheExitStatus() {
        let result = Shell.run(["sh", "-c", "yes x | head -n 100000 | tr -d '\\n'; echo; echo to-stderr >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.output.hasPrefix(String(repeating: "x", count: 100_000) + "\n"))
        #expect(result.output.hasSuffix("to-stderr\n"))
        #expect(Shell.run(["xdpswitch-no-such-command"]).status == -1)
    }

    @Test func aDaemonLeftBehindDoesNotHoldRunsOutput() throws {
        // The command starts a background sleeper (its output elsewhere), then exits: run
        // returns at its exit. Were the pipe not close-on-exec, the sleeper would inherit
        // its write end under the original descriptor number and hold it open for 20 s.
        let marker = "/tmp/xdpswitch-shelltest-\(getpid())"
        defer { unlink(marker); unlink(marker + ".done") }
        let result = Shell.run(["sh", "-c", "(sleep 20; touch \(marker).done) >/dev/null 2>&1 & echo $! > \(marker); echo started"])
        #expect(result.status == 0 && result.output == "started\n")
        #expect(access(marker + ".done", F_OK) != 0, "run returned only after the daemon had ended")
        let text = try String(contentsOfFile: marker, encoding: .utf8)
        if let daemon = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(daemon, SIGKILL) }
    }
}
