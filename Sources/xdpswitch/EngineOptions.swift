#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import XDPSwitch

/// The engine's flags and the control socket, shared by the verbs that run an engine
/// (`xdpswitch run`, `xdpswitch agent`). Checked before any set-up.
struct EngineOptions: ParsableArguments {
    @Option(name: .long, help: "Idle behaviour: poll (sleep in poll(), no CPU when idle) or busy-poll.")
    var idle: String = "poll"

    @Option(name: .long, help: "XDP attach mode: auto (native, else generic), native or generic.")
    var xdpMode: String = "auto"

    @Option(name: .long, help: ArgumentHelp("Pin the worker thread to this CPU (one this process may run on, or any: not pinned, the default).", valueName: "cpu|any"))
    var cpu: CPUChoice?

    @Option(name: .long, help: "Entries of every AF_XDP ring (a power of two, 64-16384; default 4096).")
    var ringSize: Int?

    @Option(name: .long, help: ArgumentHelp("In-kernel fast path: the XDP program forwards learned unicast, established connections through security-group tables and connections routers forward (NAT included) that the datapath already decided (dump-fastpath lists it). Default off.", valueName: "on|off"))
    var fastPath: String?

    @Option(name: .long, help: "The control socket for dump-flows, add-flow, fdb/show... (mode 0600).")
    var control: String = ControlSocket.defaultPath

    /// The engine's configuration from the flags, or the flag at fault.
    func engineConfiguration() throws -> EngineConfiguration {
        var options = EngineConfiguration()
        guard let idleMode = EngineConfiguration.IdleMode(rawValue: idle) else {
            throw CommandFailure("--idle \(idle): expected poll or busy-poll")
        }
        guard let mode = XDPAttachMode(rawValue: xdpMode) else {
            throw CommandFailure("--xdp-mode \(xdpMode): expected auto, native or generic")
        }
        options.idle = idleMode
        options.attachMode = mode
        options.cpu = try cpuOption(cpu, flag: "--cpu")
        if let ringSize { options.ringSize = try ringSizeOption(ringSize) }
        switch fastPath {
        case nil: break
        case "on": options.fastPath = true
        case "off": options.fastPath = false
        case let other?: throw CommandFailure("--fast-path \(other): expected on or off")
        }
        return options
    }
}

/// The signals that stop a running engine.
enum StopSignals {
    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread — call it before any other
    /// thread exists, so that threads started later inherit the mask and only `wait` sees them.
    static func block() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        return signals
    }

    /// The signal's name for the exit line.
    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}
