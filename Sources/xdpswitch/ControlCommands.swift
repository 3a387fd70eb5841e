import ArgumentParser
import XDPSwitch

/// `--control PATH`, for the verbs that talk to a running `xdpswitch run`.
struct ControlOption: ParsableArguments {
    @Option(name: .long, help: "The running switch's control socket.")
    var control: String = ControlSocket.defaultPath

    /// Sends the command and prints its output; a failure exits 1 with the message.
    func run(_ command: String, _ arguments: [String] = []) throws {
        try Self.run(command, arguments, control: control)
    }

    /// `run` for a verb whose `--control` is an option of its own (`show --control`): a
    /// `ControlOption` made by hand has no parsed value to read.
    static func run(_ command: String, _ arguments: [String] = [], control: String) throws {
        let reply: ControlSocket.Reply
        do {
            reply = try ControlSocket.send(ControlSocket.Request(command: command, arguments: arguments), to: control)
        } catch {
            throw CommandFailure("\(error)")
        }
        guard reply.ok else { throw CommandFailure(reply.output) }
        print(reply.output, terminator: reply.output.hasSuffix("\n") || reply.output.isEmpty ? "" : "\n")
    }
}

extension CommandConfiguration {
    /// The configuration of the verb that sends control command `command` (default: the
    /// verb's own name): its abstract is the command's summary in `SwitchControl.registry`,
    /// so the CLI's help and the socket's `list-commands` say the same thing.
    static func control(_ verb: String, command: String? = nil, discussion: String = "") -> CommandConfiguration {
        let summary = SwitchControl.registry[command ?? verb]?.summary ?? ""
        return CommandConfiguration(commandName: verb, abstract: summary.prefix(1).uppercased() + summary.dropFirst() + ".",
                                    discussion: discussion)
    }
}

/// `xdpswitch list-commands`: every command the running switch's control socket answers,
/// like `ovs-appctl list-commands`.
struct ListCommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-commands", abstract: "List the commands the running switch's control socket answers.",
        discussion: "Each command's usage and summary, from the switch's command registry (xdpswitch CMD --help for the verbs).")
    @OptionGroup var control: ControlOption
    func run() throws { try control.run(ControlCommandRegistry.listCommands) }
}

/// `xdpswitch stats`: per-port counters of the running switch.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("stats")
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("stats") }
}

/// `xdpswitch fdb-show BRIDGE`: the MAC learning table, like `ovs-appctl fdb/show`.
struct FDBShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("fdb-show", command: "fdb/show")
    @Argument(help: "The bridge.") var bridge: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("fdb/show", [bridge]) }
}

/// `xdpswitch reload`: the running `xdpswitch run` re-reads its configuration file and
/// applies it without restarting (ports, flows, security groups, routers, DHCP).
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration.control("reload")
    @OptionGroup var control: ControlOption
    func run() throws { try control.run(SwitchControl.reload) }
}
