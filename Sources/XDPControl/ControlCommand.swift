import XDPDatapath

/// One command of the control socket, in the manner of Open vSwitch's unixctl commands:
/// its name, its arguments as usage text, a one-line summary and the handler.
///
/// The usage text is the single source of the argument rules: `BRIDGE` is a required
/// argument, `[FLOW]` an optional one, `[--strict]` a flag; the registry refuses a
/// request with the wrong number of arguments (`usage: del-flows BRIDGE [FLOW] [--strict]`)
/// before the handler runs. The CLI's help for the verb is the summary.
public struct ControlCommand: Sendable {
    /// What the handler is given: the datapath (on the thread that owns it), the time on
    /// that thread's clock, the arguments without the flags, and the flags present.
    public struct Invocation {
        /// The datapath; the handler runs on the thread that owns it.
        public let datapath: Datapath
        /// The time on the owning thread's clock.
        public let now: DatapathInstant
        /// The request's arguments, flags removed, in order; their count is within the
        /// command's `argumentCount`.
        public let arguments: [String]
        /// The declared flags the request carried (`--strict`).
        public let flags: Set<String>
    }

    /// A refusal with a message of the handler's own (the reply's output).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The message, shown as is.
        public var description: String
        /// A refusal saying `message`.
        public init(_ message: String) { description = message }
    }

    /// The handler: the command's output, or a thrown error whose description is the
    /// failure's message. Any error type will do (handlers rethrow the datapath's own:
    /// `FlowSyntaxError`, `Datapath.TraceError`, ...): `ControlCommandRegistry.handle`
    /// turns it into a failure reply, so nothing a handler throws reaches a caller.
    public typealias Handler = @Sendable (Invocation) throws -> String

    /// The command's name, as clients send it (`dump-flows`, `fdb/show`).
    public let name: String
    /// The arguments as usage text (`BRIDGE [FLOW] [--strict]`), empty for none.
    public let arguments: String
    /// What the command does, in one line (`xdpswitch --help` shows it).
    public let summary: String
    /// How many arguments (flags excluded) the usage text allows.
    public let argumentCount: ClosedRange<Int>
    /// The flags the usage text declares (`[--strict]` → `--strict`).
    public let flags: Set<String>
    /// Runs the command.
    public let handler: Handler

    /// A command named `name` taking `arguments` (usage text: `WORD` required, `[WORD]`
    /// optional, `[--flag]` a flag), summarised by `summary`, run by `handler`.
    public init(_ name: String, _ arguments: String = "", summary: String, handler: @escaping Handler) {
        self.name = name
        self.arguments = arguments
        self.summary = summary
        self.handler = handler
        var required = 0, optional = 0
        var flags: Set<String> = []
        for word in arguments.split(separator: " ") {
            if word.hasPrefix("[--") && word.hasSuffix("]") {
                flags.insert(String(word.dropFirst().dropLast()))
            } else if word.hasPrefix("[") {
                optional += 1
            } else {
                required += 1
            }
        }
        self.flags = flags
        argumentCount = required...(required + optional)
    }

    /// `NAME ARGUMENTS`, as a usage line says it.
    public var usage: String { arguments.isEmpty ? name : "\(name) \(arguments)" }
}
