#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Dispatch
import Foundation
import Logging
import Synchronization
import XDPSwitch

/// `xdpswitch run --config FILE`: attach to the configuration's `system` ports and
/// forward until SIGINT or SIGTERM, then detach. Every setup error is one line naming
/// the interface and the cause, and nothing stays attached.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Forward traffic between the configuration's system ports with AF_XDP until SIGINT/SIGTERM.")

    @Option(name: .long, help: "The YAML configuration (docs/configuration.md).")
    var config: String

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup var metrics: MetricsOptions

    @OptionGroup var logging: LoggingOptions

    @Option(name: .long, help: "Print interface counters every N seconds (0: only at exit).")
    var statsInterval: Int = 0

    @Option(name: .long, help: ArgumentHelp(
        "Where the connection trackers keep their connections, so a restarted switch adopts them (docs/operations.md); default: the control socket's path + .state; none: not kept.",
        valueName: "DIR|none"))
    var stateDir: String?

    @Flag(name: .long, help: "Discard the connections a previous run left in the state directory, and the fast path it left pinned.")
    var fresh = false

    @Option(name: .long, help: ArgumentHelp(
        "With --fast-path on and a state directory: on SIGTERM/SIGINT keep the XDP program, its links and maps pinned (cached flows keep moving until the next run adopts them) or detach them all (the default; docs/operations.md).",
        valueName: "keep|detach"))
    var onExit: String = FastPathPinning.ExitAction.detach.rawValue

    /// The state directory the flags name, nil for `none`.
    var stateDirectory: String? {
        let directory = stateDir ?? engineOptions.control + ".state"
        return directory == "none" ? nil : directory
    }

    func run() throws {
        var options = try engineOptions.engineConfiguration()
        guard let exitAction = FastPathPinning.ExitAction(rawValue: onExit) else {
            throw CommandFailure("--on-exit \(onExit): expected keep or detach")
        }
        let control = engineOptions.control
        let metricsEndpoint = try metrics.endpoint()
        try logging.bootstrap()
        let log = Logger(label: "xdpswitch")
        // The flags are checked first, then the configuration is read.
        var loaded: SwitchConfiguration
        do { loaded = try SwitchConfiguration.load(path: config) } catch { throw CommandFailure("\(error)") }
        loaded.datapath.stateDirectory = stateDirectory
        if let directory = stateDirectory {
            if fresh { Self.removeStateFiles(in: directory) }
            // Made here too for a configuration without conntrack (learned.state only).
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
            // The fast path's program and maps outlive the process there (docs/operations.md),
            // unless another switch runs with this directory: its pins are not ours to take.
            let pins = FastPathPinning(directory: FastPathPinning.directory(forStateDirectory: directory), onExit: exitAction)
            if Self.lockPins(stateDirectory: directory) {
                if fresh { FastPathPinning.remove(directory: pins.directory) }
                options.fastPathPinning = pins
            } else {
                printLine("xdpswitch: fast path: \(directory) is in use by another switch; its pins are left alone")
            }
        }

        // Block the stop signals before the worker exists so only sigwait sees them.
        var signals = StopSignals.block()

        let engine: AFXDPEngine
        do {
            engine = try AFXDPEngine(configuration: loaded, options: options)
            try engine.start()
        } catch {
            throw CommandFailure("\(error)")
        }
        // Before the first packet: what the state files gave (adopted, or refused and why),
        // and what the previous run had learned (MAC entries, neighbours). Printed once the
        // control socket and metrics are up too, so that a refusal of either is one line.
        var reports = engine.perform({ datapath, _ in datapath.stateReports }) ?? []
        let learnedFile = stateDirectory.map(AFXDPEngine.learnedStatePath(inStateDirectory:))
        if let learnedFile, let report = engine.restoreLearnedState(from: learnedFile) { reports.append(report) }
        // The fast path left pinned by the previous run: adopted with the learned state back.
        reports += engine.fastPathPinningReports
        if let adopted = engine.adoptFastPath() { reports.append(adopted) }
        let described = engine.attachments.map { a in
            var text = "\(a.interface) (\(a.mode), \(a.queues) queue\(a.queues == 1 ? "" : "s"), \(a.zeroCopy ? "zero-copy" : "copy"))"
            if let replaced = a.replaced { text += " replacing stale XDP program \(replaced)" }
            return text
        }
        let server: ControlServer
        do {
            server = try ControlServer(path: control) { [engine, config] request in
                if request.command == SwitchControl.reload {
                    return request.arguments.isEmpty ? Self.reload(engine, path: config) : .failure("usage: reload")
                }
                return engine.answerControlRequest(request)
            }
        } catch {
            engine.close()
            throw CommandFailure("\(error)")
        }
        defer { server.close() }
        let exporter: MetricsHTTPServer?
        do { exporter = try metrics.start(metricsEndpoint) { engine } } catch { engine.close(); throw error }
        defer { exporter?.close() }
        for line in reports { printLine("xdpswitch: " + line) }
        log.notice("""
            forwarding on \(described.joined(separator: ", ")); control socket \(control)\
            \(exporter.map { "; metrics \($0.url)" } ?? ""); SIGINT or SIGTERM stops
            """)

        // Every second: a snapshot of what was learned (learned.state); every
        // `statsInterval` seconds: the counters.
        var received: Int32 = 0
        var seconds = 0
        while true {
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            let s = sigtimedwait(&signals, nil, &timeout)
            if s > 0 { received = s; break }
            seconds += 1
            if let learnedFile { engine.saveLearnedState(to: learnedFile) }
            if statsInterval > 0 && seconds % statsInterval == 0 { printStatistics(engine.statistics(), log) }
        }
        let attached = engine.attachments.count
        engine.close()
        _ = engine.perform { datapath, _ in datapath.markStateFilesClosed() }
        if let learnedFile { engine.saveLearnedState(to: learnedFile) }
        let stats = engine.statistics()
        printStatistics(stats, log)
        if engine.leftFastPathPinned, let pins = options.fastPathPinning {
            log.notice("\(StopSignals.name(received)): left the fast path pinned on \(attached) interface(s) in \(pins.directory) (--on-exit keep)")
        } else {
            log.notice("\(StopSignals.name(received)): detached from \(attached) interface(s)")
        }
    }

    /// `reload`: reads the configuration file again and brings the engine to it
    /// (`AFXDPEngine.reconfigure`), on the control socket's thread; the reply is the summary of
    /// what changed, or the refusal (nothing changed then).
    static func reload(_ engine: AFXDPEngine, path: String) -> ControlSocket.Reply {
        let loaded: SwitchConfiguration
        do { loaded = try SwitchConfiguration.load(path: path) } catch { return .failure("\(error)") }
        let result = ReloadResult()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let summary = try await engine.reconfigure(to: loaded)
                result.reply.withLock { $0 = .success("\(summary)\n") }
            } catch {
                result.reply.withLock { $0 = .failure("\(error)") }
            }
            done.signal()
        }
        done.wait()
        return result.reply.withLock { $0 } ?? .failure("reload: no result")
    }

    /// Takes `<stateDirectory>/pins.lock` (flock, held until the process ends): false when
    /// another process holds it.
    static func lockPins(stateDirectory: String) -> Bool {
        let fd = open(stateDirectory + "/pins.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return true }   // nothing to coordinate with
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return false
        }
        return true   // the descriptor stays open: the lock is the process's
    }

    /// `--fresh`: removes the `*.state` files of `directory` (a missing directory is fine).
    static func removeStateFiles(in directory: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".state") { unlink(directory + "/" + name) }
        }
    }

    private func printStatistics(_ stats: EngineStatistics, _ log: Logger) {
        for i in stats.interfaces {
            let drops = i.drops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let fastPath = i.fastPathRxPackets + i.fastPathTxPackets > 0
                ? " fast-path rx \(i.fastPathRxPackets) tx \(i.fastPathTxPackets)" : ""
            log.info("\(i.name): rx \(i.rxPackets) tx \(i.txPackets)\(fastPath) kicks \(i.txKicks) wakeups \(i.rxWakeups)\(drops.isEmpty ? "" : " drops: \(drops)")")
        }
        log.info("\(stats.frames)")
        if stats.framesDroppedWithoutSocket > 0 {
            log.info("frames dropped while no socket (the daemon away): \(stats.framesDroppedWithoutSocket)")
        }
    }
}

/// The reply of a `reload`, handed from its task to the control socket's thread.
private final class ReloadResult: Sendable {
    let reply = Mutex<ControlSocket.Reply?>(nil)
}

/// Set when a write to stdout failed with EPIPE (the reader is gone; SIGPIPE ignored).
let standardOutputClosed = Atomic<Bool>(false)

/// Writes one line to stdout and flushes (the command may be killed right after).
func printLine(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && errno == EPIPE { standardOutputClosed.store(true, ordering: .relaxed) }
        if n <= 0 { return }
        offset += n
    }
}
