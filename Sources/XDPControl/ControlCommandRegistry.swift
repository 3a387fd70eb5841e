import XDPDatapath

/// The commands a control socket answers, by name, like Open vSwitch's unixctl registry:
/// each registered once with its usage and summary, which the help text
/// (`list-commands`, the CLI's verbs) is built from, and dispatched by name.
///
/// `SwitchControl.registry` holds the switch's commands; an embedding program copies it
/// and registers its own before serving it with `ControlServer`.
public struct ControlCommandRegistry: Sendable {
    /// The commands, in registration order.
    public private(set) var commands: [ControlCommand] = []
    private var index: [String: Int] = [:]

    /// An empty registry (it still answers `list-commands`).
    public init() {}

    /// A registry holding `commands`, in that order; a name given twice is a programming
    /// error (it traps).
    public init(_ commands: [ControlCommand]) {
        for command in commands { register(command) }
    }

    /// Adds `command`. Registering a name twice (or `list-commands`) is a programming
    /// error: it traps, as two handlers for one name would leave one unreachable.
    public mutating func register(_ command: ControlCommand) {
        precondition(index[command.name] == nil && command.name != Self.listCommands,
                     "control command \(command.name) registered twice")
        index[command.name] = commands.count
        commands.append(command)
    }

    /// The command named `name`, nil when none is registered.
    public subscript(name: String) -> ControlCommand? { index[name].map { commands[$0] } }

    /// The built-in command that lists the others (as `ovs-appctl list-commands`).
    public static let listCommands = "list-commands"

    /// Every command's usage and summary, one per line, aligned, as `list-commands`
    /// answers and `xdpswitch help` shows.
    public var helpText: String {
        let width = commands.map(\.usage.count).max() ?? 0
        return "The available commands are:\n" + commands.map { command in
            "  " + command.usage + String(repeating: " ", count: width - command.usage.count + 2) + command.summary + "\n"
        }.joined()
    }

    /// Runs `request` on `datapath`: on the thread that owns the datapath (the engine's
    /// worker, through `AFXDPEngine.perform`), at `now` on that thread's clock.
    /// An unknown command, a wrong argument count or a handler's error is a failure reply.
    public func handle(_ request: ControlSocket.Request, datapath: Datapath, now: DatapathInstant) -> ControlSocket.Reply {
        if request.command == Self.listCommands { return .success(helpText) }
        guard let command = self[request.command] else { return .failure("unknown command \"\(request.command)\"") }
        let flags = Set(request.arguments.filter { command.flags.contains($0) })
        let arguments = request.arguments.filter { !command.flags.contains($0) }
        guard command.argumentCount.contains(arguments.count) else { return .failure("usage: \(command.usage)") }
        do {
            return .success(try command.handler(.init(datapath: datapath, now: now, arguments: arguments, flags: flags)))
        } catch {
            return .failure("\(error)")
        }
    }
}
