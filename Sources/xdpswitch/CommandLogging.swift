// The command's log: swift-log's `Logger`, one line per event on standard output.
//
// A line is `TIME LEVEL LABEL: MESSAGE [key=value ...]`, e.g.
//   2026-01-02T03:04:05.678Z notice xdpswitch.agent: revision 12 applied: 1 network(s) ...
// TIME is UTC with milliseconds; the metadata, sorted by key, follows the message. Each line
// is written with one write(2), unbuffered, so lines of several threads never interleave
// and a reader of a pipe (a test, systemd's journal) sees an event when it happens.
// `--log-level` sets the least level written (default info).
//
// Only events are logged: the engine starting, stopping, an agent's revision applied, the
// server lost or found; the API server and the metadata proxies log one line per request
// (5xx at error, the rest at info). Nothing is logged per packet: the datapath counts, and
// the metrics endpoint exposes the counts.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Logging
import Synchronization

/// `--log-level`, for the verbs that run something (run, agent, server, agent metadata-proxy).
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"),
            help: ArgumentHelp("Least level logged: trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    var logLevel: String = "info"

    /// Bootstraps swift-log with `LineLogHandler` at the level asked (once per process).
    func bootstrap() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CommandFailure("--log-level \(logLevel): expected trace, debug, info, notice, warning, error or critical")
        }
        LineLogHandler.bootstrap(level: level)
    }
}

/// A `LogHandler` writing one line per event to standard output (see the top of the file).
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let level = Mutex<Logger.Level>(.info)
    private static let bootstrapped: Void = {
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, logLevel: LineLogHandler.level.withLock { $0 }) }
    }()

    /// Makes every `Logger` of the process a `LineLogHandler` at `level`.
    static func bootstrap(level: Logger.Level) {
        self.level.withLock { $0 = level }
        _ = bootstrapped
    }

    func log(event: LogEvent) {
        var line = Self.timestamp() + " \(event.level) \(label): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        printLine(line)
    }

    /// Now, UTC, to the millisecond: `2026-01-02T03:04:05.678Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millis = now.tv_nsec / 1_000_000
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}
