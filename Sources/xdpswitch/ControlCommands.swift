import ArgumentParser
import XDPSwitch

/// `--control PATH`, for the verbs that talk to a running `xdpswitch run`.
struct ControlOption: ParsableArguments {
    @Option(name: .long, help: "The running switch's control socket.")
    var control: String = ControlSocket.defaultPath

    /// Sends the command and prints its output; a failure exits 1 with the message.
    func run(_ command: String, _ arguments: [String] = []) throws {
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

/// `xdpswitch stats`: per-port counters of the running switch.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Per-port counters and drop reasons of the running switch.")
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("stats") }
}

/// `xdpswitch fdb-show BRIDGE`: the MAC learning table, like `ovs-appctl fdb/show`.
struct FDBShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdb-show", abstract: "The MAC learning table of a bridge of the running switch (ovs-appctl fdb/show).")
    @Argument(help: "The bridge.") var bridge: String
    @OptionGroup var control: ControlOption
    func run() throws { try control.run("fdb/show", [bridge]) }
}
